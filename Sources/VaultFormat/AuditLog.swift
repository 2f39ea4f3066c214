public import Foundation
import Crypto
public import VaultCore
public import VaultStorage

/// One change to the vault, as written in `audit/<seq>.json`.
public struct AuditEntry: Codable, Equatable, Sendable {
    public var seq: Int
    public var time: Date
    /// `user@host` (or an API token's name).
    public var actor: String
    /// e.g. `vault.init`, `point.create`, `point.delete`, `point.undelete`, `point.purge`,
    /// `point.retain`, `hold.set`, `hold.clear`, `settings.change`, `vault.lock`, `gc.sweep`.
    public var operation: String
    /// A point id, or `vault`.
    public var target: String
    public var details: [String: String]
    /// `hash` of the previous entry; 64 zeros for the first.
    public var prevHash: String
}

/// The tamper-evident, hash-chained audit log. Each object is
/// `{"body": "<compact JSON of an AuditEntry>", "hash": "<sha256 hex of body's UTF-8 bytes>"}`;
/// the body holds the previous entry's hash, so editing, removing or reordering any entry
/// breaks the chain from there on.
public struct AuditLog: Sendable {
    public static let genesis = String(repeating: "0", count: 64)
    let series: Series

    public init(storage: any Storage) { series = Series(storage: storage, prefix: "audit") }

    struct Stored: Codable { var body: String; var hash: String }

    /// Appends an entry; retries when another writer took the next sequence number.
    @discardableResult
    public func append(operation: String, target: String, details: [String: String] = [:],
                       actor: String = Actor.current, now: Date = Date()) throws -> AuditEntry {
        for _ in 0..<50 {
            let last = try series.entries().last
            var prevHash = AuditLog.genesis
            if let last {
                let stored = try VaultJSON.decode(Stored.self, from: try series.storage.get(last.key), what: last.key)
                prevHash = stored.hash
            }
            let entry = AuditEntry(seq: (last?.seq ?? 0) + 1, time: Timestamp.millis(now), actor: actor,
                                   operation: operation, target: target, details: details, prevHash: prevHash)
            let body = String(decoding: try VaultJSON.encode(entry, pretty: false), as: UTF8.self)
            let stored = Stored(body: body, hash: AuditLog.hash(body))
            do {
                try series.append(try VaultJSON.encode(stored), seq: entry.seq)
                return entry
            } catch let e as VaultError where e.code == .objectExists {
                continue
            }
        }
        throw VaultError(.busy, "Could not append to the audit log: other writers kept taking the next sequence number. Try again.")
    }

    /// `.corrupt` when the record the next `append` would write exists but is hidden (a plain
    /// DELETE on S3): changes check it before they write anything, so that none is made
    /// without its audit record.
    public func checkWritable() throws {
        guard series.versioned != nil else { return }
        try series.checkNotHidden((try series.entries().last?.seq ?? 0) + 1)
    }

    static func hash(_ body: String) -> String { Hex.encode(SHA256.hash(data: Data(body.utf8))) }

    public struct Verification: Sendable, Equatable {
        public var entries: Int
        /// The first broken record and why, nil when the whole chain verifies.
        public var firstBroken: (seq: Int, reason: String)?
        /// The last record and its hash when the whole chain verifies (nil for an empty log):
        /// what to keep outside the vault as an anchor (`Anchor`).
        public var head: Anchor?
        public var ok: Bool { firstBroken == nil }
        public static func == (a: Verification, b: Verification) -> Bool {
            a.entries == b.entries && a.firstBroken?.seq == b.firstBroken?.seq && a.firstBroken?.reason == b.firstBroken?.reason
                && a.head == b.head
        }
    }

    /// A record's sequence number and hash, noted somewhere the vault's owner cannot rewrite
    /// (a ticket, a mail, another system's log). The chain proves every record up to the
    /// last one present; only an anchor proves that none was removed from the end since it was
    /// taken, or that the whole log was not rebuilt.
    public struct Anchor: Sendable, Equatable, CustomStringConvertible {
        public var seq: Int
        /// Lowercase hex SHA-256 of the record's body (its `hash`).
        public var sha256: String
        public init(seq: Int, sha256: String) { self.seq = seq; self.sha256 = sha256 }

        /// `SEQ:SHA256` (as `description` prints it); nil for anything else.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let seq = Int(parts[0]), seq >= 1 else { return nil }
            let hash = parts[1].lowercased()
            guard hash.count == 64, hash.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
            self.init(seq: seq, sha256: hash)
        }

        public var description: String { "\(seq):\(sha256)" }
    }

    /// All entries in order, each with whether it verified.
    public func entries() throws -> [AuditEntry] {
        try series.entries().map { e in
            let stored = try VaultJSON.decode(Stored.self, from: try series.storage.get(e.key), what: e.key)
            return try VaultJSON.decode(AuditEntry.self, from: Data(stored.body.utf8), what: e.key)
        }
    }

    /// The records written since `anchor` (a head taken earlier), checked: record `anchor.seq`
    /// must still be there with its hash (else records were cut or the log rewritten), and
    /// every later record must verify and chain on from it. Reads only those records (one
    /// listing, then the anchor record and the new ones), so a service can run it often; the
    /// records before the anchor are `verify`'s to check.
    public func verify(since anchor: Anchor) throws -> Verification {
        let all = try series.entries()
        let last = all.last?.seq ?? 0
        guard last >= anchor.seq else {
            return Verification(entries: last, firstBroken: (anchor.seq,
                "record \(anchor.seq) is anchored (\(anchor)) but the log ends at record \(last): records were removed from its end." + Unhide.hint(series.storage)))
        }
        let w = walk(all.filter { $0.seq >= anchor.seq }, first: anchor.seq, prev: anchor.sha256, start: anchor)
        return Verification(entries: w.last, firstBroken: w.broken, head: w.broken == nil ? Anchor(seq: w.last, sha256: w.head) : nil)
    }

    /// Recomputes the chain; names the first record that does not verify. Then each of
    /// `anchors` must be a record of the chain with that hash: an anchored record past the
    /// log's end means records were removed from the end, a different hash that the log was
    /// rewritten from that record on (the first failing anchor is named, by its record).
    public func verify(anchors: [Anchor] = []) throws -> Verification {
        let anchored = Set(anchors.map(\.seq))
        var hashes: [Int: String] = [:]
        let w = walk(try series.entries(), first: 1, prev: AuditLog.genesis) { seq, hash in
            if anchored.contains(seq) { hashes[seq] = hash }
        }
        if let broken = w.broken { return Verification(entries: w.visited, firstBroken: broken) }
        for a in anchors.sorted(by: { $0.seq < $1.seq }) {
            guard let h = hashes[a.seq] else {
                return Verification(entries: w.visited, firstBroken: (a.seq,
                    "record \(a.seq) is anchored (\(a)) but the log ends at record \(w.last): records were removed from its end"))
            }
            if h != a.sha256 {
                return Verification(entries: w.visited, firstBroken: (a.seq,
                    "record \(a.seq) is not the anchored one (its hash is \(h), the anchor says \(a.sha256)): the log was rewritten from there"))
            }
        }
        return Verification(entries: w.visited, firstBroken: nil, head: w.last > 0 ? Anchor(seq: w.last, sha256: w.head) : nil)
    }

    /// Checks `listed` (ascending) as the chain from record `first` on, whose predecessor's hash
    /// is `prev`: no gap, each record's hash matches its body, its body says its number and
    /// holds its predecessor's hash. With `start` (an anchor at record `first`), that record
    /// must have exactly the anchor's hash instead (its predecessor is not read). `seen` gets
    /// each verified record's number and hash. Returns the first broken record, how many
    /// records were looked at, and the last good record with its hash.
    private func walk(_ listed: [(seq: Int, key: String)], first: Int, prev: String, start: Anchor? = nil,
                      seen: (Int, String) -> Void = { _, _ in })
        -> (broken: (seq: Int, reason: String)?, visited: Int, last: Int, head: String) {
        var prev = prev, expected = first, visited = 0
        func broken(_ seq: Int, _ why: String) -> (broken: (seq: Int, reason: String)?, visited: Int, last: Int, head: String) {
            ((seq, why), visited, expected - 1, prev)
        }
        for e in listed {
            visited += 1
            if e.seq != expected { return broken(expected, "record \(expected) is missing (next is \(e.seq))." + Unhide.hint(series.storage)) }
            guard let stored = try? VaultJSON.decode(Stored.self, from: try series.storage.get(e.key), what: e.key) else {
                return broken(e.seq, "record is not valid JSON")
            }
            if AuditLog.hash(stored.body) != stored.hash { return broken(e.seq, "its content does not match its hash (edited)") }
            guard let entry = try? VaultJSON.decode(AuditEntry.self, from: Data(stored.body.utf8), what: e.key) else {
                return broken(e.seq, "its body is not an audit entry")
            }
            if entry.seq != e.seq { return broken(e.seq, "it says it is record \(entry.seq)") }
            if let start, e.seq == start.seq {
                if stored.hash != start.sha256 {
                    return broken(e.seq, "record \(e.seq) is not the anchored one (its hash is \(stored.hash), the anchor says \(start.sha256)): the log was rewritten from there")
                }
            } else if entry.prevHash != prev {
                return broken(e.seq, "its previous-hash does not match record \(e.seq - 1)")
            }
            prev = stored.hash
            seen(e.seq, stored.hash)
            expected += 1
        }
        return (nil, visited, expected - 1, prev)
    }
}

/// Who is acting: `user@host`.
public enum Actor {
    public static var current: String {
        let env = ProcessInfo.processInfo.environment
        var user = env["USER"] ?? env["LOGNAME"]
        if user == nil, let pw = getpwuid(getuid()) { user = String(cString: pw.pointee.pw_name) }
        return "\(user ?? String(getuid()))@\(ProcessInfo.processInfo.hostName)"
    }
}
