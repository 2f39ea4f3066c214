public import Foundation

/// Vault-wide protection settings (the latest `settings/<seq>.json`).
public struct ProtectionSettings: Codable, Equatable, Sendable {
    public enum Immutability: String, Codable, Sendable, CaseIterable { case disabled, unlocked, locked }
    public enum SoftDelete: String, Codable, Sendable, CaseIterable {
        case disabled, enabled
        /// Like `enabled`, and can never be turned off again.
        case alwaysOn = "always-on"
    }
    public var immutability: Immutability
    /// When immutability became `locked`.
    public var lockedAt: Date?
    public var softDelete: SoftDelete
    /// Days a soft-deleted point stays recoverable before purge may remove it (14–180).
    public var softDeleteDays: Int
    /// Retention of a backup that gives no --retain.
    public var defaultRetention: RetentionPeriod

    public static let softDeleteDaysRange = 14...180

    /// What a vault has before anyone changes a setting (and what a Foundation-format vault reads as).
    public static let defaults = ProtectionSettings(immutability: .disabled, lockedAt: nil, softDelete: .enabled,
                                                    softDeleteDays: 14, defaultRetention: RetentionPeriod(count: 30, unit: .days))

    public init(immutability: Immutability, lockedAt: Date?, softDelete: SoftDelete, softDeleteDays: Int,
                defaultRetention: RetentionPeriod) {
        self.immutability = immutability; self.lockedAt = lockedAt; self.softDelete = softDelete
        self.softDeleteDays = softDeleteDays; self.defaultRetention = defaultRetention
    }

    public var protectsRetention: Bool { immutability != .disabled }
}

/// The mutable state of one recovery point (the latest `state/<point-id>/<seq>.json`);
/// the manifest itself never changes.
public struct PointState: Codable, Equatable, Sendable {
    public struct Hold: Codable, Equatable, Sendable {
        public var reason: String
        public var setAt: Date
        public var setBy: String
        public init(reason: String, setAt: Date, setBy: String) { self.reason = reason; self.setAt = setAt; self.setBy = setBy }
    }
    public var pointId: String
    /// The effective retain-until (the manifest's, or a later one set with `retain`).
    public var retainUntil: Date?
    public var softDeletedAt: Date?
    /// The soft-delete window in force when the point was deleted, in days.
    public var softDeleteDays: Int?
    public var deleteReason: String?
    public var hold: Hold?
    /// Set by purge (or a hard delete) right before it removes the point: from then on the
    /// point only goes; a purge that died half-way is finished by the next one.
    public var removingAt: Date?

    public init(pointId: String, retainUntil: Date?) { self.pointId = pointId; self.retainUntil = retainUntil }

    public var isSoftDeleted: Bool { softDeletedAt != nil }
    public var isHeld: Bool { hold != nil }

    /// When purge may remove a soft-deleted point.
    public var purgeAfter: Date? {
        guard let at = softDeletedAt, let days = softDeleteDays else { return nil }
        return at.addingTimeInterval(Double(days) * 86400)
    }
}

/// Everything that can change a point or the vault's protection.
public enum ProtectedOperation: Equatable, Sendable {
    case delete
    case undelete
    case purge
    case setRetention(Date)
    case setHold
    case clearHold
    case setImmutability(ProtectionSettings.Immutability)
    case lock
    case setSoftDelete(ProtectionSettings.SoftDelete)
    case setSoftDeleteDays(Int)
    case setDefaultRetention(RetentionPeriod)
}

public enum ProtectionDecision: Equatable, Sendable {
    public enum Effect: Equatable, Sendable {
        /// Mark soft-deleted; purge may remove it after `purgeAfter`.
        case softDelete(purgeAfter: Date)
        /// Remove the point now (soft delete is disabled).
        case remove
        case apply
    }
    case allowed(Effect)
    /// `reason` says why, `allowedFrom` when it would be allowed (if ever by waiting), and
    /// `instead` what the user could do.
    case refused(reason: String, allowedFrom: Date?, instead: String?)

    public var isAllowed: Bool { if case .allowed = self { return true }; return false }
}

/// The protection rules, as one pure function. Every command that changes a point or the
/// vault's settings asks it first; a refusal exits 11 and changes nothing.
public enum Protection {
    public static func decide(_ op: ProtectedOperation, settings s: ProtectionSettings, point: PointState?, now: Date)
        -> ProtectionDecision {
        func date(_ d: Date) -> String { Timestamp.rfc3339(d) }
        func retained(_ p: PointState) -> ProtectionDecision? {
            if s.protectsRetention, let until = p.retainUntil, now < until {
                return .refused(reason: "the point is retained until \(date(until)) and immutability is \(s.immutability.rawValue)",
                                allowedFrom: until,
                                instead: s.immutability == .locked ? nil
                                    : "an admin may first set immutability to disabled (audited): pgvault vault set --immutability disabled")
            }
            return nil
        }
        func held(_ p: PointState) -> ProtectionDecision? {
            if let h = p.hold {
                return .refused(reason: "the point is under legal hold since \(date(h.setAt)) (\(h.reason))", allowedFrom: nil,
                                instead: "clear the hold first: pgvault hold clear \(p.pointId) --reason \"...\"")
            }
            return nil
        }

        if let p = point, let at = p.removingAt {
            switch op {
            case .purge: return .allowed(.remove)   // finish what an interrupted removal began
            case .delete, .undelete, .setRetention, .setHold, .clearHold:
                return .refused(reason: "the point is being removed (since \(date(at)))", allowedFrom: nil, instead: nil)
            default: break
            }
        }
        switch op {
        case .delete:
            guard let p = point else { return .refused(reason: "no such point", allowedFrom: nil, instead: nil) }
            if p.isSoftDeleted {
                return .refused(reason: "the point is already soft-deleted (purge after \(p.purgeAfter.map(date) ?? "?"))", allowedFrom: nil,
                                instead: "pgvault undelete \(p.pointId)")
            }
            if let r = held(p) { return r }
            if let r = retained(p) { return r }
            if s.softDelete == .disabled { return .allowed(.remove) }
            return .allowed(.softDelete(purgeAfter: now.addingTimeInterval(Double(s.softDeleteDays) * 86400)))

        case .undelete:
            guard let p = point, p.isSoftDeleted else {
                return .refused(reason: "the point is not soft-deleted", allowedFrom: nil, instead: nil)
            }
            return .allowed(.apply)

        case .purge:
            guard let p = point, p.isSoftDeleted else {
                return .refused(reason: "only soft-deleted points are purged", allowedFrom: nil, instead: "pgvault delete POINT first")
            }
            guard let after = p.purgeAfter else {
                return .refused(reason: "the point's state records no soft-delete window (damaged state record)", allowedFrom: nil,
                                instead: "pgvault undelete \(p.pointId), then delete it again")
            }
            if let r = held(p) { return r }
            if now < after {
                // When retention under immutability ends later still, that is when purge may run.
                var from = after
                if s.protectsRetention, let until = p.retainUntil, until > after { from = until }
                return .refused(reason: "its soft-delete window of \(p.softDeleteDays ?? 0) days runs until \(date(after))",
                                allowedFrom: from, instead: nil)
            }
            if let r = retained(p) { return r }
            return .allowed(.remove)

        case .setRetention(let until):
            guard let p = point else { return .refused(reason: "no such point", allowedFrom: nil, instead: nil) }
            if s.protectsRetention, let current = p.retainUntil, until < current {
                return .refused(reason: "retention can only grow while immutability is \(s.immutability.rawValue) (now until \(date(current)))",
                                allowedFrom: nil,
                                instead: s.immutability == .locked ? nil : "an admin may first set immutability to disabled (audited)")
            }
            return .allowed(.apply)

        case .setHold:
            guard let p = point else { return .refused(reason: "no such point", allowedFrom: nil, instead: nil) }
            if let h = p.hold {
                return .refused(reason: "the point is already on legal hold since \(date(h.setAt)) (\(h.reason))", allowedFrom: nil, instead: nil)
            }
            return .allowed(.apply)

        case .clearHold:
            guard let p = point, p.isHeld else { return .refused(reason: "the point has no legal hold", allowedFrom: nil, instead: nil) }
            return .allowed(.apply)

        case .setImmutability(let to):
            switch (s.immutability, to) {
            case (.locked, _):
                return .refused(reason: "immutability is locked (since \(s.lockedAt.map(date) ?? "?")); a locked vault can never be unlocked or disabled",
                                allowedFrom: nil, instead: nil)
            case (.unlocked, .locked):
                return .refused(reason: "locking is its own, irreversible step", allowedFrom: nil,
                                instead: "pgvault vault lock --confirm VAULT-ID")
            case (_, .locked):
                return .refused(reason: "only an unlocked vault can be locked, and locking is its own, irreversible step", allowedFrom: nil,
                                instead: "pgvault vault set --immutability unlocked, then pgvault vault lock --confirm VAULT-ID")
            default:
                return .allowed(.apply)
            }

        case .lock:
            switch s.immutability {
            case .locked: return .refused(reason: "the vault is already locked", allowedFrom: nil, instead: nil)
            case .disabled: return .refused(reason: "only an unlocked vault can be locked", allowedFrom: nil,
                                            instead: "pgvault vault set --immutability unlocked, check that retention is right, then lock")
            case .unlocked: return .allowed(.apply)
            }

        case .setSoftDelete(let to):
            if s.softDelete == .alwaysOn && to != .alwaysOn {
                return .refused(reason: "soft delete is always-on and can never be turned off", allowedFrom: nil, instead: nil)
            }
            return .allowed(.apply)

        case .setSoftDeleteDays(let days):
            guard ProtectionSettings.softDeleteDaysRange.contains(days) else {
                return .refused(reason: "the soft-delete window must be 14 to 180 days", allowedFrom: nil, instead: nil)
            }
            if s.immutability == .locked && days < s.softDeleteDays {
                return .refused(reason: "the soft-delete window can only grow while immutability is locked", allowedFrom: nil, instead: nil)
            }
            return .allowed(.apply)

        case .setDefaultRetention(let period):
            if s.immutability == .locked && !period.isNeverShorter(than: s.defaultRetention) {
                return .refused(reason: "the default retention can only grow while immutability is locked (now \(s.defaultRetention))",
                                allowedFrom: nil, instead: nil)
            }
            return .allowed(.apply)
        }
    }
}
