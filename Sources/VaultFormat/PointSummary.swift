public import Foundation
public import VaultCore

/// The JSON shape of one point in `points --json` and `GET /v1/points` (documented in README).
public struct PointSummary: Encodable, Sendable {
    public struct File: Encodable, Sendable { var path: String; var kind: String; var database: String?; var size: Int64; var sha256: String }
    public var id: String
    public var server: String
    public var serverVersion: String
    public var startedAt: Date
    public var finishedAt: Date
    public var status: String
    public var databases: [String]
    public var refusedOrFailed: [String]
    public var files: [File]
    public var logicalBytes: Int64
    public var storedBytes: Int64
    public var retention: String?
    public var retainUntil: Date?
    /// `active` or `soft-deleted`.
    public var state: String
    public var softDeletedAt: Date?
    public var purgeAfter: Date?
    public var deleteReason: String?
    public var held: Bool
    public var holdReason: String?
    /// GFS tags recorded when the point was taken.
    public var tags: [String]

    public init(_ v: PointView) {
        self.init(summaryOf: v.manifest)
        apply(v.state)
    }

    /// The point as its manifest (or catalog summary) alone describes it: the state of a
    /// point without state records (active, not held, the manifest's retain-until).
    public init(summaryOf m: Manifest) {
        self.init(id: m.id, server: m.server.name, serverVersion: m.server.version, startedAt: m.startedAt,
                  finishedAt: m.finishedAt, status: m.status.rawValue,
                  databases: m.databases.filter { $0.outcome == .ok }.map(\.name),
                  refusedOrFailed: m.databases.filter { $0.outcome != .ok }.map(\.name),
                  files: m.files.map { File(path: $0.path, kind: $0.kind.rawValue, database: $0.database, size: $0.size, sha256: $0.sha256) },
                  logicalBytes: m.stats.logicalBytes, storedBytes: m.stats.storedBytes, retention: m.retention,
                  retainUntil: m.retainUntil, tags: m.tags ?? [])
    }

    /// The manifest's part; the state as for a point without state records.
    init(id: String, server: String, serverVersion: String, startedAt: Date, finishedAt: Date, status: String,
         databases: [String], refusedOrFailed: [String], files: [File], logicalBytes: Int64, storedBytes: Int64,
         retention: String?, retainUntil: Date?, tags: [String]) {
        self.id = id
        self.server = server
        self.serverVersion = serverVersion
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.status = status
        self.databases = databases
        self.refusedOrFailed = refusedOrFailed
        self.files = files
        self.logicalBytes = logicalBytes
        self.storedBytes = storedBytes
        self.retention = retention
        self.retainUntil = retainUntil
        state = "active"
        held = false
        self.tags = tags
    }

    /// Takes the point's recorded state (retain-until, soft delete, legal hold).
    public mutating func apply(_ s: PointState) {
        retainUntil = s.retainUntil
        state = s.isSoftDeleted ? "soft-deleted" : "active"
        softDeletedAt = s.softDeletedAt
        purgeAfter = s.purgeAfter
        deleteReason = s.deleteReason
        held = s.isHeld
        holdReason = s.hold?.reason
    }
}

extension PointSummary {
    /// `items` as a JSON array, byte for byte what `VaultJSON.encode(items)` writes (pretty,
    /// sorted keys, `"key" : value`), written directly: JSONEncoder needs seconds for the
    /// 100,000 points of a large vault.
    public static func jsonArray(_ items: [PointSummary]) -> Data {
        var data = Data()
        writeJSONArray(items) { data.append(contentsOf: $0) }
        return data
    }

    /// The same bytes as `jsonArray`, handed to `sink` in pieces of about 1 MiB (so that a
    /// listing of 100,000 points does not build its 130 MB of JSON in memory first).
    public static func writeJSONArray<S: Sequence<PointSummary>>(_ items: S, to sink: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        let w = JSONArrayWriter()
        for p in items { try w.append(p, to: sink) }
        try w.finish(to: sink)
    }

    /// `writeJSONArray` one element at a time, for callers that are handed the points one by
    /// one (`VaultControl.forEachPointSummary`).
    public final class JSONArrayWriter {
        private let w = PrettyJSON()
        private var count = 0
        public init() { w.raw("[\n") }

        public func append(_ p: PointSummary, to sink: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
            if count > 0 { w.raw(",\n") }
            count += 1
            w.spaces(2)
            p.write(to: w, indent: 2)
            if w.count >= PrettyJSON.flushAt { try sink(w.bytes); w.clear() }
        }

        /// Closes the array and hands over the rest.
        public func finish(to sink: (UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
            w.raw("\n]")
            try sink(w.bytes)
            w.clear()
        }
    }

    func write(to w: PrettyJSON, indent: Int) {
        var o = PrettyJSON.Object(indent: indent)
        o.key("databases", w); w.array(databases, indent: indent + 2) { w, s, _ in w.string(s) }
        if let deleteReason { o.key("deleteReason", w); w.string(deleteReason) }
        o.key("files", w)
        w.array(files, indent: indent + 2) { w, f, i in
            var fo = PrettyJSON.Object(indent: i)
            if let d = f.database { fo.key("database", w); w.string(d) }
            fo.key("kind", w); w.string(f.kind)
            fo.key("path", w); w.string(f.path)
            fo.key("sha256", w); w.string(f.sha256)
            fo.key("size", w); w.int(f.size)
            fo.end(w)
        }
        o.key("finishedAt", w); w.date(finishedAt)
        o.key("held", w); w.bool(held)
        if let holdReason { o.key("holdReason", w); w.string(holdReason) }
        o.key("id", w); w.string(id)
        o.key("logicalBytes", w); w.int(logicalBytes)
        if let purgeAfter { o.key("purgeAfter", w); w.date(purgeAfter) }
        o.key("refusedOrFailed", w); w.array(refusedOrFailed, indent: indent + 2) { w, s, _ in w.string(s) }
        if let retainUntil { o.key("retainUntil", w); w.date(retainUntil) }
        if let retention { o.key("retention", w); w.string(retention) }
        o.key("server", w); w.string(server)
        o.key("serverVersion", w); w.string(serverVersion)
        if let softDeletedAt { o.key("softDeletedAt", w); w.date(softDeletedAt) }
        o.key("startedAt", w); w.date(startedAt)
        o.key("state", w); w.string(state)
        o.key("status", w); w.string(status)
        o.key("storedBytes", w); w.int(storedBytes)
        o.key("tags", w); w.array(tags, indent: indent + 2) { w, s, _ in w.string(s) }
        o.end(w)
    }
}

/// A writer of Foundation's pretty-printed JSON layout (two-space indent, `"key" : value`,
/// empty containers as `[` newline newline `]`) into a growable byte buffer, for output too
/// large for JSONEncoder.
final class PrettyJSON {
    static let flushAt = 1 << 20
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = PrettyJSON.flushAt + 64 * 1024) {
        self.capacity = capacity
        buffer = .allocate(capacity: capacity)
    }
    deinit { buffer.deallocate() }

    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: buffer, count: count) }
    func clear() { count = 0 }

    private func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        let bigger = max(capacity * 2, count + n)
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: bigger)
        b.update(from: buffer, count: count)
        buffer.deallocate()
        buffer = b
        capacity = bigger
    }
    func byte(_ b: UInt8) { reserve(1); buffer[count] = b; count += 1 }
    func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (buffer + count).update(from: src, count: bytes.count)
        count += bytes.count
    }
    func raw(_ s: StaticString) { s.withUTF8Buffer { append($0) } }
    func spaces(_ n: Int) {
        reserve(n)
        (buffer + count).update(repeating: UInt8(ascii: " "), count: n)
        count += n
    }

    /// A JSON string: `"` and `\` escaped, control characters as \b \f \n \r \t or \u00xx; the
    /// rest (including `/` and non-ASCII) as is.
    func string(_ s: String) {
        var s = s
        s.withUTF8 { u in
            byte(UInt8(ascii: "\""))
            if u.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                append(u)
            } else {
                for b in u { escape(b) }
            }
            byte(UInt8(ascii: "\""))
        }
    }

    private func escape(_ b: UInt8) {
        switch b {
        case UInt8(ascii: "\""): raw("\\\"")
        case UInt8(ascii: "\\"): raw("\\\\")
        case 0x08: raw("\\b")
        case 0x0c: raw("\\f")
        case 0x0a: raw("\\n")
        case 0x0d: raw("\\r")
        case 0x09: raw("\\t")
        case 0..<0x20:
            let hex: StaticString = "0123456789abcdef"
            raw("\\u00")
            hex.withUTF8Buffer { h in byte(h[Int(b >> 4)]); byte(h[Int(b & 15)]) }
        default: byte(b)
        }
    }

    func int(_ v: Int64) {
        var s = String(v)
        s.withUTF8 { append($0) }
    }
    func bool(_ v: Bool) { if v { raw("true") } else { raw("false") } }
    func date(_ d: Date) {
        byte(UInt8(ascii: "\""))
        Timestamp.withRFC3339Bytes(d) { append($0) }
        byte(UInt8(ascii: "\""))
    }

    /// `[`, the elements one per line at `indent + 2`, `]` at `indent`.
    func array<T>(_ items: [T], indent: Int, _ element: (PrettyJSON, T, Int) -> Void) {
        raw("[\n")
        for (k, item) in items.enumerated() {
            if k > 0 { raw(",\n") }
            spaces(indent + 2)
            element(self, item, indent + 2)
        }
        raw("\n"); spaces(indent); raw("]")
    }

    /// An object being written: `key` opens it or adds a member; `end` closes it.
    struct Object {
        let indent: Int
        var members = 0
        init(indent: Int) { self.indent = indent }
        mutating func key(_ k: StaticString, _ w: PrettyJSON) {
            w.raw(members == 0 ? "{\n" : ",\n")
            members += 1
            w.spaces(indent + 2)
            w.byte(UInt8(ascii: "\"")); w.raw(k); w.raw("\" : ")
        }
        func end(_ w: PrettyJSON) {
            if members == 0 { w.raw("{\n") }
            w.raw("\n"); w.spaces(indent); w.raw("}")
        }
    }
}
