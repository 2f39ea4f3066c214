import Foundation
import VaultCore
import VaultFormat
import VaultStorage

/// The audit chain as `serve` watches it, for `GET /v1/audit` and the metrics: the first check
/// verifies the whole chain; each later one only the records since the head the last good check
/// saw (`AuditLog.verify(since:)`: one listing and the new records), which the service thereby
/// holds as an anchor of its own. Records cut from the end of the log or a log rewritten while
/// it runs show at the next check (the whole chain is verified again at each start).
final class AuditWatch: @unchecked Sendable {
    struct Status: Encodable, Sendable {
        /// The chain verified (from the watch's anchor on).
        var ok: Bool
        var records: Int
        /// The chain's last record as `SEQ:SHA256` (the last good one when broken).
        var head: String?
        var firstBroken: Int?
        var reason: String?
        var checkedAt: Date
    }

    private let storage: any Storage
    private let lock = NSLock()
    private var anchor: AuditLog.Anchor?

    init(storage: any Storage) { self.storage = storage }

    /// Checks now (one check at a time); moves the anchor to the new head when it verifies.
    func check(now: Date = Date()) -> Status {
        lock.lock(); defer { lock.unlock() }
        let log = AuditLog(storage: storage)
        do {
            let v = try anchor.map { try log.verify(since: $0) } ?? log.verify()
            if v.ok, let head = v.head { anchor = head }
            return Status(ok: v.ok, records: v.entries, head: (v.head ?? anchor)?.description,
                          firstBroken: v.firstBroken?.seq, reason: v.firstBroken?.reason, checkedAt: now)
        } catch {
            let e = error as? VaultError ?? VaultError(.io, "\(error)")
            return Status(ok: false, records: anchor?.seq ?? 0, head: anchor?.description, firstBroken: nil,
                          reason: "the audit log could not be read: \(e.message)", checkedAt: now)
        }
    }
}
