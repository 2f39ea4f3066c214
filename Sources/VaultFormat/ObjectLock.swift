public import Foundation
public import VaultCore
public import VaultStorage

/// Server-enforced protection on storages that implement `RetentionEnforcing` (S3 Object
/// Lock); on other storages every function here does nothing.
///
/// `Vault.open` / `Vault.create` wrap such a storage in a `LockingStorage`, which gives every
/// write-once record its lock as it is written, while immutability is unlocked (GOVERNANCE)
/// or locked (COMPLIANCE):
/// - `points/<id>.json`: the manifest's retain-until;
/// - `state/<id>/<seq>.json`: the state's retain-until, and a legal hold while the point is held;
/// - `chunks/…`: the retain-until of the point being written (`ObjectLock.forChunks`), and a
///   chunk that already exists is extended before the manifest is written (`extendChunk`);
/// - `audit/<seq>.json`: now + the default retention, or the retain-until the record names if
///   that is later;
/// - `settings/<seq>.json`: now + the default retention.
/// Leases (`locks/`), job records and `vault.json` are never locked.
public enum ObjectLock {
    /// Extends a chunk that the point being written reuses (the "already exists" path of
    /// `ChunkStore.store`), so it is kept at least as long as that point.
    public static func extendChunk(_ storage: any Storage, key: String) throws {
        guard let s = storage as? LockingStorage, let until = s.chunkUntil, let mode = try s.lockMode(),
              until > Date() else { return }
        try s.base.extendRetention(key: key, until: until, mode: mode)
    }

    /// Extends one object's lock to `until` (while immutability is on).
    static func extendKey(_ storage: any Storage, key: String, until: Date) throws {
        guard let s = storage as? LockingStorage, let mode = try s.lockMode(), until > Date() else { return }
        try s.base.extendRetention(key: key, until: until, mode: mode)
    }

    /// The storage to write a point's chunks through: chunks get `until` as retain-until.
    public static func forChunks(_ storage: any Storage, until: Date?) -> any Storage {
        guard let s = storage as? LockingStorage else { return storage }
        return LockingStorage(base: s.base, chunkUntil: until, shared: s.shared)
    }

    /// The storage to write the manifest of a point retained until `until` through (its
    /// `retainUntil`): the manifest's lock is then known before its bytes, and a large one is
    /// sent to S3 as it is encoded instead of gathered first.
    public static func forManifest(_ storage: any Storage, until: Date?) -> any Storage {
        guard let s = storage as? LockingStorage else { return storage }
        return LockingStorage(base: s.base, chunkUntil: s.chunkUntil, manifestUntil: until, shared: s.shared)
    }

    /// The storage that keeps object versions and enforces retention under `storage` (itself,
    /// or the base of a locking view); nil for one that does not (a filesystem, memory).
    static func versioned(_ storage: any Storage) -> (any RetentionEnforcing)? {
        (storage as? LockingStorage)?.base ?? (storage as? any RetentionEnforcing)
    }

    /// Refuses immutability on a bucket without Object Lock (called before the setting changes).
    public static func requireSupport(_ storage: any Storage) throws {
        guard let base = versioned(storage) else { return }
        guard try base.objectLockEnabled() else {
            throw VaultError(.storage,
                "Immutability on an S3 vault needs a bucket with Object Lock enabled, and the bucket of \(storage.location) does not have it (Object Lock can only be turned on when a bucket is created). Create a new bucket with Object Lock, e.g. `aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket` (or `pgvault init s3://NAME/prefix --create-bucket`), and put the vault there.",
                location: storage.location)
        }
    }

    /// `retain`: extends the lock of the point's manifest, state records and chunks to `until`
    /// (before the new state record is written).
    public static func extend(vault: Vault, point id: String, until: Date) throws {
        guard let s = vault.storage as? LockingStorage, let mode = try s.lockMode(), until > Date() else { return }
        try s.base.extendRetention(key: Vault.pointKey(id), until: until, mode: mode)
        for o in try s.base.list(prefix: VaultControl.statePrefix(id) + "/") {
            try s.base.extendRetention(key: o.key, until: until, mode: mode)
        }
        try forEachChunkBatch(vault.storage, point: id) { ids in
            try parallel(ids) { try s.base.extendRetention(key: ChunkCodec.key(for: $0), until: until, mode: mode) }
        }
    }

    /// `hold set` / `hold clear`: S3 legal hold on the point's manifest, state records and
    /// chunks. Clearing leaves the hold on the chunks that another held point needs: those are
    /// marked by their ids' first 64 bits (`ChunkIdSet`, as garbage collection marks), which can
    /// only err towards leaving a hold on.
    public static func legalHold(control: VaultControl, point id: String, on: Bool) throws {
        guard let s = control.vault.storage as? LockingStorage, try s.bucketLocks() else { return }
        var keep = ChunkIdSet()
        if !on {
            for v in try control.pointViews() where v.id != id && v.state.isHeld {
                _ = try ManifestCodec.decode(control.vault.storage, key: Vault.pointKey(v.id)) { _, batch in
                    for c in batch { keep.insert(objectsOf: c) }
                }
            }
        }
        try s.base.applyLegalHold(key: Vault.pointKey(id), on: on)
        for o in try s.base.list(prefix: VaultControl.statePrefix(id) + "/") {
            try s.base.applyLegalHold(key: o.key, on: on)
        }
        try forEachChunkBatch(control.vault.storage, point: id) { ids in
            try parallel(on ? ids : ids.filter { !keep.contains($0) }) { try s.base.applyLegalHold(key: ChunkCodec.key(for: $0), on: on) }
        }
    }

    /// What garbage collection did to object versions and unfinished uploads.
    public struct Sweep: Sendable, Equatable {
        public var versionsRemoved = 0
        public var versionsLocked = 0
        public var uploadsAborted = 0
    }

    /// The end of garbage collection on a versioned storage: removes noncurrent versions and
    /// spent delete markers of chunks, manifests, state records and leases whose lock has
    /// ended, and aborts multipart uploads older than the grace period.
    public static func sweepVersions(_ storage: any Storage, olderThan cutoff: Date) throws -> Sweep? {
        guard let base = versioned(storage) else { return nil }
        var out = Sweep()
        for prefix in ["chunks/", "points/", "state/", "locks/", "catalog/"] {
            let r = try base.removeNoncurrentVersions(prefix: prefix, olderThan: cutoff)
            out.versionsRemoved += r.removed
            out.versionsLocked += r.locked
        }
        out.uploadsAborted = try base.abortUploads(prefix: "", olderThan: cutoff)
        return out
    }

    /// The ids of the objects point `id`'s chunks need (each chunk and every link of its
    /// chain), a batch at a time while its manifest is read, never its whole list (a 1 TiB
    /// point with 11-deep chains needs ~7 million). An id is given once a batch; it may come
    /// again in a later batch, so `body` must be idempotent (locks and holds are).
    static func forEachChunkBatch(_ storage: any Storage, point id: String, _ body: @escaping ([String]) throws -> Void) throws {
        _ = try ManifestCodec.decode(storage, key: Vault.pointKey(id)) { _, batch in
            var seen = Set<String>()
            var ids: [String] = []
            for c in batch { for o in c.objectIds where seen.insert(o).inserted { ids.append(o) } }
            try body(ids)
        }
    }

    /// Runs `body` over `items` on up to 8 threads; rethrows the first error.
    static func parallel<Item: Sendable>(_ items: [Item], _ body: @Sendable @escaping (Item) throws -> Void) throws {
        if items.isEmpty { return }
        let failure = Locked<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: min(8, items.count)) { worker in
            var i = worker
            while i < items.count {
                if failure.get() != nil { return }
                do { try body(items[i]) } catch { failure.withLock { $0 = $0 ?? error } }
                i += 8
            }
        }
        if let e = failure.get() { throw e }
    }
}

/// A `RetentionEnforcing` storage seen through the vault's protection settings: create-only
/// writes of protected records get their Object Lock retention (and legal hold) in the same
/// PUT. Everything else passes through unchanged.
public final class LockingStorage: RetentionEnforcing, @unchecked Sendable {
    public let base: any RetentionEnforcing
    /// Retain-until for chunks written through this view (the point being written).
    let chunkUntil: Date?
    /// Retain-until of the manifest written through this view (`ObjectLock.forManifest`), so
    /// that it can be sent as it is encoded: otherwise the lock is read from the manifest's
    /// bytes, which must then be held whole first.
    let manifestUntil: Date?
    let shared: Shared

    /// What all views of one vault share: the settings (re-read every 30 s) and whether the
    /// bucket has Object Lock.
    final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var settings: (ProtectionSettings, Date)?
        var bucketLocks: Bool?
    }

    init(base: any RetentionEnforcing, chunkUntil: Date? = nil, manifestUntil: Date? = nil, shared: Shared = Shared()) {
        self.base = base
        self.chunkUntil = chunkUntil
        self.manifestUntil = manifestUntil
        self.shared = shared
    }

    /// Wraps a retention-enforcing storage once; returns any other storage unchanged.
    public static func wrap(_ storage: any Storage) -> any Storage {
        if storage is LockingStorage { return storage }
        guard let r = storage as? any RetentionEnforcing else { return storage }
        return LockingStorage(base: r)
    }

    public var location: String { base.location }

    func settings() throws -> ProtectionSettings {
        shared.lock.lock()
        if let (s, at) = shared.settings, Date().timeIntervalSince(at) < 30 { shared.lock.unlock(); return s }
        shared.lock.unlock()
        let s = try Series(storage: base, prefix: "settings").current(ProtectionSettings.self)?.value ?? .defaults
        remember(s)
        return s
    }

    private func remember(_ s: ProtectionSettings) {
        shared.lock.lock(); shared.settings = (s, Date()); shared.lock.unlock()
    }

    /// The Object Lock mode new records get: nil while immutability is disabled.
    func lockMode() throws -> ObjectLockMode? {
        switch try settings().immutability {
        case .disabled: return nil
        case .unlocked: return .governance
        case .locked: return .compliance
        }
    }

    func bucketLocks() throws -> Bool {
        shared.lock.lock()
        if let b = shared.bucketLocks { shared.lock.unlock(); return b }
        shared.lock.unlock()
        let b = try base.objectLockEnabled()
        shared.lock.lock(); shared.bucketLocks = b; shared.lock.unlock()
        return b
    }

    /// The lock a new record gets: (retention, legal hold).
    func lockFor(_ key: String, _ data: Data) throws -> (ObjectRetention?, Bool) {
        let now = Date()
        var settings = try settings()
        var until: Date?
        var hold = false
        if key.hasPrefix("chunks/") {
            until = chunkUntil
        } else if key.hasPrefix("points/") {
            // The summary only: a 1 TiB point's manifest is ~1 GB of JSON, its chunk entries
            // need not be decoded (nor the JSON held whole) to learn its retain-until.
            until = (try? ManifestCodec.decodeSummary(data, what: key))?.manifest.retainUntil
        } else if key.hasPrefix("state/") {
            if let st = try? VaultJSON.decode(PointState.self, from: data, what: key) {
                until = st.retainUntil
                hold = st.isHeld
            }
        } else if key.hasPrefix("audit/") {
            until = settings.defaultRetention.end(from: now)
            if let stored = try? VaultJSON.decode(AuditLog.Stored.self, from: data, what: key),
               let entry = try? VaultJSON.decode(AuditEntry.self, from: Data(stored.body.utf8), what: key) {
                for k in ["retainUntil", "to"] {
                    if let d = entry.details[k].flatMap(Timestamp.parse), d > (until ?? now) { until = d }
                }
            }
        } else if key.hasPrefix("settings/") {
            if let next = try? VaultJSON.decode(ProtectionSettings.self, from: data, what: key) {
                settings = next   // the new settings govern their own record
                remember(next)
            }
            until = settings.defaultRetention.end(from: now)
        } else {
            return (nil, false)
        }
        return try lock(until: until, hold: hold, settings: settings, now: now)
    }

    /// The lock for `until` and `hold` under `settings`.
    private func lock(until: Date?, hold: Bool, settings: ProtectionSettings, now: Date) throws -> (ObjectRetention?, Bool) {
        let mode: ObjectLockMode? = switch settings.immutability {
            case .disabled: nil
            case .unlocked: .governance
            case .locked: .compliance
        }
        var retention: ObjectRetention?
        if let mode, let until, until > now { retention = ObjectRetention(mode: mode, until: until) }
        return (retention, hold ? try bucketLocks() : false)
    }

    /// The lock a new record gets when it is known before its bytes: a manifest written through
    /// `ObjectLock.forManifest`, or any manifest while immutability is disabled (a manifest is
    /// never held). Nil when the bytes are needed.
    func lockBeforehand(_ key: String) throws -> (ObjectRetention?, Bool)? {
        guard key.hasPrefix("points/") else { return nil }
        let settings = try settings()
        if settings.immutability == .disabled { return (nil, false) }
        guard let manifestUntil else { return nil }
        return try lock(until: manifestUntil, hold: false, settings: settings, now: Date())
    }

    // MARK: Storage

    public func put(_ key: String, _ data: Data, mode: PutMode) throws {
        guard mode == .createOnly else { return try base.put(key, data, mode: mode) }
        let (retention, hold) = try lockFor(key, data)
        if retention == nil && !hold { return try base.put(key, data, mode: mode) }
        try base.putLocked(key, data, mode: mode, retention: retention, legalHold: hold)
    }
    public func put(_ key: String, mode: PutMode, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        guard mode == .createOnly else { return try base.put(key, mode: mode, write: write) }
        guard let (retention, hold) = try lockBeforehand(key) else { return try put(key, Data(gathering: write), mode: mode) }
        if retention == nil && !hold { return try base.put(key, mode: mode, write: write) }
        try base.putLocked(key, mode: mode, retention: retention, legalHold: hold, write: write)
    }
    public func get(_ key: String) throws -> Data { try base.get(key) }
    public func read(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws { try base.read(key, body) }
    public func exists(_ key: String) throws -> Bool { try base.exists(key) }
    public func list(prefix: String) throws -> [ObjectInfo] { try base.list(prefix: prefix) }
    public func delete(_ key: String) throws { try base.delete(key) }
    public func sync() throws { try base.sync() }

    // MARK: RetentionEnforcing (pass-through)

    public func objectLockEnabled() throws -> Bool { try bucketLocks() }
    public func putLocked(_ key: String, _ data: Data, mode: PutMode, retention: ObjectRetention?, legalHold: Bool) throws {
        try base.putLocked(key, data, mode: mode, retention: retention, legalHold: legalHold)
    }
    public func putLocked(_ key: String, mode: PutMode, retention: ObjectRetention?, legalHold: Bool,
                          write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try base.putLocked(key, mode: mode, retention: retention, legalHold: legalHold, write: write)
    }
    public func retention(key: String) throws -> ObjectRetention? { try base.retention(key: key) }
    public func setRetention(key: String, _ retention: ObjectRetention) throws { try base.setRetention(key: key, retention) }
    public func applyLegalHold(key: String, on: Bool) throws { try base.applyLegalHold(key: key, on: on) }
    public func removeNoncurrentVersions(prefix: String, olderThan: Date) throws -> VersionSweep {
        try base.removeNoncurrentVersions(prefix: prefix, olderThan: olderThan)
    }
    public func abortUploads(prefix: String, olderThan: Date) throws -> Int { try base.abortUploads(prefix: prefix, olderThan: olderThan) }
    public func hiddenObjects(prefix: String) throws -> [HiddenObject] { try base.hiddenObjects(prefix: prefix) }
    public func unhide(_ object: HiddenObject) throws { try base.unhide(object) }
}
