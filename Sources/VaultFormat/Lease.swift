public import Foundation
public import VaultCore
public import VaultStorage

/// A lease in `locks/<name>.json`: who holds it and until when. A lease whose holder died
/// expires (its holder renews it while alive); on the same host a dead pid frees it at once.
public struct LeaseRecord: Codable, Equatable, Sendable {
    public var name: String
    public var holder: String
    public var host: String
    public var pid: Int32
    public var acquiredAt: Date
    public var expiresAt: Date

    public func isLive(now: Date) -> Bool {
        if expiresAt < now { return false }
        if host == ProcessInfo.processInfo.hostName && kill(pid, 0) != 0 && errno == ESRCH { return false }
        return true
    }
}

/// A held lease; renewed by a background thread until `release()`.
public final class Lease: @unchecked Sendable {
    public let name: String
    let storage: any Storage
    let duration: TimeInterval
    private let lock = NSLock()
    private var released = false
    private var record: LeaseRecord

    static func key(_ name: String) -> String { "locks/\(name).json" }

    /// Takes the lease `name`; `.busy` when a live holder has it. An expired lease is taken over.
    public static func acquire(_ name: String, storage: any Storage, duration: TimeInterval = 600, now: Date = Date()) throws -> Lease {
        let info = ProcessInfo.processInfo
        let record = LeaseRecord(name: name, holder: Actor.current, host: info.hostName, pid: info.processIdentifier,
                                 acquiredAt: Timestamp.millis(now), expiresAt: Timestamp.millis(now.addingTimeInterval(duration)))
        let data = try VaultJSON.encode(record)
        for _ in 0..<3 {
            do {
                try storage.put(key(name), data, mode: .createOnly)
                let l = Lease(name: name, storage: storage, duration: duration, record: record)
                l.startRenewing()
                return l
            } catch let e as VaultError where e.code == .objectExists {
                if let current = try? VaultJSON.decode(LeaseRecord.self, from: storage.get(key(name)), what: key(name)),
                   current.isLive(now: now) {
                    throw VaultError(.busy, "The vault is busy: \(current.holder) (pid \(current.pid)) holds \"\(name)\" since \(Timestamp.rfc3339(current.acquiredAt)); try again later.",
                                     location: key(name))
                }
                try storage.delete(key(name))   // expired or dead holder: take it over
            }
        }
        throw VaultError(.busy, "Could not take the lease \"\(name)\"; try again.", location: key(name))
    }

    /// Live leases whose name starts with `prefix`.
    public static func live(prefix: String, storage: any Storage, now: Date = Date()) throws -> [LeaseRecord] {
        try storage.list(prefix: "locks/" + prefix).compactMap { o in
            guard let r = try? VaultJSON.decode(LeaseRecord.self, from: storage.get(o.key), what: o.key) else { return nil }
            return r.isLive(now: now) ? r : nil
        }
    }

    init(name: String, storage: any Storage, duration: TimeInterval, record: LeaseRecord) {
        self.name = name; self.storage = storage; self.duration = duration; self.record = record
    }

    private func startRenewing() {
        let t = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: max(1, duration / 3))
                // Renew under the lock so a renewal can never land after release() removed it.
                lock.lock()
                if released { lock.unlock(); return }
                record.expiresAt = Timestamp.millis(Date().addingTimeInterval(duration))
                if let data = try? VaultJSON.encode(record) { try? storage.put(Lease.key(name), data, mode: .replace) }
                lock.unlock()
            }
        }
        t.start()
    }

    public func release() {
        lock.lock()
        defer { lock.unlock() }
        if !released { try? storage.delete(Lease.key(name)) }
        released = true
    }

    deinit { release() }
}
