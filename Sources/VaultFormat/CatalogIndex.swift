public import Foundation
import CZstd
public import VaultCore
import VaultStorage

/// The listing index of a vault: packs of point summaries plus loose per-point entries
/// (vault/FORMAT.md § Catalog). Derived data, rebuilt from the manifests; never used for
/// restore, verify, garbage collection or copies.
///
/// `catalog/packs/<seq>.pack` holds the summaries (manifests without chunk lists) of many
/// points in one zstd-compressed binary object; `catalog/<point-id>.json` the summary of one
/// point committed since. A listing reads the newest valid pack, the loose entry of each
/// point the pack does not hold, and the manifest where neither has the point. Only the
/// `points/` listing decides which points exist: index entries of other ids are ignored.
public struct CatalogIndex: Sendable {
    public let vault: Vault
    /// A listing that finds more than this many points outside the newest pack writes a new
    /// pack of all points (best effort).
    public var packThreshold: Int

    public static let packPrefix = "catalog/packs/"
    public static let defaultPackThreshold = 256

    public init(vault: Vault, packThreshold: Int = CatalogIndex.defaultPackThreshold) {
        self.vault = vault
        self.packThreshold = packThreshold
    }

    var storage: any Storage { vault.storage }

    public static func packKey(_ seq: Int) -> String { packPrefix + String(format: "%012d", seq) + ".pack" }

    static func packSequence(of key: String) -> Int? {
        guard key.hasPrefix(packPrefix), key.hasSuffix(".pack") else { return nil }
        let name = key.dropFirst(packPrefix.count).dropLast(".pack".count)
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(name)
    }

    /// (seq, key) of every pack, newest first.
    public func packs() throws -> [(seq: Int, key: String)] {
        try storage.list(prefix: Self.packPrefix).compactMap { o in Self.packSequence(of: o.key).map { ($0, o.key) } }
            .sorted { $0.seq > $1.seq }
    }

    /// The summaries of one pack, with an index by point id.
    public struct LoadedPack: Sendable {
        public let seq: Int
        public let summaries: [Manifest]
        /// Whether the summaries are in strictly descending id order (as pgvault writes them).
        let descendingIds: Bool
        init(seq: Int, summaries: [Manifest]) {
            self.seq = seq
            self.summaries = summaries
            descendingIds = summaries.indices.dropFirst().allSatisfy { summaries[$0 - 1].id > summaries[$0].id }
        }
        /// Position of each id (for packs not in id order, and for lookups by id).
        var position: [String: Int] {
            var position: [String: Int] = [:]
            position.reserveCapacity(summaries.count)
            for (k, m) in summaries.enumerated() { position[m.id] = k }
            return position
        }
        public var count: Int { summaries.count }
        public subscript(id: String) -> Manifest? { summaries.first { $0.id == id } }
    }

    /// The newest pack that reads back whole and belongs to this vault; nil when there is
    /// none. A pack removed between the listing and the read (a writer superseded it) sends
    /// the reader back to the listing once.
    public func newestPack() -> LoadedPack? {
        newestPack(CatalogPack.decode).map { LoadedPack(seq: $0.seq, summaries: $0.pack) }
    }

    /// The newest pack that `decode` accepts and that belongs to this vault (see `newestPack()`).
    func newestPack<T>(_ decode: (Data) throws -> (vaultId: String, T)) -> (seq: Int, pack: T)? {
        for attempt in 0..<2 {
            guard let listed = try? packs() else { return nil }
            var missing = false
            for p in listed {
                let data: Data
                do { data = try storage.get(p.key) }
                catch let e as VaultError where e.code == .objectMissing { missing = true; continue }
                catch { continue }
                guard let decoded = try? decode(data), decoded.vaultId == vault.config.id else { continue }
                return (p.seq, decoded.1)
            }
            if !missing || attempt == 1 { return nil }
        }
        return nil
    }

    /// Every point's summary, newest first (see the type's description). Writes a new pack
    /// when more than `packThreshold` points are outside the newest one, else the loose
    /// entries of points that had none.
    public func summaries() throws -> [Manifest] {
        // The listing of points/ and the newest pack, side by side.
        let listing = Locked<Result<[String], any Error>?>(nil)
        let loaded = Locked<LoadedPack?>(nil)
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            if k == 0 { listing.set(Result { try self.vault.pointIds() }) } else { loaded.set(self.newestPack()) }
        }
        guard let listed = listing.get() else { throw VaultError(.internalError, "the listing of points/ did not run") }
        let ids = try listed.get()
        let pack = loaded.get()
        // Where each point's summary is in the pack (-1: not there). Packs are written in
        // descending id order like `ids`, so one merge pass finds them; the index otherwise.
        var inPack = [Int](repeating: -1, count: ids.count)
        if let pack {
            let s = pack.summaries
            if pack.descendingIds {
                var j = 0
                for (i, id) in ids.enumerated() {
                    while j < s.count && s[j].id > id { j += 1 }
                    if j < s.count && s[j].id == id { inPack[i] = j; j += 1 }
                }
            } else {
                let position = pack.position
                for (i, id) in ids.enumerated() { inPack[i] = position[id] ?? -1 }
            }
        }
        // The common case after a pack was written: it holds exactly the listed points.
        if let pack, pack.count == ids.count, pack.descendingIds, inPack.indices.allSatisfy({ inPack[$0] == $0 }) {
            return Self.newestFirst(pack.summaries)
        }
        let outside = ids.indices.filter { inPack[$0] < 0 }
        let repack = outside.count > packThreshold
        // Loose entries, then manifests, of the points outside the pack, on every core (the
        // cold listing of a large vault reads every manifest).
        let found = Self.parallelMap(outside.count) { k in Result { try self.looseOrManifest(ids[outside[k]]) } }
        var fromOutside: [Manifest] = []
        fromOutside.reserveCapacity(outside.count)
        for r in found {
            let (m, fromManifest) = try r.get()
            if fromManifest && !repack { writeLoose(m) }   // heal: the next listing reads the small entry
            fromOutside.append(m)
        }
        var all: [Manifest] = []
        all.reserveCapacity(ids.count)
        var k = 0
        for i in ids.indices {
            if inPack[i] >= 0, let pack { all.append(pack.summaries[inPack[i]]) } else { all.append(fromOutside[k]); k += 1 }
        }
        if repack { _ = try? writePack(all, after: pack?.seq) }
        return Self.newestFirst(all)
    }

    /// Every point as `points --json` lists it (state not applied), newest first, handed to
    /// `body` one at a time: the same points and order as `summaries()`, but the pack's records
    /// are decoded one by one straight into `PointSummary` values (nothing else of the
    /// manifest), so a listing of 100,000 points never holds them all in memory. When more than
    /// `packThreshold` points are outside the newest pack this is `summaries()` (which writes
    /// the new pack), converted.
    public func forEachListed(_ body: (PointSummary) throws -> Void) throws {
        let listing = Locked<Result<[String], any Error>?>(nil)
        let loaded = Locked<(seq: Int, pack: CatalogPack.Records)?>(nil)
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            if k == 0 { listing.set(Result { try self.vault.pointIds() }) } else { loaded.set(self.newestPack(CatalogPack.records)) }
        }
        guard let listed = listing.get() else { throw VaultError(.internalError, "the listing of points/ did not run") }
        let ids = try listed.get()
        let pack = loaded.get()?.pack
        var inPack = [Int](repeating: -1, count: ids.count)
        if let pack {
            if pack.descendingIds {
                var j = 0
                for (i, id) in ids.enumerated() {
                    while j < pack.ids.count && pack.ids[j] > id { j += 1 }
                    if j < pack.ids.count && pack.ids[j] == id { inPack[i] = j; j += 1 }
                }
            } else {
                var position: [String: Int] = [:]
                for (k, id) in pack.ids.enumerated() { position[id] = k }
                for (i, id) in ids.enumerated() { inPack[i] = position[id] ?? -1 }
            }
        }
        let outside = ids.indices.filter { inPack[$0] < 0 }
        if outside.count > packThreshold {
            for m in try summaries() { try body(PointSummary(summaryOf: m)) }
            return
        }
        let found = Self.parallelMap(outside.count) { k in Result { try self.looseOrManifest(ids[outside[k]]) } }
        var fromOutside: [Manifest] = []
        fromOutside.reserveCapacity(outside.count)
        for r in found {
            let (m, fromManifest) = try r.get()
            if fromManifest { writeLoose(m) }
            fromOutside.append(m)
        }
        // Each listed point: its record in the pack (>= 0) or its summary outside (-1 - k).
        var source = [Int](repeating: 0, count: ids.count)
        var started = [Date](repeating: Date(timeIntervalSince1970: 0), count: ids.count)
        var k = 0
        for i in ids.indices {
            if inPack[i] >= 0, let pack { source[i] = inPack[i]; started[i] = pack.startedAt[inPack[i]] }
            else { source[i] = -1 - k; started[i] = fromOutside[k].startedAt; k += 1 }
        }
        let reader = pack.map { CatalogPack.RecordReader($0) }
        func emit(_ i: Int) throws {
            if source[i] >= 0, let reader { try body(try reader.summary(source[i])) }
            else { try body(PointSummary(summaryOf: fromOutside[-1 - source[i]])) }
        }
        if started.indices.dropFirst().allSatisfy({ started[$0 - 1] >= started[$0] }) {
            for i in ids.indices { try emit(i) }
        } else {
            for i in ids.indices.sorted(by: { started[$0] != started[$1] ? started[$0] > started[$1] : $0 < $1 }) { try emit(i) }
        }
    }

    /// `summaries` (in descending id order) sorted by start time, newest first, ids breaking
    /// ties. Ids start with the start time, so this is almost always the order already.
    static func newestFirst(_ summaries: [Manifest]) -> [Manifest] {
        let t = summaries.map(\.startedAt)
        if t.indices.dropFirst().allSatisfy({ t[$0 - 1] >= t[$0] }) { return summaries }
        // Among equal start times the id order (descending) is kept: a stable sort of positions.
        let order = t.indices.sorted { t[$0] != t[$1] ? t[$0] > t[$1] : $0 < $1 }
        return order.map { summaries[$0] }
    }

    /// `(0..<count).map(body)`, spread over the cores in interleaved slices.
    static func parallelMap<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let parts = max(1, min(count / 64, 2 * ProcessInfo.processInfo.activeProcessorCount))
        if parts == 1 { return (0..<count).map(body) }
        let slices = Locked<[Int: [T]]>([:])
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let local = stride(from: part, to: count, by: parts).map(body)
            slices.withLock { $0[part] = local }
        }
        let all = slices.get()
        var out: [T] = []
        out.reserveCapacity(count)
        for k in 0..<count { if let slice = all[k % parts] { out.append(slice[k / parts]) } }
        return out
    }

    func looseOrManifest(_ id: String) throws -> (Manifest, fromManifest: Bool) {
        let key = Vault.catalogKey(id)
        if let data = try? storage.get(key), let m = try? VaultJSON.decode(Manifest.self, from: data, what: key), m.id == id {
            return (m, false)
        }
        return (try ManifestCodec.decodeSummary(storage, key: Vault.pointKey(id)).manifest, true)
    }

    /// Writes the loose entry of a committed point (best effort).
    public func writeLoose(_ summary: Manifest) {
        if let data = try? VaultJSON.encode(Vault.summary(of: summary), pretty: false) {
            try? storage.put(Vault.catalogKey(summary.id), data, mode: .createOnly)
        }
    }

    /// Writes `summaries` as the pack after the newest one (create-only), then removes the
    /// packs it supersedes (best effort: on storage that refuses deletes they stay, and
    /// readers skip them). Returns the new pack's key; nil when another writer took that
    /// sequence number first (its pack is as good).
    @discardableResult
    public func writePack(_ summaries: [Manifest], after: Int? = nil) throws -> String? {
        let existing = try packs()
        let seq = max(after ?? 0, existing.first?.seq ?? 0) + 1
        let key = Self.packKey(seq)
        let data = try CatalogPack.encode(vaultId: vault.config.id, summaries: summaries.sorted { $0.id > $1.id })
        do { try storage.put(key, data, mode: .createOnly) }
        catch let e as VaultError where e.code == .objectExists { return nil }
        for p in existing where p.seq < seq { try? storage.delete(p.key) }
        return key
    }

    public struct RebuildReport: Sendable, Equatable {
        public var points: Int
        public var pack: String?
        public var packBytes: Int
        public var packsRemoved: Int
        public var packsLeft: Int
    }

    /// Rebuilds the index from the manifests alone (every manifest read, loose entries and
    /// packs ignored): one new pack of all points, then the older packs removed where the
    /// storage allows. A manifest that does not decode fails the rebuild (nothing written).
    public func rebuild() throws -> RebuildReport {
        let before = try packs()
        let ids = try vault.pointIds()
        let found = Self.parallelMap(ids.count) { k in
            // Without the chunk lists (counted, not decoded: `verify` checks them), so that
            // rebuilding over large points holds one summary each, not their lists.
            Result { try ManifestCodec.decodeSummary(self.vault.storage, key: Vault.pointKey(ids[k])).manifest }
        }
        let summaries = try found.map { try $0.get() }
        let seq = (before.first?.seq ?? 0) + 1
        let key = Self.packKey(seq)
        let data = try CatalogPack.encode(vaultId: vault.config.id, summaries: summaries)
        try storage.put(key, data, mode: .createOnly)
        try storage.sync()
        var removed = 0
        for p in before where (try? storage.delete(p.key)) != nil { removed += 1 }
        let left = try packs().count - 1
        return RebuildReport(points: summaries.count, pack: key, packBytes: data.count, packsRemoved: removed, packsLeft: max(0, left))
    }
}

/// The encoding of one pack object (vault/FORMAT.md § Catalog packs).
public enum CatalogPack {
    public static let magic: [UInt8] = Array("PGVI".utf8)
    public static let version: UInt8 = 1
    static let headerSize = 16

    struct Malformed: Error, CustomStringConvertible { let description: String }

    public static func encode(vaultId: String, summaries: [Manifest]) throws -> Data {
        var w = Writer()
        w.string(vaultId)
        w.uint(UInt64(summaries.count))
        for m in summaries { w.manifest(m) }
        let body = w.bytes
        let bound = ZSTD_compressBound(body.count)
        var out = [UInt8](repeating: 0, count: headerSize + bound)
        out.replaceSubrange(0..<4, with: magic)
        out[4] = version
        out[5] = 1   // codec: zstd
        var length = UInt64(body.count).littleEndian
        withUnsafeBytes(of: &length) { out.replaceSubrange(8..<16, with: $0) }
        guard let cctx = ZSTD_createCCtx() else { throw VaultError(.internalError, "zstd: out of memory") }
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        let n = out.withUnsafeMutableBytes { o in
            body.withUnsafeBytes { i in
                ZSTD_compress2(cctx, o.baseAddress! + headerSize, bound, i.baseAddress, i.count)
            }
        }
        guard ZSTD_isError(n) == 0 else {
            throw VaultError(.internalError, "zstd could not compress a catalog pack", cause: String(cString: ZSTD_getErrorName(n)))
        }
        return Data(out[0..<(headerSize + n)])
    }

    /// The body of a pack: its header checked, the zstd frame decoded to exactly the length
    /// the header gives.
    static func decompress(_ data: Data) throws -> [UInt8] {
        let bytes = [UInt8](data)
        guard bytes.count > headerSize, Array(bytes[0..<4]) == magic else { throw Malformed(description: "not a catalog pack") }
        guard bytes[4] == version, bytes[5] == 1, bytes[6] == 0, bytes[7] == 0 else {
            throw Malformed(description: "pack version \(bytes[4]) codec \(bytes[5])")
        }
        var length: UInt64 = 0
        for i in (8..<16).reversed() { length = length << 8 | UInt64(bytes[i]) }
        let compressed = bytes.count - headerSize
        // A sane size before allocating: at most 1 GiB and 1024 times the compressed bytes.
        guard length <= 1 << 30, length <= UInt64(compressed) * 1024 else { throw Malformed(description: "implausible length \(length)") }
        var n = 0
        let body = [UInt8](unsafeUninitializedCapacity: Int(length)) { o, initialized in
            n = bytes.withUnsafeBytes { i in
                guard let src = i.baseAddress else { return Int.max }   // not reached: count > headerSize
                return ZSTD_decompress(o.baseAddress, o.count, src + headerSize, compressed)
            }
            // Only what zstd wrote counts as initialized (nothing on an error).
            initialized = ZSTD_isError(n) == 0 && n <= Int(length) ? n : 0
        }
        guard ZSTD_isError(n) == 0, n == Int(length), body.count == Int(length) else {
            throw Malformed(description: "zstd frame does not decode to the length")
        }
        return body
    }

    /// Decodes a pack; throws on anything that is not a whole, well-formed pack of this
    /// version (the caller then ignores the pack).
    public static func decode(_ data: Data) throws -> (vaultId: String, summaries: [Manifest]) {
        let (vaultId, summaries) = try walk(try decompress(data)) { try $0.manifest() }
        return (vaultId, summaries)
    }

    /// Reads a pack body: the vault id, the record count, then each record with `record`, and
    /// nothing after the last. What `decode` and `records` share.
    private static func walk<T>(_ body: [UInt8], record: (inout Reader) throws -> T) throws -> (vaultId: String, records: [T]) {
        try body.withUnsafeBytes { raw in
            var r = Reader(raw)
            let vaultId = try r.string()
            let count = try r.uint()
            guard count <= UInt64(raw.count) else { throw Malformed(description: "count") }
            var out: [T] = []
            out.reserveCapacity(Int(count))
            for _ in 0..<count { out.append(try record(&r)) }
            guard r.atEnd else { throw Malformed(description: "bytes after the last record") }
            return (vaultId, out)
        }
    }

    /// A pack's body with where each record starts, its id and start time: what a listing
    /// needs to merge and order the points before it decodes any record (`RecordReader`).
    struct Records: Sendable {
        let body: [UInt8]
        let offsets: [Int]
        let ids: [String]
        let startedAt: [Date]
        /// Whether the records are in strictly descending id order (as pgvault writes them).
        let descendingIds: Bool
    }

    /// Decompresses a pack and walks its records once, checking every field as `decode` does
    /// (so that `RecordReader` cannot fail later) but keeping only ids and start times.
    static func records(_ data: Data) throws -> (vaultId: String, Records) {
        let body = try decompress(data)
        let (vaultId, walked) = try walk(body) { r -> (offset: Int, id: String, startedAt: Date) in
            let offset = r.pos
            let (id, t) = try r.skipRecord()
            return (offset, id, t)
        }
        let ids = walked.map(\.id)
        let descending = ids.indices.dropFirst().allSatisfy { ids[$0 - 1] > ids[$0] }
        return (vaultId, Records(body: body, offsets: walked.map(\.offset), ids: ids, startedAt: walked.map(\.startedAt),
                                 descendingIds: descending))
    }

    /// Decodes single records of `Records` into what `points --json` shows, keeping the
    /// shared-string cache from one record to the next.
    final class RecordReader {
        let records: Records
        private var recent = [String](repeating: "", count: 16)
        init(_ records: Records) { self.records = records }

        func summary(_ k: Int) throws -> PointSummary {
            try records.body.withUnsafeBytes { raw in
                var r = Reader(raw)
                r.pos = records.offsets[k]
                swap(&r.recent, &recent)
                defer { swap(&r.recent, &recent) }
                return try r.summary()
            }
        }
    }

    // MARK: primitives

    struct Writer {
        var bytes: [UInt8] = []
        mutating func uint(_ v: UInt64) {
            var v = v
            while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
            bytes.append(UInt8(v))
        }
        mutating func int(_ v: Int64) { uint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
        mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
        mutating func string(_ s: String) {
            var s = s
            s.withUTF8 { u in uint(UInt64(u.count)); bytes.append(contentsOf: u) }
        }
        /// Milliseconds since 1970, rounded as the JSON form rounds them.
        mutating func date(_ d: Date) {
            int(Int64(((d.timeIntervalSinceReferenceDate + 978_307_200) * 1000 + 0.5).rounded(.down)))
        }
        mutating func opt<T>(_ v: T?, _ f: (inout Writer, T) -> Void) {
            if let v { bytes.append(1); f(&self, v) } else { bytes.append(0) }
        }

        mutating func manifest(_ m: Manifest) {
            int(Int64(m.format))
            string(m.id); string(m.vaultId); string(m.jobId)
            string(m.server.name); opt(m.server.host) { $0.string($1) }; opt(m.server.port) { $0.string($1) }
            string(m.server.version); int(Int64(m.server.versionNum))
            string(m.pgDumpVersion); string(m.pgVaultVersion)
            date(m.startedAt); date(m.finishedAt)
            string(m.status.rawValue)
            int(m.limits.maxDatabaseSize); int(m.limits.maxByteaValue)
            uint(UInt64(m.databases.count))
            for d in m.databases {
                string(d.name); string(d.outcome.rawValue)
                opt(d.sizeBytes) { $0.int($1) }; opt(d.largestBytea) { $0.int($1) }
                opt(d.largestByteaColumn) { $0.string($1) }; opt(d.dumpFile) { $0.string($1) }
                opt(d.databaseSQLFile) { $0.string($1) }
                opt(d.error) { w, e in
                    w.string(e.code); w.string(e.message); w.opt(e.cause) { $0.string($1) }; w.opt(e.location) { $0.string($1) }
                }
                opt(d.startedAt) { $0.date($1) }; opt(d.finishedAt) { $0.date($1) }; opt(d.snapshot) { $0.bool($1) }
            }
            uint(UInt64(m.files.count))
            for f in m.files {
                string(f.path); string(f.kind.rawValue); opt(f.database) { $0.string($1) }
                int(f.size); string(f.sha256)
            }
            int(m.stats.logicalBytes); int(m.stats.storedBytes); int(Int64(m.stats.chunks)); int(Int64(m.stats.newChunks))
            opt(m.retainUntil) { $0.date($1) }; opt(m.retention) { $0.string($1) }
            opt(m.tags) { w, t in w.uint(UInt64(t.count)); for s in t { w.string(s) } }
            opt(m.onDemand) { $0.bool($1) }
        }
    }

    struct Reader {
        let raw: UnsafeRawBufferPointer
        var pos = 0
        init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }
        var atEnd: Bool { pos == raw.count }

        mutating func byte() throws -> UInt8 {
            guard pos < raw.count else { throw Malformed(description: "truncated") }
            defer { pos += 1 }
            return raw[pos]
        }
        mutating func uint() throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw Malformed(description: "varint too long") }
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        mutating func int() throws -> Int64 {
            let u = try uint()
            return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
        }
        mutating func intValue() throws -> Int {
            let v = try int()
            guard let i = Int(exactly: v) else { throw Malformed(description: "integer out of range") }
            return i
        }
        mutating func bool() throws -> Bool {
            switch try byte() {
            case 0: return false
            case 1: return true
            default: throw Malformed(description: "not a boolean")
            }
        }
        mutating func string() throws -> String {
            let n = try uint()
            guard n <= UInt64(raw.count - pos) else { throw Malformed(description: "truncated string") }
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: raw[pos..<(pos + Int(n))]), as: UTF8.self)
            pos += Int(n)
            return s
        }
        /// The last value read of each repeated field (vault id, server, versions, names,
        /// paths): an equal value is shared instead of allocated again.
        var recent = [String](repeating: "", count: 16)
        mutating func shared(_ slot: Int) throws -> String {
            let n = try uint()
            guard n <= UInt64(raw.count - pos) else { throw Malformed(description: "truncated string") }
            let bytes = UnsafeRawBufferPointer(rebasing: raw[pos..<(pos + Int(n))])
            pos += Int(n)
            let same = recent[slot].utf8.count == bytes.count && recent[slot].utf8.elementsEqual(bytes)
            if same { return recent[slot] }
            let s = String(decoding: bytes, as: UTF8.self)
            recent[slot] = s
            return s
        }
        mutating func date() throws -> Date { Date(timeIntervalSince1970: Double(try int()) / 1000) }
        mutating func opt<T>(_ f: (inout Reader) throws -> T) throws -> T? {
            try bool() ? try f(&self) : nil
        }
        mutating func count() throws -> Int {
            let n = try uint()
            guard n <= UInt64(raw.count - pos) else { throw Malformed(description: "count") }
            return Int(n)
        }
        mutating func raw<T: RawRepresentable>(_ t: T.Type) throws -> T where T.RawValue == String {
            let s = try string()
            guard let v = T(rawValue: s) else { throw Malformed(description: "unknown value \(s)") }
            return v
        }

        mutating func skipString() throws {
            let n = try uint()
            guard n <= UInt64(raw.count - pos) else { throw Malformed(description: "truncated string") }
            pos += Int(n)
        }

        /// Walks one record as `manifest()` reads it (same checks), returning only its id and
        /// start time.
        mutating func skipRecord() throws -> (id: String, startedAt: Date) {
            _ = try intValue()
            let id = try string()
            try skipString(); try skipString()                                  // vault id, job id
            try skipString(); _ = try opt { try $0.skipString() }; _ = try opt { try $0.skipString() }
            try skipString(); _ = try intValue()                                // server version
            try skipString(); try skipString()                                  // pg_dump, pgvault
            let started = try date()
            _ = try date()
            _ = try raw(PointStatus.self)
            _ = try int(); _ = try int()
            for _ in 0..<(try count()) {
                try skipString(); _ = try raw(DatabaseOutcome.self)
                try skipDatabaseDetails()
            }
            for _ in 0..<(try count()) {
                try skipString(); _ = try raw(FileKind.self); _ = try opt { try $0.skipString() }
                _ = try int(); try skipString()
            }
            _ = try int(); _ = try int(); _ = try intValue(); _ = try intValue()
            _ = try opt { try $0.date() }
            _ = try opt { try $0.skipString() }
            _ = try opt { r in for _ in 0..<(try r.count()) { try r.skipString() } }
            _ = try opt { try $0.bool() }
            return (id, started)
        }

        /// A database record's fields after name and outcome.
        mutating func skipDatabaseDetails() throws {
            _ = try opt { try $0.int() }; _ = try opt { try $0.int() }
            _ = try opt { try $0.skipString() }; _ = try opt { try $0.skipString() }; _ = try opt { try $0.skipString() }
            _ = try opt { r in
                try r.skipString(); try r.skipString(); _ = try r.opt { try $0.skipString() }; _ = try r.opt { try $0.skipString() }
            }
            _ = try opt { try $0.date() }; _ = try opt { try $0.date() }; _ = try opt { try $0.bool() }
        }

        /// One record as `PointSummary(summaryOf: manifest())` would give it, without
        /// building the manifest (what a listing skips is not allocated).
        mutating func summary() throws -> PointSummary {
            _ = try intValue()
            let id = try string()
            try skipString(); try skipString()                                  // vault id, job id
            let server = try shared(1)
            _ = try opt { try $0.skipString() }; _ = try opt { try $0.skipString() }
            let version = try shared(4)
            _ = try intValue()
            try skipString(); try skipString()                                  // pg_dump, pgvault
            let started = try date(), finished = try date()
            let status = try raw(PointStatus.self)
            _ = try int(); _ = try int()
            var ok: [String] = [], other: [String] = []
            for _ in 0..<(try count()) {
                let name = try shared(7)
                if try raw(DatabaseOutcome.self) == .ok { ok.append(name) } else { other.append(name) }
                try skipDatabaseDetails()
            }
            let nFiles = try count()
            var files: [PointSummary.File] = []
            files.reserveCapacity(nFiles)
            for _ in 0..<nFiles {
                files.append(PointSummary.File(path: try shared(11), kind: try raw(FileKind.self).rawValue,
                                               database: try opt { try $0.shared(12) }, size: try int(), sha256: try string()))
            }
            let logical = try int(), stored = try int()
            _ = try intValue(); _ = try intValue()
            let retainUntil = try opt { try $0.date() }
            let retention = try opt { try $0.shared(13) }
            let tags = try opt { r in try (0..<(try r.count())).map { _ in try r.string() } }
            _ = try opt { try $0.bool() }
            return PointSummary(id: id, server: server, serverVersion: version, startedAt: started, finishedAt: finished,
                                status: status.rawValue, databases: ok, refusedOrFailed: other, files: files,
                                logicalBytes: logical, storedBytes: stored, retention: retention, retainUntil: retainUntil,
                                tags: tags ?? [])
        }

        mutating func manifest() throws -> Manifest {
            let format = try intValue()
            let id = try string(), vaultId = try shared(0), jobId = try string()
            let server = ServerInfo(name: try shared(1), host: try opt { try $0.shared(2) }, port: try opt { try $0.shared(3) },
                                    version: try shared(4), versionNum: try intValue())
            let pgDump = try shared(5), pgVault = try shared(6)
            let started = try date(), finished = try date()
            let status = try raw(PointStatus.self)
            let limits = Limits(maxDatabaseSize: try int(), maxByteaValue: try int())
            var databases: [DatabaseRecord] = []
            for _ in 0..<(try count()) {
                var d = DatabaseRecord(name: try shared(7), outcome: try raw(DatabaseOutcome.self))
                d.sizeBytes = try opt { try $0.int() }
                d.largestBytea = try opt { try $0.int() }
                d.largestByteaColumn = try opt { try $0.shared(8) }
                d.dumpFile = try opt { try $0.shared(9) }
                d.databaseSQLFile = try opt { try $0.shared(10) }
                d.error = try opt { r in
                    ErrorRecord(code: try r.string(), message: try r.string(), cause: try r.opt { try $0.string() },
                                location: try r.opt { try $0.string() })
                }
                d.startedAt = try opt { try $0.date() }
                d.finishedAt = try opt { try $0.date() }
                d.snapshot = try opt { try $0.bool() }
                databases.append(d)
            }
            var files: [FileEntry] = []
            for _ in 0..<(try count()) {
                files.append(FileEntry(path: try shared(11), kind: try raw(FileKind.self), database: try opt { try $0.shared(12) },
                                       size: try int(), sha256: try string(), chunks: []))
            }
            let stats = PointStats(logicalBytes: try int(), storedBytes: try int(), chunks: try intValue(), newChunks: try intValue())
            var m = Manifest(id: id, vaultId: vaultId, jobId: jobId, server: server, pgDumpVersion: pgDump, pgVaultVersion: pgVault,
                             startedAt: started, finishedAt: finished, status: status, limits: limits, databases: databases,
                             files: files, stats: stats)
            m.format = format
            m.retainUntil = try opt { try $0.date() }
            m.retention = try opt { try $0.shared(13) }
            m.tags = try opt { r in try (0..<(try r.count())).map { _ in try r.string() } }
            m.onDemand = try opt { try $0.bool() }
            return m
        }
    }
}
