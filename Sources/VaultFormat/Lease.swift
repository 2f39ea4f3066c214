public import Foundation
public import VaultCore
public import VaultStorage

/// A lease in `locks/`: who holds it and until when. A lease whose holder died expires (its
/// holder renews it while alive); on the same host a dead pid frees it at once.
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

/// A held lease, renewed by a background thread until `release()`.
///
/// Leases have generations: the first holder of `NAME` writes `locks/NAME.json`
/// (generation 0), whoever takes over a dead or expired lease writes the next generation
/// `locks/NAME.g000001.json`, and so on, always create-only. Two processes that find the same
/// dead lease race for the same next generation and exactly one wins; the highest generation
/// is the lease in force. A holder that finds a higher generation than its own has lost the
/// lease; `check()` tells it so before it does anything that relies on the lease.
public final class Lease: @unchecked Sendable {
    public let name: String
    let storage: any Storage
    let duration: TimeInterval
    let generation: Int
    private let lock = NSLock()
    private var released = false
    private var lost: String?
    private var validUntil: Date
    private var record: LeaseRecord

    static func key(_ name: String, generation: Int) -> String {
        generation == 0 ? "locks/\(name).json" : "locks/\(name).g\(String(format: "%06d", generation)).json"
    }

    /// (name, generation) of a lease key; nil for anything else.
    static func parse(_ key: String) -> (name: String, generation: Int)? {
        guard key.hasPrefix("locks/"), key.hasSuffix(".json") else { return nil }
        let base = String(key.dropFirst("locks/".count).dropLast(".json".count))
        if let dot = base.lastIndex(of: "."), base[base.index(after: dot)...].hasPrefix("g"),
           let g = Int(base[base.index(dot, offsetBy: 2)...]) {
            return (String(base[..<dot]), g)
        }
        return (base, 0)
    }

    /// The generations of `name` present, highest first.
    static func generations(_ name: String, storage: any Storage) throws -> [Int] {
        try storage.list(prefix: "locks/\(name).").compactMap { o in
            guard let p = parse(o.key), p.name == name else { return nil }
            return p.generation
        }.sorted(by: >)
    }

    /// Takes the lease `name`; `.busy` when a live holder has it. A dead or expired lease is
    /// taken over by writing the next generation.
    public static func acquire(_ name: String, storage: any Storage, duration: TimeInterval = 600, now: Date = Date()) throws -> Lease {
        let info = ProcessInfo.processInfo
        let record = LeaseRecord(name: name, holder: Actor.current, host: info.hostName, pid: info.processIdentifier,
                                 acquiredAt: Timestamp.millis(now), expiresAt: Timestamp.millis(now.addingTimeInterval(duration)))
        let data = try VaultJSON.encode(record)
        for _ in 0..<5 {
            let gens = try generations(name, storage: storage)
            if let top = gens.first {
                let k = key(name, generation: top)
                if let current = try? VaultJSON.decode(LeaseRecord.self, from: storage.get(k), what: k), current.isLive(now: now) {
                    throw VaultError(.busy, "The vault is busy: \(current.holder) (pid \(current.pid)) holds \"\(name)\" since \(Timestamp.rfc3339(current.acquiredAt)); try again later.",
                                     location: k)
                }
            }
            let next = (gens.first ?? -1) + 1
            do {
                try storage.put(key(name, generation: next), data, mode: .createOnly)
            } catch let e as VaultError where e.code == .objectExists {
                continue   // another process took this generation first: look again
            }
            for g in gens { try? storage.delete(key(name, generation: g)) }   // dead generations
            let l = Lease(name: name, storage: storage, duration: duration, generation: next, record: record)
            l.startRenewing()
            return l
        }
        throw VaultError(.busy, "Could not take the lease \"\(name)\": other processes kept taking it; try again.", location: "locks/\(name).json")
    }

    /// The writer side of the handshake with garbage collection (see `VaultControl.purge`):
    /// takes the `backup-*` lease `name` first, then waits while a `gc` lease is live (up to an
    /// hour), calling `onWait` at each look so the caller can stop or say why it waits.
    public static func acquireWriter(_ name: String, storage: any Storage,
                                     onWait: (LeaseRecord) throws -> Void = { _ in }) throws -> Lease {
        let lease = try acquire(name, storage: storage)
        let deadline = Date().addingTimeInterval(3600)
        do {
            while let gc = try live(prefix: "gc", storage: storage).first {
                guard Date() < deadline else {
                    throw VaultError(.busy, "Garbage collection by \(gc.holder) has held the vault at \(storage.location) for an hour; try again later.")
                }
                try onWait(gc)
                Thread.sleep(forTimeInterval: 1)
            }
        } catch {
            lease.release()
            throw error
        }
        return lease
    }

    /// The live leases whose name starts with `prefix` (the generation in force of each name).
    public static func live(prefix: String, storage: any Storage, now: Date = Date()) throws -> [LeaseRecord] {
        var top: [String: (Int, String)] = [:]
        for o in try storage.list(prefix: "locks/" + prefix) {
            guard let p = parse(o.key), p.name.hasPrefix(prefix) else { continue }
            if (top[p.name]?.0 ?? -1) < p.generation { top[p.name] = (p.generation, o.key) }
        }
        return top.values.sorted { $0.1 < $1.1 }.compactMap { _, k in
            guard let r = try? VaultJSON.decode(LeaseRecord.self, from: storage.get(k), what: k) else { return nil }
            return r.isLive(now: now) ? r : nil
        }
    }

    init(name: String, storage: any Storage, duration: TimeInterval, generation: Int, record: LeaseRecord) {
        self.name = name; self.storage = storage; self.duration = duration; self.generation = generation
        self.record = record; self.validUntil = record.expiresAt
    }

    private func startRenewing() {
        let t = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: max(1, duration / 3))
                // Renew under the lock so a renewal can never land after release() removed it.
                lock.lock()
                if released || lost != nil { lock.unlock(); return }
                do {
                    if let newer = try Lease.generations(name, storage: storage).first, newer > generation {
                        lost = "another process took over the lease \"\(name)\" (generation \(newer))"
                    } else {
                        let now = Date()
                        record.expiresAt = Timestamp.millis(now.addingTimeInterval(duration))
                        try storage.put(Lease.key(name, generation: generation), try VaultJSON.encode(record), mode: .replace)
                        validUntil = record.expiresAt
                    }
                } catch {
                    // Keep trying until the lease runs out; check() reports a lapse.
                }
                lock.unlock()
            }
        }
        t.start()
    }

    /// Throws `.busy` when the lease may no longer be relied on: another process took it over,
    /// or renewals failed until it ran out (with a minute of margin).
    public func check(now: Date = Date()) throws {
        lock.lock(); defer { lock.unlock() }
        if let lost { throw VaultError(.busy, "Lost the vault lease: \(lost). Nothing more was written; run the command again.") }
        if now.addingTimeInterval(60) > validUntil {
            throw VaultError(.busy, "The vault lease \"\(name)\" could not be renewed in time (it ran until \(Timestamp.rfc3339(validUntil))). Nothing more was written; run the command again.")
        }
    }

    public func release() {
        lock.lock()
        defer { lock.unlock() }
        if !released { try? storage.delete(Lease.key(name, generation: generation)) }
        released = true
    }

    deinit { release() }
}
