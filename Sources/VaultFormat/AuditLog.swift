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
        let listed = try series.entries().filter { $0.seq >= anchor.seq }
        guard let first = listed.first, first.seq == anchor.seq else {
            let last = try series.entries().last?.seq ?? 0
            return Verification(entries: last, firstBroken: (anchor.seq, last < anchor.seq
                ? "record \(anchor.seq) is anchored (\(anchor)) but the log ends at record \(last): records were removed from its end." + Unhide.hint(series.storage)
                : "record \(anchor.seq) is anchored (\(anchor)) but missing." + Unhide.hint(series.storage)))
        }
        var prev = anchor.sha256
        var expected = anchor.seq
        for e in listed {
            if e.seq != expected {
                return Verification(entries: e.seq, firstBroken: (expected, "record \(expected) is missing (next is \(e.seq))." + Unhide.hint(series.storage)))
            }
            guard let stored = try? VaultJSON.decode(Stored.self, from: try series.storage.get(e.key), what: e.key),
                  let entry = try? VaultJSON.decode(AuditEntry.self, from: Data(stored.body.utf8), what: e.key) else {
                return Verification(entries: e.seq, firstBroken: (e.seq, "record is not a valid audit record"))
            }
            if e.seq == anchor.seq {
                if stored.hash != anchor.sha256 || AuditLog.hash(stored.body) != stored.hash {
                    return Verification(entries: e.seq, firstBroken: (e.seq,
                        "record \(e.seq) is not the anchored one (its hash is \(AuditLog.hash(stored.body)), the anchor says \(anchor.sha256)): the log was rewritten from there"))
                }
            } else {
                if AuditLog.hash(stored.body) != stored.hash {
                    return Verification(entries: e.seq, firstBroken: (e.seq, "its content does not match its hash (edited)"))
                }
                if entry.seq != e.seq || entry.prevHash != prev {
                    return Verification(entries: e.seq, firstBroken: (e.seq, "its previous-hash does not match record \(e.seq - 1)"))
                }
            }
            prev = stored.hash
            expected += 1
        }
        return Verification(entries: expected - 1, firstBroken: nil, head: Anchor(seq: expected - 1, sha256: prev))
    }

    /// Recomputes the chain; names the first record that does not verify. Then each of
    /// `anchors` must be a record of the chain with that hash: an anchored record past the
    /// log's end means records were removed from the end, a different hash that the log was
    /// rewritten from that record on (the first failing anchor is named, by its record).
    public func verify(anchors: [Anchor] = []) throws -> Verification {
        var prev = AuditLog.genesis
        var expected = 1
        var count = 0
        let anchored = Set(anchors.map(\.seq))
        var hashes: [Int: String] = [:]
        for e in try series.entries() {
            count += 1
            if e.seq != expected {
                return Verification(entries: count, firstBroken: (expected, "record \(expected) is missing (next is \(e.seq))." + Unhide.hint(series.storage)))
            }
            guard let stored = try? VaultJSON.decode(Stored.self, from: try series.storage.get(e.key), what: e.key) else {
                return Verification(entries: count, firstBroken: (e.seq, "record is not valid JSON"))
            }
            if AuditLog.hash(stored.body) != stored.hash {
                return Verification(entries: count, firstBroken: (e.seq, "its content does not match its hash (edited)"))
            }
            guard let entry = try? VaultJSON.decode(AuditEntry.self, from: Data(stored.body.utf8), what: e.key) else {
                return Verification(entries: count, firstBroken: (e.seq, "its body is not an audit entry"))
            }
            if entry.seq != e.seq {
                return Verification(entries: count, firstBroken: (e.seq, "it says it is record \(entry.seq)"))
            }
            if entry.prevHash != prev {
                return Verification(entries: count, firstBroken: (e.seq, "its previous-hash does not match record \(e.seq - 1)"))
            }
            prev = stored.hash
            if anchored.contains(e.seq) { hashes[e.seq] = stored.hash }
            expected += 1
        }
        let last = expected - 1
        for a in anchors.sorted(by: { $0.seq < $1.seq }) {
            guard let h = hashes[a.seq] else {
                return Verification(entries: count, firstBroken: (a.seq,
                    "record \(a.seq) is anchored (\(a)) but the log ends at record \(last): records were removed from its end"))
            }
            if h != a.sha256 {
                return Verification(entries: count, firstBroken: (a.seq,
                    "record \(a.seq) is not the anchored one (its hash is \(h), the anchor says \(a.sha256)): the log was rewritten from there"))
            }
        }
        return Verification(entries: count, firstBroken: nil, head: last > 0 ? Anchor(seq: last, sha256: prev) : nil)
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
