public import Foundation

/// One chunk of a file, in file order.
public struct ChunkRef: Codable, Equatable, Sendable {
    // The hex fields are held as their bytes (`PackedHex`: an id in 33 bytes inline where a
    // 64-character Swift string takes 112 on the heap besides its 16): a manifest holds an
    // entry for every chunk of every file, ~650,000 for a 1 TiB database, and the strings were
    // over 300 MB of a backup's memory there. Every field reads back exactly as it was given.

    /// Lowercase hex SHA-256 of the chunk's plaintext; also its object name.
    public var id: String {
        get { packedId.string }
        set { packedId = PackedHex(newValue) }
    }
    /// `id` as held: `packedId.digest` is its 32 bytes.
    public private(set) var packedId: PackedHex
    /// Plaintext length in bytes.
    public var size: Int
    /// For a delta-encoded chunk: the id of the chunk it was compressed against (which must
    /// then be kept, locked and copied with it). Nil for a full chunk (format 2).
    public var base: String? {
        get { packedBase?.string }
        set { packedBase = newValue.map(PackedHex.init) }
    }
    public private(set) var packedBase: PackedHex?
    /// Every other chunk needed to read this one when `base` is itself a delta, or when the
    /// chunk is a delta against several chunks (codec 3): `base`'s base first, and so on down to
    /// the full chunks at the roots. Nil when `base` alone is enough.
    ///
    /// Held packed (`ChunkIds`, 32 bytes an id instead of a 64-character string): a manifest
    /// names every chunk's whole chain, so these lists are most of a large point's memory.
    public var chain: [String]? {
        get { packedChain?.strings }
        set { packedChain = newValue.map(ChunkIds.init) }
    }
    /// `chain` as held.
    public private(set) var packedChain: ChunkIds?
    /// Delta steps from this chunk to the farthest full chunk below it, when that is not simply
    /// 1 + `chain.count` (a delta against several chunks). Nil otherwise.
    public var levels: Int?
    /// Hex of the chunk's first 16 plaintext bytes: the next backup of the same database finds
    /// the chunk to delta-encode against by it (format 2).
    public var head: String? {
        get { marks.head }
        set { marks.head = newValue }
    }
    /// Hex of the chunk's similarity sketch (the smallest rolling-hash values of its content,
    /// 16 hex digits each): the next backup picks as delta base the old chunk that shares
    /// most of them.
    public var sketch: String? {
        get { marks.sketch }
        set { marks.sketch = newValue }
    }
    /// The sketch's values (16 hex digits each), nil when it has none or is not such hex.
    public var sketchValues: [UInt64]? { marks.sketchValues }
    /// Hex of the chunker's rolling hash at the chunk's end, when that end is a content-defined
    /// boundary: the next backup of the same database cuts at the same content (`Chunker.cut`'s
    /// `align`).
    public var cut: String? {
        get { marks.cut }
        set { marks.cut = newValue }
    }
    /// `head`, `sketch` and `cut` as held: inline words (~100 bytes for the three where
    /// `PackedHex` fields took 120 and a sketch's 64 bytes sat in a heap array of 112 more).
    private var marks = ChunkMarks()
    public init(id: String, size: Int, base: String? = nil, chain: [String]? = nil, head: String? = nil,
                sketch: String? = nil, cut: String? = nil) {
        packedId = PackedHex(id)
        self.size = size
        packedBase = base.map(PackedHex.init)
        marks.head = head
        marks.sketch = sketch
        marks.cut = cut
        self.chain = base == nil || chain?.isEmpty == true ? nil : chain
    }

    public init(id: String, size: Int, bases: [String], depth: Int, head: String?, sketch: String?, cut: String?) {
        self.init(id: id, size: size, base: bases.first, chain: Array(bases.dropFirst()), head: head, sketch: sketch, cut: cut)
        if !bases.isEmpty && depth != bases.count { levels = depth }
    }
    /// The same with the base and the rest of the chain as held elsewhere (the backup's chunk
    /// store): the entry shares their storage.
    public init(id: String, size: Int, base: PackedHex?, chain: ChunkIds?, depth: Int, head: String?, sketch: String?, cut: String?) {
        self.init(id: id, size: size, head: head, sketch: sketch, cut: cut)
        packedBase = base
        packedChain = base == nil ? nil : chain
        if base != nil && depth != 1 + (chain?.count ?? 0) { levels = depth }
    }
    /// Every chunk below this one: its base, then the base's base, down to the root (empty for
    /// a full chunk).
    public var bases: [String] { base.map { [$0] + (chain ?? []) } ?? [] }
    /// How many delta steps separate this chunk from the farthest full chunk below it (0: it
    /// is full).
    public var depth: Int { levels ?? (base == nil ? 0 : 1 + (packedChain?.count ?? 0)) }
    /// The chunk ids this chunk needs to be read: itself and every chunk of its chain.
    public var objectIds: [String] { [id] + bases }

    // The JSON is what the synthesized coding would write: the same keys, nil fields left out.
    enum CodingKeys: String, CodingKey { case id, size, base, chain, levels, head, sketch, cut }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        packedId = PackedHex(try c.decode(String.self, forKey: .id))
        size = try c.decode(Int.self, forKey: .size)
        packedBase = try c.decodeIfPresent(String.self, forKey: .base).map(PackedHex.init)
        packedChain = try c.decodeIfPresent([String].self, forKey: .chain).map(ChunkIds.init)
        levels = try c.decodeIfPresent(Int.self, forKey: .levels)
        marks.head = try c.decodeIfPresent(String.self, forKey: .head)
        marks.sketch = try c.decodeIfPresent(String.self, forKey: .sketch)
        marks.cut = try c.decodeIfPresent(String.self, forKey: .cut)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(size, forKey: .size)
        try c.encodeIfPresent(base, forKey: .base)
        try c.encodeIfPresent(chain, forKey: .chain)
        try c.encodeIfPresent(levels, forKey: .levels)
        try c.encodeIfPresent(head, forKey: .head)
        try c.encodeIfPresent(sketch, forKey: .sketch)
        try c.encodeIfPresent(cut, forKey: .cut)
    }
}

/// A chunk's marks for the next backup (`ChunkRef.head`, `sketch`, `cut`), held inline as the
/// values their hex spells when written as pgvault writes them: a head of 32 hex digits, a
/// sketch of one to eight groups of 16, a cut of 1-16 digits without a leading zero. Any other
/// text (a damaged or foreign manifest) is kept as given (`Odd`), so every field reads back
/// exactly as written and two equal texts are held alike.
struct ChunkMarks: Equatable, Sendable {
    private var h0: UInt64 = 0, h1: UInt64 = 0
    private var s0: UInt64 = 0, s1: UInt64 = 0, s2: UInt64 = 0, s3: UInt64 = 0
    private var s4: UInt64 = 0, s5: UInt64 = 0, s6: UInt64 = 0, s7: UInt64 = 0
    private var cutValue: UInt64 = 0
    /// How many sketch values are held inline.
    private var sketchCount: UInt8 = 0
    /// Which fields are held inline: 1 head, 2 sketch, 4 cut.
    private var inline: UInt8 = 0
    private var odd: Odd?

    /// The fields that are not in the inline forms, as given.
    private final class Odd: Equatable, Sendable {
        let head: String?, sketch: String?, cut: String?
        init(head: String?, sketch: String?, cut: String?) { self.head = head; self.sketch = sketch; self.cut = cut }
        static func == (a: Odd, b: Odd) -> Bool { a.head == b.head && a.sketch == b.sketch && a.cut == b.cut }
    }
    private mutating func keepOdd(head: String?, sketch: String?, cut: String?) {
        odd = head == nil && sketch == nil && cut == nil ? nil : Odd(head: head, sketch: sketch, cut: cut)
    }

    private var sketchWords: [UInt64] { Array([s0, s1, s2, s3, s4, s5, s6, s7].prefix(Int(sketchCount))) }

    private mutating func clearSketchWords() { s0 = 0; s1 = 0; s2 = 0; s3 = 0; s4 = 0; s5 = 0; s6 = 0; s7 = 0 }

    private mutating func setSketchWord(_ k: Int, _ v: UInt64) {
        switch k {
        case 0: s0 = v
        case 1: s1 = v
        case 2: s2 = v
        case 3: s3 = v
        case 4: s4 = v
        case 5: s5 = v
        case 6: s6 = v
        default: s7 = v
        }
    }

    var head: String? {
        get { inline & 1 != 0 ? PackedHex.hex(h0) + PackedHex.hex(h1) : odd?.head }
        set {
            inline &= ~1; h0 = 0; h1 = 0
            var text = newValue
            if var t = text {
                let pair = t.withUTF8 { u -> (UInt64, UInt64)? in
                    guard u.count == 32, let a = PackedHex.word(u, 0), let b = PackedHex.word(u, 16) else { return nil }
                    return (a, b)
                }
                if let (a, b) = pair { h0 = a; h1 = b; inline |= 1; text = nil }
            }
            keepOdd(head: text, sketch: odd?.sketch, cut: odd?.cut)
        }
    }

    var sketch: String? {
        get { inline & 2 != 0 ? sketchWords.map(PackedHex.hex).joined() : odd?.sketch }
        set {
            inline &= ~2; sketchCount = 0
            clearSketchWords()
            var text = newValue
            if var t = text {
                // Parsed straight into the words (a manifest has an entry for every chunk).
                let n = t.withUTF8 { u -> Int in
                    guard u.count % 16 == 0, (1...8).contains(u.count / 16) else { return 0 }
                    for k in 0..<u.count / 16 {
                        guard let v = PackedHex.word(u, 16 * k) else { return 0 }
                        setSketchWord(k, v)
                    }
                    return u.count / 16
                }
                if n > 0 {
                    sketchCount = UInt8(n); inline |= 2; text = nil
                } else {
                    clearSketchWords()   // a group that was not hex: nothing inline
                }
            }
            keepOdd(head: odd?.head, sketch: text, cut: odd?.cut)
        }
    }

    /// The sketch's values when held inline; nil otherwise.
    var sketchValues: [UInt64]? { inline & 2 != 0 ? sketchWords : nil }

    var cut: String? {
        get { inline & 4 != 0 ? String(cutValue, radix: 16) : odd?.cut }
        set {
            inline &= ~4; cutValue = 0
            var text = newValue
            if var t = text {
                let value = t.withUTF8 { u -> UInt64? in
                    guard (1...16).contains(u.count), u[0] != 48 || u.count == 1 else { return nil }
                    return PackedHex.number(u)
                }
                if let v = value { cutValue = v; inline |= 4; text = nil }
            }
            keepOdd(head: odd?.head, sketch: odd?.sketch, cut: text)
        }
    }
}

/// A chunk id (SHA-256) as its 32 bytes: a set of these takes a quarter of the memory of a set
/// of the 64-character strings (garbage collection marks every chunk of every point).
public struct ChunkDigest: Hashable, Sendable {
    private let a, b, c, d: UInt64
    /// Nil when `hex` is not 64 lowercase hex digits.
    public init?(hex: String) {
        var bytes: [UInt8] = []
        guard Hex.appendSHA256(hex, to: &bytes) else { return nil }
        self.init(bytes: bytes[...])
    }
    /// From 64 lowercase hex digits; nil for anything else.
    init?(utf8 u: UnsafeBufferPointer<UInt8>) {
        guard u.count == 64 else { return nil }
        var w: [UInt64] = [0, 0, 0, 0]
        for i in 0..<64 {
            let c = u[i]
            let n: UInt8
            if c &- 48 < 10 { n = c &- 48 } else if c &- 97 < 6 { n = c &- 87 } else { return nil }
            w[i / 16] = w[i / 16] << 4 | UInt64(n)
        }
        a = w[0]; b = w[1]; c = w[2]; d = w[3]
    }
    /// The id as four big-endian 64-bit values.
    var words: [UInt64] { [a, b, c, d] }
    /// The id's first 64 bits (its first 16 hex digits as a value).
    public var prefix: UInt64 { a }
    init(bytes: ArraySlice<UInt8>) {
        func word(_ at: Int) -> UInt64 {
            var v: UInt64 = 0
            for k in 0..<8 { v = v << 8 | UInt64(bytes[bytes.startIndex + at + k]) }
            return v
        }
        a = word(0); b = word(8); c = word(16); d = word(24)
    }
    /// The id as pgvault writes it: 64 lowercase hex digits.
    public var hex: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for w in [a, b, c, d] { for k in (0..<8).reversed() { bytes.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(k)))) } }
        return Hex.encode(bytes)
    }
}

/// A hex text as a manifest holds it (a chunk id, a head, a sketch, a cut hash), kept as the
/// bytes it spells when it is lowercase hex as pgvault writes it, else as the string itself:
/// it always reads back exactly as given (`string`), and two equal texts are held alike.
/// Up to 32 bytes sit inline (33 bytes in all); longer ones (a sketch: 64 bytes) in an array.
public struct PackedHex: Hashable, Sendable {
    private enum Storage: Hashable, Sendable {
        /// 1 to 16 lowercase hex digits with no leading zero (a cut hash, printed unpadded):
        /// the value, which prints back as the same digits.
        case number(UInt64)
        /// 32 digits (a head).
        case bytes16(UInt64, UInt64)
        /// 64 digits (a chunk id).
        case bytes32(ChunkDigest)
        /// Any other even number of digits (a sketch, 128).
        case bytes([UInt8])
        /// Anything else: upper case, odd length, not hex.
        case text(String)
    }
    private let storage: Storage

    public init(_ s: String) {
        var s = s
        storage = s.withUTF8 { u -> Storage in
            if u.count == 64, let d = ChunkDigest(utf8: u) { return .bytes32(d) }
            if u.count == 32, let a = Self.word(u, 0), let b = Self.word(u, 16) { return .bytes16(a, b) }
            if (1...16).contains(u.count), u[0] != 48 || u.count == 1, let v = Self.number(u) { return .number(v) }
            guard u.count % 2 == 0, u.count > 0 else { return .text(String(decoding: u, as: UTF8.self)) }
            var out = [UInt8](repeating: 0, count: u.count / 2)
            for i in out.indices {
                guard let hi = Self.nibble(u[2 * i]), let lo = Self.nibble(u[2 * i + 1]) else {
                    return .text(String(decoding: u, as: UTF8.self))
                }
                out[i] = hi << 4 | lo
            }
            return .bytes(out)
        }
    }

    /// The text as it was given.
    public var string: String {
        switch storage {
        case .number(let v): return String(v, radix: 16)
        case .bytes16(let a, let b): return Self.hex(a) + Self.hex(b)
        case .bytes32(let d): return d.hex
        case .bytes(let b): return Hex.encode(b)
        case .text(let t): return t
        }
    }

    /// The 32 bytes of a chunk id (nil for any other text).
    public var digest: ChunkDigest? {
        if case .bytes32(let d) = storage { return d }
        return nil
    }

    /// The big-endian 64-bit values the text spells in groups of 16 digits (a sketch); nil when
    /// it is not lowercase hex of a multiple of 16 digits.
    public var words: [UInt64]? {
        switch storage {
        case .bytes(let b) where b.count % 8 == 0:
            return stride(from: 0, to: b.count, by: 8).map { at in b[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        case .bytes16(let a, let b): return [a, b]
        case .bytes32(let d): return d.words
        case .number(let v) where v >> 60 != 0: return [v]
        default: return nil
        }
    }

    /// All of `u` (at most 16 digits) as a value, or nil if a byte is not a lowercase hex digit.
    fileprivate static func number(_ u: UnsafeBufferPointer<UInt8>) -> UInt64? {
        var v: UInt64 = 0
        for c in u {
            guard let n = nibble(c) else { return nil }
            v = v << 4 | UInt64(n)
        }
        return v
    }

    /// Digits `at..<at+16` of `u` as a value, or nil if one is not a lowercase hex digit.
    fileprivate static func word(_ u: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt64? {
        var v: UInt64 = 0
        for i in at..<at + 16 {
            guard let n = nibble(u[i]) else { return nil }
            v = v << 4 | UInt64(n)
        }
        return v
    }

    @inline(__always) private static func nibble(_ c: UInt8) -> UInt8? {
        if c &- 48 < 10 { return c &- 48 }
        if c &- 97 < 6 { return c &- 87 }
        return nil
    }

    fileprivate static func hex(_ v: UInt64) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }
}

/// A list of chunk ids in 32 bytes each (a 64-character Swift string takes 112 on the heap).
/// An id that is not 64 lowercase hex digits (only a damaged or foreign manifest has one) makes
/// the list keep its strings as they are, so every list reads back exactly as it was given.
///
/// A list can also be one id in front of another list, which it shares (`prepending`): a new
/// delta chunk's chain is its base's base followed by the base's own chain, and a backup of a
/// 1 TiB database writes ~650,000 of them; sharing costs ~70 bytes each instead of a copy of
/// the whole chain (~350 bytes at 11 links).
public struct ChunkIds: Equatable, Sendable {
    private enum Storage: Sendable {
        case packed([UInt8])
        case plain([String])
        case prepended(Link)
    }
    /// One id, then a list shared with whoever else holds it.
    private final class Link: Sendable {
        let first: PackedHex
        let rest: ChunkIds
        init(first: PackedHex, rest: ChunkIds) { self.first = first; self.rest = rest }
    }
    private let storage: Storage

    public init(_ ids: [String]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 32)
        for id in ids {
            guard Hex.appendSHA256(id, to: &bytes) else { storage = .plain(ids); return }
        }
        storage = .packed(bytes)
    }

    /// `first`, then every id of `rest`, whose storage is shared, not copied.
    public init(prepending first: PackedHex, to rest: ChunkIds) {
        storage = rest.count == 0 ? ChunkIds([first.string]).storage : .prepended(Link(first: first, rest: rest))
    }

    public var count: Int {
        switch storage {
        case .packed(let b): return b.count / 32
        case .plain(let s): return s.count
        case .prepended(let l): return 1 + l.rest.count
        }
    }

    /// Each id as a `ChunkDigest`, or as the string it was given when it is not a SHA-256.
    public func forEach(digest: (ChunkDigest) -> Void, other: (String) -> Void) {
        var list = self
        while true {
            switch list.storage {
            case .packed(let b):
                for at in stride(from: 0, to: b.count, by: 32) { digest(ChunkDigest(bytes: b[at..<at + 32])) }
                return
            case .plain(let s):
                for id in s { if let d = ChunkDigest(hex: id) { digest(d) } else { other(id) } }
                return
            case .prepended(let l):
                if let d = l.first.digest { digest(d) } else { other(l.first.string) }
                list = l.rest
            }
        }
    }

    /// Whether `other` holds its ids in the same memory (not a copy): a backup's new entries
    /// share their chains with its chunk store (tests check it).
    public func sharesStorage(with other: ChunkIds) -> Bool {
        switch (storage, other.storage) {
        case (.packed(let a), .packed(let b)):
            return a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in pa.baseAddress == pb.baseAddress } }
        case (.prepended(let a), .prepended(let b)):
            return a === b
        default:
            return false
        }
    }

    /// Whether this list is one id in front of `rest` itself, sharing its storage (tests check
    /// that a new delta chunk's chain shares its base's).
    public func isPrepended(to rest: ChunkIds) -> Bool {
        guard case .prepended(let l) = storage else { return false }
        return l.rest.sharesStorage(with: rest)
    }

    public var strings: [String] {
        switch storage {
        case .plain(let s): return s
        case .packed(let b):
            return b.withUnsafeBufferPointer { p in
                stride(from: 0, to: p.count, by: 32).map { Hex.encode(UnsafeBufferPointer(rebasing: p[$0..<$0 + 32])) }
            }
        case .prepended(let l):
            return [l.first.string] + l.rest.strings
        }
    }

    /// Equal when they list the same ids, however each holds them.
    public static func == (lhs: ChunkIds, rhs: ChunkIds) -> Bool {
        if case .packed(let a) = lhs.storage, case .packed(let b) = rhs.storage { return a == b }
        return lhs.count == rhs.count && lhs.strings == rhs.strings
    }
}

public enum FileKind: String, Codable, Sendable {
    /// `pg_dump -Fc -Z0` output of one database.
    case dump
    /// CREATE DATABASE, ACL and per-database settings of one database.
    case databaseSQL = "database-sql"
    /// `pg_dumpall --roles-only`.
    case roles
    /// `pg_dumpall --tablespaces-only`.
    case tablespaces
}

/// One restorable file of a recovery point.
public struct FileEntry: Codable, Equatable, Sendable {
    /// File name used by restore-as-files (escaped, see `FileNames`).
    public var path: String
    public var kind: FileKind
    /// The database this file belongs to (original, unescaped name), nil for cluster globals.
    public var database: String?
    public var size: Int64
    /// Lowercase hex SHA-256 of the whole file.
    public var sha256: String
    public var chunks: [ChunkRef]
    public init(path: String, kind: FileKind, database: String?, size: Int64, sha256: String, chunks: [ChunkRef]) {
        self.path = path; self.kind = kind; self.database = database; self.size = size
        self.sha256 = sha256; self.chunks = chunks
    }
}

public enum DatabaseOutcome: String, Codable, Sendable {
    case ok
    /// Refused before dumping by a limit check.
    case refused
    /// pg_dump or the pipeline failed.
    case failed
}

public struct DatabaseRecord: Codable, Equatable, Sendable {
    public var name: String
    public var outcome: DatabaseOutcome
    /// `pg_database_size` at preflight.
    public var sizeBytes: Int64?
    /// Largest bytea value found at preflight, and where.
    public var largestBytea: Int64?
    public var largestByteaColumn: String?
    public var dumpFile: String?
    public var databaseSQLFile: String?
    public var error: ErrorRecord?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Whether pg_dump ran with a snapshot exported by the preflight connection.
    public var snapshot: Bool?
    public init(name: String, outcome: DatabaseOutcome) { self.name = name; self.outcome = outcome }
}

public struct ServerInfo: Codable, Equatable, Sendable {
    /// The name given with --server-name, or host:port.
    public var name: String
    public var host: String?
    public var port: String?
    /// `server_version` as the server reports it.
    public var version: String
    /// `server_version_num`.
    public var versionNum: Int
    public init(name: String, host: String?, port: String?, version: String, versionNum: Int) {
        self.name = name; self.host = host; self.port = port; self.version = version; self.versionNum = versionNum
    }
    public var major: Int { versionNum / 10000 }
}

public enum PointStatus: String, Codable, Sendable {
    /// Every database was dumped.
    case ok
    /// Some databases were refused or failed; the others are in the point.
    case partial
    /// No database could be dumped (only the globals, if any, are in the point).
    case failed
}

public struct PointStats: Codable, Equatable, Sendable {
    /// Bytes of all files (what restore writes).
    public var logicalBytes: Int64
    /// Bytes of chunk objects this point added to the vault (encoded, after dedup).
    public var storedBytes: Int64
    public var chunks: Int
    public var newChunks: Int
    public init(logicalBytes: Int64 = 0, storedBytes: Int64 = 0, chunks: Int = 0, newChunks: Int = 0) {
        self.logicalBytes = logicalBytes; self.storedBytes = storedBytes; self.chunks = chunks; self.newChunks = newChunks
    }
}

public struct Limits: Codable, Equatable, Sendable {
    public static let defaultMaxDatabaseSize: Int64 = 1 << 40           // 1 TiB
    public static let defaultMaxByteaValue: Int64 = 500 * 1_000_000     // 500 MB
    public var maxDatabaseSize: Int64
    public var maxByteaValue: Int64
    public init(maxDatabaseSize: Int64 = Limits.defaultMaxDatabaseSize,
                maxByteaValue: Int64 = Limits.defaultMaxByteaValue) {
        self.maxDatabaseSize = maxDatabaseSize; self.maxByteaValue = maxByteaValue
    }
}

/// The immutable record of one recovery point (`points/<id>.json`). Written once, last.
public struct Manifest: Codable, Equatable, Sendable {
    public static let currentFormat = 2
    public var format: Int
    public var id: String
    public var vaultId: String
    public var jobId: String
    public var server: ServerInfo
    public var pgDumpVersion: String
    public var pgVaultVersion: String
    public var startedAt: Date
    public var finishedAt: Date
    public var status: PointStatus
    public var limits: Limits
    public var databases: [DatabaseRecord]
    public var files: [FileEntry]
    public var stats: PointStats
    /// The retain-until the backup set (format 2; nil in Foundation-format points, which are
    /// then not protected by retention). Later extensions live in the point's state records.
    public var retainUntil: Date?
    /// The retention the backup asked for, e.g. `12m` (format 2).
    public var retention: String?
    /// GFS tags the point earned when it was taken (`weekly`, `monthly`, `yearly`,
    /// `on-demand`); `pgvault run` recomputes them for retention (format 2).
    public var tags: [String]?
    /// Taken on request (`pgvault backup`, `POST /v1/backups`), not by the schedule.
    public var onDemand: Bool?

    public init(id: String, vaultId: String, jobId: String, server: ServerInfo, pgDumpVersion: String,
                pgVaultVersion: String, startedAt: Date, finishedAt: Date, status: PointStatus,
                limits: Limits, databases: [DatabaseRecord], files: [FileEntry], stats: PointStats) {
        self.format = Manifest.currentFormat
        self.id = id; self.vaultId = vaultId; self.jobId = jobId; self.server = server
        self.pgDumpVersion = pgDumpVersion; self.pgVaultVersion = pgVaultVersion
        self.startedAt = startedAt; self.finishedAt = finishedAt; self.status = status
        self.limits = limits; self.databases = databases; self.files = files; self.stats = stats
    }
}

/// JSON as pgvault writes it everywhere: sorted keys, RFC 3339 dates with milliseconds.
public enum VaultJSON {
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, enc in
            var c = enc.singleValueContainer()
            try c.encode(Timestamp.rfc3339(date))
        }
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { dec in
            let c = try dec.singleValueContainer()
            let s = try c.decode(String.self)
            guard let date = Timestamp.parse(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an RFC 3339 date: \(s)")
            }
            return date
        }
        return d
    }

    public static func encode<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
        try encoder(pretty: pretty).encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws -> T {
        do { return try decoder().decode(type, from: data) }
        catch {
            throw VaultError(.corrupt, "\(what) is not valid pgvault JSON; the vault may be damaged or written by a newer pgvault.",
                             cause: String(describing: error), location: what)
        }
    }
}
