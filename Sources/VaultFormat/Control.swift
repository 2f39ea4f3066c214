public import Foundation
public import VaultCore
public import VaultStorage

/// A recovery point with its current mutable state.
public struct PointView: Sendable {
    /// The point's manifest without its chunk lists (`Vault.summary(of:)`).
    public var manifest: Manifest
    public var state: PointState
    /// Sequence number of the state record `state` came from (0: none yet). A change writes
    /// `stateSeq + 1` create-only, so two changes decided on the same state cannot both land.
    public var stateSeq: Int = 0
    public var id: String { manifest.id }
    public var retainUntil: Date? { state.retainUntil }
}

/// Protected changes to a vault: settings, delete / undelete, retention, holds, purge and
/// garbage collection. Every change asks `Protection.decide` first (a refusal throws
/// `.protected`, exit 11, and writes nothing), then writes its record and an audit entry.
/// `now` is injected so tests (and simulations) control time.
public struct VaultControl: Sendable {
    public let vault: Vault
    public let now: Date
    public let actor: String

    public init(vault: Vault, now: Date = Date(), actor: String = Actor.current) {
        self.vault = vault
        self.now = Timestamp.millis(now)
        self.actor = actor
    }

    var storage: any Storage { vault.storage }
    var audit: AuditLog { AuditLog(storage: storage) }

    // MARK: settings

    var settingsSeries: Series { Series(storage: storage, prefix: "settings") }

    /// The vault's protection settings (defaults until the first change).
    public func settings() throws -> ProtectionSettings {
        try settingsSeries.current(ProtectionSettings.self)?.value ?? .defaults
    }

    /// Applies the changes that the rules allow, all or nothing. Returns the new settings.
    @discardableResult
    public func changeSettings(immutability: ProtectionSettings.Immutability? = nil,
                               softDelete: ProtectionSettings.SoftDelete? = nil,
                               softDeleteDays: Int? = nil,
                               defaultRetention: RetentionPeriod? = nil) throws -> ProtectionSettings {
        let current = try settings()
        var next = current
        var ops: [ProtectedOperation] = []
        if let immutability, immutability != current.immutability { ops.append(.setImmutability(immutability)); next.immutability = immutability }
        if let softDelete, softDelete != current.softDelete { ops.append(.setSoftDelete(softDelete)); next.softDelete = softDelete }
        if let softDeleteDays, softDeleteDays != current.softDeleteDays { ops.append(.setSoftDeleteDays(softDeleteDays)); next.softDeleteDays = softDeleteDays }
        if let defaultRetention, defaultRetention != current.defaultRetention { ops.append(.setDefaultRetention(defaultRetention)); next.defaultRetention = defaultRetention }
        for op in ops { try require(op, point: nil, settings: current) }
        guard !ops.isEmpty else { return current }
        if current.immutability == .disabled && next.immutability != .disabled { try ObjectLock.requireSupport(storage) }
        try writeSettings(next, previous: current)
        return next
    }

    /// unlocked → locked, irreversible. `confirm` must be the vault id.
    @discardableResult
    public func lock(confirm: String) throws -> ProtectionSettings {
        let current = try settings()
        try require(.lock, point: nil, settings: current)
        guard confirm == vault.config.id else {
            throw VaultError(.invalidArgument,
                "Locking is irreversible: no point can then be deleted before its retain-until, retention can only grow, and immutability can never be disabled again. To confirm, pass --confirm \(vault.config.id).")
        }
        var next = current
        next.immutability = .locked
        next.lockedAt = now
        try writeSettings(next, previous: current)
        return next
    }

    private func writeSettings(_ next: ProtectionSettings, previous: ProtectionSettings) throws {
        let seq = (try settingsSeries.entries().last?.seq ?? 0) + 1
        try settingsSeries.append(try VaultJSON.encode(next), seq: seq)
        var details: [String: String] = [:]
        if next.immutability != previous.immutability { details["immutability"] = "\(previous.immutability.rawValue) -> \(next.immutability.rawValue)" }
        if next.softDelete != previous.softDelete { details["softDelete"] = "\(previous.softDelete.rawValue) -> \(next.softDelete.rawValue)" }
        if next.softDeleteDays != previous.softDeleteDays { details["softDeleteDays"] = "\(previous.softDeleteDays) -> \(next.softDeleteDays)" }
        if next.defaultRetention != previous.defaultRetention { details["defaultRetention"] = "\(previous.defaultRetention) -> \(next.defaultRetention)" }
        try audit.append(operation: next.immutability == .locked && previous.immutability != .locked ? "vault.lock" : "settings.change",
                         target: "vault", details: details, actor: actor, now: now)
        try storage.sync()
    }

    // MARK: points

    static func statePrefix(_ id: String) -> String { "state/\(id)" }

    /// Every point with its state, newest first; soft-deleted ones included. The manifests
    /// come from the catalog, without their chunk lists: what needs a point's chunks (garbage
    /// collection, holds, retention, copies, restore, verify) reads them from its manifest a
    /// batch at a time.
    public func pointViews() throws -> [PointView] {
        let manifests = try vault.summaries()
        let latestKey = try latestStateKeys()
        return try manifests.map { m in
            var state = PointState(pointId: m.id, retainUntil: m.retainUntil)
            var seq = 0
            if let (n, key) = latestKey[m.id] {
                state = try VaultJSON.decode(PointState.self, from: try storage.get(key), what: key)
                seq = n
            }
            return PointView(manifest: m, state: state, stateSeq: seq)
        }
    }

    /// Every point as `points --json` shows it (`PointSummary` of `pointViews()`,
    /// same order), handed to `body` one at a time from the catalog: for listings of large
    /// vaults, which then never hold every point's summary at once.
    public func forEachPointSummary(_ body: (PointSummary) throws -> Void) throws {
        let latestKey = try latestStateKeys()
        try CatalogIndex(vault: vault).forEachListed { summary in
            guard let (_, key) = latestKey[summary.id] else { return try body(summary) }
            var s = summary
            s.apply(try VaultJSON.decode(PointState.self, from: try storage.get(key), what: key))
            try body(s)
        }
    }

    /// The key of each point's latest state record, from one listing of state/.
    private func latestStateKeys() throws -> [String: (Int, String)] {
        var latestKey: [String: (Int, String)] = [:]
        for key in try storage.keys(prefix: "state/") {
            let parts = key.split(separator: "/")
            guard parts.count == 3, let seq = Series.sequence(of: key) else { continue }
            let id = String(parts[1])
            if (latestKey[id]?.0 ?? 0) < seq { latestKey[id] = (seq, key) }
        }
        return latestKey
    }

    public func view(_ ref: String) throws -> PointView {
        try view(of: vault.resolveSummary(ref, includeDeleted: true))
    }

    /// The view of the point whose manifest (or summary) is `m`: its state from its records.
    public func view(of m: Manifest) throws -> PointView {
        let latest = try Series(storage: storage, prefix: Self.statePrefix(m.id)).latest(PointState.self)
        return PointView(manifest: m, state: latest?.value ?? PointState(pointId: m.id, retainUntil: m.retainUntil),
                         stateSeq: latest?.seq ?? 0)
    }

    /// Writes `state` as the record after `view`'s: fails with `.busy` when another process
    /// changed the point since `view` was read (compare-and-set on the sequence number).
    private func writeState(_ state: PointState, after view: PointView) throws {
        let series = Series(storage: storage, prefix: Self.statePrefix(state.pointId))
        do { try series.append(try VaultJSON.encode(state), seq: view.stateSeq + 1) }
        catch let e as VaultError where e.code == .objectExists {
            throw VaultError(.busy, "Another pgvault changed point \(state.pointId) at the same moment; nothing was changed. Run the command again.")
        }
    }

    /// Marks the point as being removed (a state record with `removingAt`), in the same
    /// compare-and-set way: a hold, undelete or retention change that landed since `view`
    /// was read makes this fail, and the point stays.
    func claimRemoval(_ view: PointView) throws {
        var st = view.state
        st.removingAt = now
        try writeState(st, after: view)
    }

    /// Refuses `op` when the protection rules do, or when its audit record could not be written
    /// (`AuditLog.checkWritable`): called before a change writes anything.
    func require(_ op: ProtectedOperation, point: PointState?, settings: ProtectionSettings) throws {
        try audit.checkWritable()
        if case .refused(let reason, let from, let instead) = Protection.decide(op, settings: settings, point: point, now: now) {
            var msg = "Refused: \(reason)."
            if let from { msg += " Allowed from \(Timestamp.rfc3339(from))." }
            else if instead == nil { msg += " This will never be allowed." }
            if let instead { msg += " Instead: \(instead)." }
            throw VaultError(.protected, msg, location: point?.pointId ?? "vault")
        }
    }

    public enum DeleteOutcome: Sendable, Equatable {
        case softDeleted(purgeAfter: Date)
        case removed
    }

    /// Deletes a point: soft delete when enabled (recoverable until purge), else at once.
    public func delete(_ ref: String, reason: String) throws -> DeleteOutcome {
        let v = try view(ref)
        let s = try settings()
        let decision = Protection.decide(.delete, settings: s, point: v.state, now: now)
        try require(.delete, point: v.state, settings: s)
        switch decision {
        case .allowed(.softDelete(let after)):
            var st = v.state
            st.softDeletedAt = now
            st.softDeleteDays = s.softDeleteDays
            st.deleteReason = reason
            try writeState(st, after: v)
            try audit.append(operation: "point.delete", target: v.id,
                             details: ["reason": reason, "mode": "soft", "purgeAfter": Timestamp.rfc3339(after)], actor: actor, now: now)
            try storage.sync()
            return .softDeleted(purgeAfter: after)
        default:
            try claimRemoval(v)
            try audit.append(operation: "point.delete", target: v.id, details: ["reason": reason, "mode": "hard"], actor: actor, now: now)
            try removePoint(v.id)
            return .removed
        }
    }

    public func undelete(_ ref: String) throws -> PointView {
        var v = try view(ref)
        try require(.undelete, point: v.state, settings: try settings())
        v.state.softDeletedAt = nil
        v.state.softDeleteDays = nil
        v.state.deleteReason = nil
        try writeState(v.state, after: v)
        try audit.append(operation: "point.undelete", target: v.id, actor: actor, now: now)
        try storage.sync()
        return v
    }

    /// Sets a new retain-until (only later, while immutability is on).
    public func retain(_ ref: String, until: Date) throws -> PointView {
        var v = try view(ref)
        try require(.setRetention(until), point: v.state, settings: try settings())
        let old = v.state.retainUntil
        v.state.retainUntil = Timestamp.millis(until)
        try ObjectLock.extend(vault: vault, point: v.id, until: v.state.retainUntil ?? until)   // S3: before the record
        try writeState(v.state, after: v)
        try audit.append(operation: "point.retain", target: v.id,
                         details: ["from": old.map(Timestamp.rfc3339) ?? "none", "to": Timestamp.rfc3339(until)], actor: actor, now: now)
        try storage.sync()
        return v
    }

    public func setHold(_ ref: String, reason: String) throws -> PointView {
        var v = try view(ref)
        try require(.setHold, point: v.state, settings: try settings())
        v.state.hold = PointState.Hold(reason: reason, setAt: now, setBy: actor)
        try ObjectLock.legalHold(control: self, point: v.id, on: true)   // S3 legal hold
        try writeState(v.state, after: v)
        try audit.append(operation: "hold.set", target: v.id, details: ["reason": reason], actor: actor, now: now)
        try storage.sync()
        return v
    }

    public func clearHold(_ ref: String, reason: String) throws -> PointView {
        var v = try view(ref)
        try require(.clearHold, point: v.state, settings: try settings())
        v.state.hold = nil
        try ObjectLock.legalHold(control: self, point: v.id, on: false)   // S3 legal hold
        try writeState(v.state, after: v)
        try audit.append(operation: "hold.clear", target: v.id, details: ["reason": reason], actor: actor, now: now)
        try storage.sync()
        return v
    }

    /// Removes a point: the manifest first (from then on the point does not exist), then its
    /// state records. Chunks are left to garbage collection.
    func removePoint(_ id: String) throws {
        try storage.delete(Vault.pointKey(id))
        try storage.sync()
        try storage.delete(Vault.catalogKey(id))
        for o in try storage.list(prefix: Self.statePrefix(id) + "/") { try storage.delete(o.key) }
    }
}
