public import Foundation
import Crypto
public import VaultCore
public import VaultStorage

/// Writes chunks into the vault, deduplicating by id. Thread-safe; share one per backup.
public final class ChunkStore: @unchecked Sendable {
    public let storage: any Storage
    /// Longest delta chain a new chunk may get (`VaultConfig.deltaDepth`).
    public let maxDepth: Int
    private let lock = NSLock()
    /// Chunks this backup stored or found in the vault: every chunk each needs
    /// (`ChunkRef.bases`; empty: a full chunk) and its depth. Held packed (ids as `PackedHex`,
    /// chains as `ChunkIds`): a first backup of a 1 TiB database stores ~650,000 chunks.
    private var known: [PackedHex: Known] = [:]
    fileprivate struct Known {
        var base: PackedHex?
        var chain: ChunkIds?
        var depth: Int
        var bases: [String] { base.map { [$0.string] + (chain?.strings ?? []) } ?? [] }
        init(base: PackedHex?, chain: ChunkIds?, depth: Int) { self.base = base; self.chain = chain; self.depth = depth }
        init(bases: [String], depth: Int) {
            self.init(base: bases.first.map(PackedHex.init), chain: bases.count > 1 ? ChunkIds(Array(bases.dropFirst())) : nil,
                      depth: depth)
        }
        init(_ r: ChunkRef) { self.init(base: r.packedBase, chain: r.packedChain, depth: r.depth) }
    }
    /// The chunk lists of the previous points (`learn`), shared with their manifests, and where
    /// each chunk is in them: a 1 TiB dump has ~650,000 chunks, and copying what each needs and
    /// its marks into tables of their own took ~120 MB more. `learntIndex` holds (the id's
    /// first 64 bits, list << 32 | index) sorted, 16 bytes a chunk (a dictionary keyed by the
    /// id took ~80); ids that are not a SHA-256 (no pgvault writes one) are in `learntOdd`.
    private var learnt: [[ChunkRef]] = []
    private var learntIndex: [(prefix: UInt64, at: UInt64)] = []
    private var learntOdd: [String: UInt64] = [:]
    private func learntRef(_ id: String) -> ChunkRef? {
        func entry(_ at: UInt64) -> ChunkRef { learnt[Int(at >> 32)][Int(at & 0xffff_ffff)] }
        let key = PackedHex(id)
        guard let d = key.digest else { return learntOdd[id].map(entry) }
        var lo = learntIndex.partitionPoint { $0.prefix < d.prefix }
        // Equal prefixes are ordered by position: the first list that has the chunk answers.
        while lo < learntIndex.count && learntIndex[lo].prefix == d.prefix {
            let r = entry(learntIndex[lo].at)
            if r.packedId == key { return r }
            lo += 1
        }
        return nil
    }
    /// Chunks whose lock this backup already extended to the point's retain-until (as
    /// `PackedHex`: a 1 TiB point reuses ~650,000 chunks with their chains, millions of ids).
    private var extended: Set<PackedHex> = []
    /// How a chunk is recognised by the next backup (`ChunkRef.head`, `sketch`, `cut`).
    public struct Marks: Sendable {
        public var head: String?
        public var sketch: String?
        public var cut: String?
        public init(head: String?, sketch: String?, cut: String?) { self.head = head; self.sketch = sketch; self.cut = cut }
    }

    /// The entry of chunk `id` in a previous point's list that `learn` was given, if any: a
    /// chunk of the previous point seen again takes its marks from it, with no pass over its
    /// bytes. (The marks of chunks this backup stored are not kept: only a chunk repeated
    /// within one backup would use them, at the price of ~350 bytes a chunk for all others.)
    public func learntEntry(_ id: String) -> ChunkRef? {
        lock.lock(); defer { lock.unlock() }
        return learntRef(id)
    }

    /// Whether new deltas are op deltas (codec 4, vaults of format 4 and later) or zstd deltas
    /// (codec 2/3, earlier formats, whose readers know no codec 4).
    public let opDeltas: Bool

    public init(storage: any Storage, maxDepth: Int = VaultConfig.defaultDeltaDepth, opDeltas: Bool = true) {
        self.storage = storage
        self.maxDepth = max(1, maxDepth)
        self.opDeltas = opDeltas
    }

    public struct Result: Sendable {
        public var storedBytes: Int64
        public var isNew: Bool
        /// What the store holds for the chunk: the new manifest entry shares its chain's
        /// storage instead of packing its own copy (~350 bytes a chunk with 11-deep chains,
        /// ~230 MB for the deltas of a 1 TiB point).
        fileprivate let known: Known
        public var depth: Int { known.depth }
        /// The chunk's delta base, then the rest of its chain packed, down to the full chunks at
        /// the roots (nil: a full chunk).
        public var packedBase: PackedHex? { known.base }
        public var packedChain: ChunkIds? { known.chain }
        /// Every chunk needed to read this one, base first, as strings. Empty for a full chunk.
        public var bases: [String] { known.bases }

        fileprivate init(storedBytes: Int64, isNew: Bool, _ k: Known) {
            self.storedBytes = storedBytes; self.isNew = isNew; known = k
        }
    }

    /// Tells the store what it can take for granted about chunks an earlier point wrote (saves
    /// reading them to learn their chains).
    public func learn(_ refs: [ChunkRef]) {
        lock.lock(); defer { lock.unlock() }
        let list = UInt64(learnt.count)
        learnt.append(refs)
        learntIndex.reserveCapacity(learntIndex.count + refs.count)
        for (i, r) in refs.enumerated() {
            let at = list << 32 | UInt64(i)
            if let d = r.packedId.digest { learntIndex.append((d.prefix, at)) } else if learntOdd[r.id] == nil { learntOdd[r.id] = at }
        }
        learntIndex.sort { ($0.prefix, $0.at) < ($1.prefix, $1.at) }
    }

    /// Drops what `learn` and the stores so far taught (when every file is written: the
    /// commit needs none of it, and for a 1 TiB database it is hundreds of MB).
    public func forgetLearnt() {
        lock.lock(); defer { lock.unlock() }
        known = [:]
        learnt = []
        learntIndex = []
        learntOdd = [:]
        extended = []
    }

    /// Stores one chunk unless the vault already has it. With `delta` (the chunks of the
    /// previous point that this one most likely evolved from, usually one, two when this chunk
    /// spans two old ones, and a cache that decodes chunks), a new chunk is stored as a zstd
    /// delta against them when that is under four fifths of the size of storing it whole.
    /// Chains grow by one step per point up to `maxDepth`; a chunk whose base is already
    /// `maxDepth` deep is encoded against the root of the first candidate's chain instead
    /// (depth 1 again), so no chain ever gets longer and no point pays for a full copy.
    public func store(id: String, plain: UnsafeRawBufferPointer, compressor: Compressor,
                      delta: (candidates: [ChunkRef], bases: BaseCache)? = nil) throws -> Result {
        lock.lock()
        let seen = known[PackedHex(id)] ?? learntRef(id).map(Known.init)
        lock.unlock()
        if let seen {
            try extend([id] + seen.bases)   // reused by this point: keep it (and its chain) as long
            return Result(storedBytes: 0, isNew: false, seen)
        }
        let key = ChunkCodec.key(for: id)
        if let local = storage as? LocalStorage, let size = try local.size(key), size < Int64(ChunkCodec.headerSize) {
            // A chunk file left empty or short by a power loss before the durability barrier
            // (link(2) without fsync): never dedup against it, write it again.
            try local.delete(key)
        }
        if try storage.exists(key) { return try reuse(id) }

        var object = compressor.encode(plain)
        var bases: [String] = []
        var depth = 0
        var shared: Known?
        var targets = delta?.candidates.filter { $0.id != id } ?? []
        if let delta, !targets.isEmpty {
            if (targets.map(\.depth).max() ?? 0) >= maxDepth {
                // Against the root of the first candidate's chain, if its header confirms it is
                // a full chunk; else whole.
                if let root = targets[0].bases.last, (try? headerBases(root))??.isEmpty == true {
                    targets = [ChunkRef(id: root, size: 0)]
                } else {
                    targets = []
                }
            }
            var needed: [String] = []
            for t in targets { for b in [t.id] + t.bases where !needed.contains(b) { needed.append(b) } }
            if !targets.isEmpty, !needed.contains(id), let reference = readableReference(targets.map(\.id), delta.bases) {
                if let d = compressor.encodeDelta(plain, base: reference, baseIds: targets.map(\.id), limit: object.count * 4 / 5, ops: opDeltas) {
                    object = d
                    bases = needed
                    depth = 1 + (targets.map(\.depth).max() ?? 0)
                    if targets.count == 1, let base = targets[0].packedBase {
                        // One base (the usual case): the chain is its base, then its own chain,
                        // shared rather than copied (`ChunkIds(prepending:to:)`).
                        let chain = ChunkIds(prepending: base, to: targets[0].packedChain ?? ChunkIds([]))
                        shared = Known(base: targets[0].packedId, chain: chain, depth: depth)
                    }
                    // Every chunk it needs must live (and stay locked) at least as long as this one.
                    try extend(needed)
                }
            }
        }
        do {
            try storage.put(key, object, mode: .createOnly)
        } catch let e as VaultError where e.code == .objectExists {
            return try reuse(id)   // another job of this backup (or another backup) stored it first
        }
        let k = remember(id, shared ?? Known(bases: bases, depth: depth), extended: true)
        return Result(storedBytes: Int64(object.count), isNew: true, k)
    }

    /// The bytes a new chunk would be delta-encoded against (the concatenation of `ids`), or
    /// nil when one of them cannot be read (missing or damaged: the vault needs a `verify`):
    /// the chunk is then stored whole, and the backup goes on. A backup is worth most when the
    /// vault is damaged; it must never depend on an old chunk being intact.
    private func readableReference(_ ids: [String], _ bases: BaseCache) -> Data? {
        do { return try ChunkCodec.reference(ids) { try bases.plaintext($0) } }
        catch let e as VaultError where e.code == .corrupt || e.code == .objectMissing {
            lock.lock()
            if unreadable.count < 16 { unreadable.append(e.location ?? ids.joined(separator: " + ")) }
            unreadableCount += 1
            lock.unlock()
            return nil
        } catch {
            return nil
        }
    }
    private var unreadable: [String] = []
    private var unreadableCount = 0

    /// Delta bases this backup could not read (so it stored those chunks whole): how many
    /// times, and the first few objects named.
    public var unreadableBases: (count: Int, objects: [String]) {
        lock.lock(); defer { lock.unlock() }
        return (unreadableCount, unreadable)
    }

    /// An existing chunk no manifest told us about: learn what it needs from the object
    /// headers (breadth first, nearest first), and keep it and all of that as long as this point.
    private func reuse(_ id: String) throws -> Result {
        var bases: [String] = []
        var depth = 0   // the longest path down to a full chunk
        var level = try headerBases(id) ?? []
        var distance = 0
        while !level.isEmpty && distance < BaseCache.maxChain {
            distance += 1
            var next: [String] = []
            for b in level where !bases.contains(b) {
                bases.append(b)
                lock.lock(); let k = known[PackedHex(b)] ?? learntRef(b).map(Known.init); lock.unlock()
                if let k {
                    for x in k.bases where !bases.contains(x) { bases.append(x) }
                    depth = max(depth, distance + k.depth)
                } else {
                    let below = try headerBases(b) ?? []
                    if below.isEmpty { depth = max(depth, distance) }
                    next += below
                }
            }
            level = next
        }
        try extend([id] + bases)
        let k = remember(id, Known(bases: bases, depth: depth), extended: false)
        return Result(storedBytes: 0, isNew: false, k)
    }

    /// The bases a stored chunk's object header names (empty: a full chunk; nil: a cut-short
    /// header).
    private func headerBases(_ id: String) throws -> [String]? {
        ChunkCodec.baseIds(of: try storage.get(ChunkCodec.key(for: id)))
    }

    /// Queues each chunk not yet extended by this backup for a lock extension (S3 Object Lock;
    /// a no-op on other storages); `extendLocks()` does them, before the manifest is committed.
    /// `ids` is only evaluated on such a storage: a reused chunk's chain is not spelled out
    /// as strings for nothing.
    private func extend(_ ids: @autoclosure () -> [String]) throws {
        guard storage is LockingStorage else { return }
        let ids = ids()
        lock.lock()
        pendingLocks += ids.filter { extended.insert(PackedHex($0)).inserted }
        let due = pendingLocks.count >= 4096 ? pendingLocks : []
        if !due.isEmpty { pendingLocks = [] }
        lock.unlock()
        if !due.isEmpty { try extendNow(due) }
    }
    private var pendingLocks: [String] = []

    /// Extends the Object Lock retention of every chunk this backup reused, and of every link of
    /// their chains, to the point's retain-until: one request or two per object (read the
    /// retention, raise it), so eight at a time. Call before committing the manifest.
    public func extendLocks() throws {
        lock.lock()
        let due = pendingLocks
        pendingLocks = []
        lock.unlock()
        try extendNow(due)
    }

    private func extendNow(_ ids: [String]) throws {
        let storage = self.storage
        try ObjectLock.parallel(ids) { try ObjectLock.extendChunk(storage, key: ChunkCodec.key(for: $0)) }
    }

    /// Room in the table of chunks for `chunks` more (a file about to be written), reserved
    /// at once rather than grown by rehashing (see `FileWriter.expectedSize`).
    public func expect(chunks: Int) {
        lock.lock(); defer { lock.unlock() }
        if known.capacity < known.count + chunks { known.reserveCapacity(known.count + chunks) }
    }

    /// Room in the table of chunks (tests).
    var knownCapacity: Int { lock.lock(); defer { lock.unlock() }; return known.capacity }

    /// The chain the store holds for chunk `id` (tests).
    func knownChain(_ id: String) -> ChunkIds? {
        lock.lock(); defer { lock.unlock() }
        return known[PackedHex(id)]?.chain
    }

    @discardableResult
    private func remember(_ id: String, _ k: Known, extended isExtended: Bool) -> Known {
        lock.lock()
        known[PackedHex(id)] = k
        if isExtended && storage is LockingStorage { extended.insert(PackedHex(id)) }   // (only locks need it)
        lock.unlock()
        return k
    }
}

/// Where a backup looks for delta bases: the same database's dump in the previous point.
///
/// Each chunk carries a sketch: the 8 smallest values of a 64-byte rolling hash over its
/// content (bottom-k min-hash), so two chunks that share much content share sketch values
/// wherever that content sits in them. A new chunk takes as base the old chunk that shares
/// the most sketch values with it; ties, and chunks that share none, fall back to place:
/// the old chunk with the same `head` (16 bytes near its start, past any run of one repeated
/// byte) nearest the expected offset, else the old chunk covering the expected offset. The
/// expected offset is the new chunk's offset shifted by the drift between the two dumps, learnt
/// at the last match (rows inserted or deleted earlier in the dump move everything after them).
public final class DeltaSource {
    /// Old chunks by a hash of their `head` and by each of their sketch values: one sorted
    /// array each, not dictionaries of arrays (~100 bytes an entry), since a 1 TiB dump has
    /// ~650,000 chunks and so ~5 million sketch values. An entry is one `UInt64`: the key's
    /// low `64 - indexBits` bits above the chunk's index (`indexBits` just enough for the
    /// list: 20 for 650,000 chunks), 8 bytes where a (key, index) pair took 16 (~40 MB at
    /// 1 TiB, and as much again while it is sorted). Keys that differ only in their top bits
    /// file together: the low bits are the varied ones (sketch values are the smallest of a
    /// chunk's hashes, so their top bits are mostly zero; head keys are FNV hashes), and a
    /// look-alike costs at most a stray vote (a head is confirmed against the chunk's head).
    private var byHead: [UInt64] = []
    private var bySketch: [UInt64] = []
    private let indexBits: Int
    private var offsets: [Int64] = []
    /// The previous point's chunk list (shared with its manifest, not copied).
    private let refs: [ChunkRef]
    /// How many chunks the previous point's dump has.
    public var count: Int { refs.count }
    /// Old offset minus new offset at the last match.
    private var drift: Int64 = 0
    /// The previous point's cut hashes (`Chunker.cut`'s `align`).
    public private(set) var cuts: Set<UInt64> = []
    let bases: BaseCache

    public init(previous: FileEntry, storage: any Storage) {
        refs = previous.chunks
        indexBits = max(1, Int.bitWidth - max(refs.count - 1, 0).leadingZeroBitCount)
        var offset: Int64 = 0
        offsets.reserveCapacity(refs.count)
        // Sized once (up to `sketchSize` values a chunk): appended to, the arrays were copied
        // each time they doubled, old and new buffer alive together (~100 MB at 1 TiB).
        byHead.reserveCapacity(refs.count)
        bySketch.reserveCapacity(refs.count * Self.sketchSize)
        for (i, r) in refs.enumerated() {
            let index = UInt64(i)
            if let h = r.head { byHead.append(Self.headKey(h) << indexBits | index) }
            for v in r.sketchValues ?? Self.sketchValues(r.sketch) { bySketch.append(v << indexBits | index) }
            if let c = r.cut, let v = UInt64(c, radix: 16) { cuts.insert(v) }
            offsets.append(offset)
            offset += Int64(r.size)
        }
        byHead.sort()
        bySketch.sort()
        bases = BaseCache(storage: storage)
    }

    /// The indexes of the old chunks filed under `key` in `entries`, in chunk order: all of
    /// them, or, when more than `window` chunks share the key (content repeated all over the
    /// dump, which says little about where a chunk came from), the `window` nearest to chunk
    /// `near`. Without that bound a dump of repetitive rows made every chunk tally votes for
    /// thousands of old ones: 480,000 small chunks of a pgbench dump took over ten minutes.
    static let window = 32
    private func indexes(of key: UInt64, in entries: [UInt64], near: Int) -> [Int] {
        let bits = indexBits, mask: UInt64 = (1 << bits) - 1
        let k = (key << bits) >> bits   // the bits an entry keeps
        var lo = entries.partitionPoint { $0 >> bits < k }
        var hi = entries.partitionPoint(in: lo..<entries.count) { $0 >> bits <= k }
        if hi - lo > Self.window {
            // Equal keys are sorted by index: start half a window before the first at `near`.
            let at = entries.partitionPoint(in: lo..<hi) { Int($0 & mask) < near }
            lo = max(lo, min(at - Self.window / 2, hi - Self.window))
            hi = lo + Self.window
        }
        return (lo..<hi).map { Int(entries[$0] & mask) }
    }
    /// How many (chunk, vote) pairs the last `candidates` call tallied (tests bound it).
    private(set) var lastTally = 0

    /// A 64-bit key for a head (FNV-1a of its text); equal keys are confirmed against the head.
    private static func headKey(_ head: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for c in head.utf8 { h = (h ^ UInt64(c)) &* 0x100_0000_01b3 }
        return h
    }

    static let sketchSize = 8
    /// Fixed seed: sketches must compare across backups (and vaults).
    private static let gear = Chunker.gearTable(seed: 0x5045_4756_4155_4C54)

    /// The sketch of a chunk, as stored in `ChunkRef.sketch`: the `sketchSize` smallest
    /// distinct values of the gear rolling hash over the chunk (each covers the 64 bytes ending
    /// at its position, hashed from the chunk's start), as 16 hex digits each, ascending.
    ///
    /// The hash is a serial chain (each value needs the one before), which made this loop 13 %
    /// of a first backup's CPU. A gear hash forgets a byte 64 positions later, so the chunk is
    /// hashed in four lanes, each started 64 bytes early, interleaved: four independent chains
    /// the CPU runs side by side, giving exactly the values of one pass (`sketchOnePass`, kept
    /// for the test that says so).
    public static func sketch(_ chunk: UnsafeRawBufferPointer) -> String {
        var smallest = [UInt64](repeating: .max, count: sketchSize)
        var threshold = UInt64.max   // smallest[sketchSize - 1], kept in a register
        smallest.withUnsafeMutableBufferPointer { sm in
            @inline(__always) func offer(_ fp: UInt64) {
                guard fp < threshold, !sm.contains(fp) else { return }
                var j = sketchSize - 1
                while j > 0 && sm[j - 1] > fp { sm[j] = sm[j - 1]; j -= 1 }
                sm[j] = fp
                threshold = sm[sketchSize - 1]
            }
            gear.withUnsafeBufferPointer { g in
                let p = chunk.bindMemory(to: UInt8.self)
                guard let b = p.baseAddress, let gb = g.baseAddress else { return }
                let n = p.count
                let lane = n / 4
                guard lane > 64 else {
                    var fp: UInt64 = 0
                    for i in 0..<n { fp = (fp << 1) &+ gb[Int(b[i])]; offer(fp) }
                    return
                }
                // Lane k covers [k * lane, (k + 1) * lane); the last one also the remainder.
                var f0: UInt64 = 0, f1: UInt64 = 0, f2: UInt64 = 0, f3: UInt64 = 0
                for i in (lane - 64)..<lane {   // warm-up: the 64 bytes before lanes 1-3
                    f1 = (f1 << 1) &+ gb[Int(b[i])]
                    f2 = (f2 << 1) &+ gb[Int(b[lane + i])]
                    f3 = (f3 << 1) &+ gb[Int(b[2 * lane + i])]
                }
                for i in 0..<lane {
                    f0 = (f0 << 1) &+ gb[Int(b[i])]
                    f1 = (f1 << 1) &+ gb[Int(b[lane + i])]
                    f2 = (f2 << 1) &+ gb[Int(b[2 * lane + i])]
                    f3 = (f3 << 1) &+ gb[Int(b[3 * lane + i])]
                    if f0 < threshold { offer(f0) }
                    if f1 < threshold { offer(f1) }
                    if f2 < threshold { offer(f2) }
                    if f3 < threshold { offer(f3) }
                }
                for i in (4 * lane)..<n { f3 = (f3 << 1) &+ gb[Int(b[i])]; offer(f3) }
            }
        }
        return sketchText(smallest)
    }

    /// The sketch values (ascending; `.max` for none) as `ChunkRef.sketch` holds them.
    private static func sketchText(_ smallest: [UInt64]) -> String {
        var out = ""
        for v in smallest where v != .max {
            let h = String(v, radix: 16)
            out += String(repeating: "0", count: 16 - h.count) + h
        }
        return out
    }

    /// `sketch` computed in one serial pass: the definition, which tests hold `sketch` to.
    public static func sketchOnePass(_ chunk: UnsafeRawBufferPointer) -> String {
        var smallest = [UInt64](repeating: .max, count: sketchSize)
        var fp: UInt64 = 0
        for byte in chunk {
            fp = (fp << 1) &+ gear[Int(byte)]
            if fp < smallest[sketchSize - 1], !smallest.contains(fp) {
                smallest[sketchSize - 1] = fp
                smallest.sort()
            }
        }
        return sketchText(smallest)
    }

    /// The values of a sketch as `sketch` writes it (a value that is not 16 hex digits is skipped).
    static func sketchValues(_ sketch: String?) -> [UInt64] {
        guard var sketch else { return [] }
        return sketch.withUTF8 { u -> [UInt64] in
            var out: [UInt64] = []
            out.reserveCapacity(u.count / 16)
            var at = 0
            while at + 16 <= u.count {
                var v: UInt64 = 0, bad = false
                for c in u[at..<(at + 16)] {
                    let d: UInt8
                    switch c {
                    case 48...57: d = c - 48
                    case 97...102: d = c - 87
                    case 65...70: d = c - 55
                    default: d = 0; bad = true
                    }
                    v = v << 4 | UInt64(d)
                }
                if !bad { out.append(v) }
                at += 16
            }
            return out
        }
    }

    /// The 16 bytes a chunk is recognised by: the first 16-byte window, within its first 4 KiB,
    /// that starts right after a change of byte value and holds at least four distinct bytes;
    /// the first 16 bytes when there is none.
    public static func anchor(_ chunk: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let n = chunk.count
        guard n > 16 else { return chunk }
        let p = chunk.bindMemory(to: UInt8.self)
        var i = 0
        let end = min(n - 16, 4096)
        while i <= end {
            if i == 0 || p[i] != p[i - 1] {
                var seen = Set<UInt8>()
                for j in i..<(i + 16) { seen.insert(p[j]) }
                if seen.count >= 4 { return UnsafeRawBufferPointer(rebasing: chunk[i..<(i + 16)]) }
            }
            i += 1
        }
        return UnsafeRawBufferPointer(rebasing: chunk[0..<16])
    }

    /// The old chunks a new chunk of `length` bytes at `offset` is delta-encoded against: the
    /// best match, and when the new chunk is more than a quarter longer than it (an old boundary
    /// vanished: a row across it changed, and the new chunk spans two old ones), also the old
    /// neighbour on the side that shares more sketch values with it.
    func candidates(head: String, sketch: String, offset: Int64, length: Int) -> [ChunkRef] {
        guard !refs.isEmpty else { return [] }
        let expected = offset + drift
        func nearest(_ a: Int, _ b: Int) -> Bool { abs(offsets[a] - expected) < abs(offsets[b] - expected) }
        // The chunk of the previous dump covering the expected offset (the first when none does).
        let covering = max(0, offsets.partitionPoint { $0 <= expected } - 1)
        var votes: [Int: Int] = [:]
        lastTally = 0
        for v in Self.sketchValues(sketch) {
            for i in indexes(of: v, in: bySketch, near: covering) { votes[i, default: 0] += 1; lastTally += 1 }
        }
        var matched: Int?
        if let top = votes.values.max() {
            let best = votes.filter { $0.value == top }.map(\.key)
            if best.count == 1 || top > 1 { matched = best.min(by: nearest) }
        }
        if matched == nil {
            let heads = indexes(of: Self.headKey(head), in: byHead, near: covering)
            lastTally += heads.count
            matched = heads.filter { refs[$0].head == head }.min(by: nearest)
        }
        let c: Int
        if let matched {
            c = matched
            drift = offsets[c] - offset
        } else {
            c = covering
        }
        guard length * 4 > refs[c].size * 5 else { return [refs[c]] }
        let before = c > 0 ? votes[c - 1, default: 0] : -1
        let after = c + 1 < refs.count ? votes[c + 1, default: 0] : -1
        if after < 0 && before < 0 { return [refs[c]] }
        return after >= before ? [refs[c], refs[c + 1]] : [refs[c - 1], refs[c]]
    }
}

/// Streams one file into the vault: content-defined chunks, SHA-256 per chunk and over the
/// whole file, zstd per chunk. Its buffer is at most twice the maximum chunk size.
public final class FileWriter {
    private let store: ChunkStore
    private let chunker: Chunker
    private let compressor: Compressor
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var hasher = FileHasher()
    public private(set) var size: Int64 = 0
    public private(set) var chunks: [ChunkRef] = []
    public private(set) var storedBytes: Int64 = 0
    public private(set) var newChunks = 0
    /// Called after each chunk with its plaintext length (progress).
    public var onChunk: ((Int) -> Void)?
    /// Delta bases from the previous point of the same database (nil: full chunks only).
    public var delta: DeltaSource?
    /// How large the input is expected to be (the backup sets the database's size): the chunk
    /// list and the store's table of chunks reserve room for that many chunks at once, instead
    /// of growing, which copies them with the old and the new storage both alive (a first
    /// backup of pgbench -s 50 in 1/2/16 KiB chunks peaked at 189–199 MB growing them, at
    /// 161 MB with them reserved). Room never written to is address space, not memory, so an
    /// estimate over the dump's size costs nothing.
    public var expectedSize: Int64 = 0

    public init(store: ChunkStore, chunker: Chunker, compressor: Compressor) {
        self.store = store
        self.chunker = chunker
        self.compressor = compressor
        // Grown on demand up to twice the largest chunk (a database.sql or roles.sql file
        // never needs 16 MiB), and given back by `finish()`.
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(1 << 20, 2 * chunker.params.maxSize), alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// Fills the buffer from `read` (a read(2)-like closure returning 0 at end of input) until
    /// the input ends, cutting and storing chunks as they complete.
    public func consume(_ read: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        while true {
            if end == buffer.count { try makeRoom() }
            let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            if n == 0 { break }
            end += n
            try cutFullChunks()
        }
    }

    /// Appends bytes (small files, tests).
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            if end == buffer.count { try makeRoom() }
            let n = min(bytes.count - offset, buffer.count - end)
            UnsafeMutableRawBufferPointer(rebasing: buffer[end..<(end + n)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
            end += n
            offset += n
            try cutFullChunks()
        }
    }

    public func append(_ data: Data) throws {
        try data.withUnsafeBytes { try append($0) }
    }

    /// Stores what is left and returns the file's entry fields.
    public func finish() throws -> (size: Int64, sha256: String, chunks: [ChunkRef]) {
        while end > start {
            let len = chunker.cut(UnsafeRawBufferPointer(rebasing: buffer[start..<end]), align: delta?.cuts)
            try emit(len)
        }
        buffer.deallocate()
        buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        return (size, hasher.finalize(), chunks)
    }

    private func cutFullChunks() throws {
        let max = chunker.params.maxSize
        while end - start >= max {
            let len = chunker.cut(UnsafeRawBufferPointer(rebasing: buffer[start..<(start + max)]), align: delta?.cuts)
            try emit(len)
        }
    }

    /// Called with the buffer full to its end: moves the unread bytes to its start, then, if it
    /// is still full, grows it (up to twice the largest chunk) or cuts the chunks it holds.
    private func makeRoom() throws {
        let live = end - start
        if start > 0 {
            if live > 0, let base = buffer.baseAddress {
                base.copyMemory(from: base.advanced(by: start), byteCount: live)
            }
            start = 0
            end = live
        }
        guard end == buffer.count else { return }
        let limit = 2 * chunker.params.maxSize
        if buffer.count < limit {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: min(limit, max(1, 2 * buffer.count)), alignment: 64)
            if end > 0 { UnsafeMutableRawBufferPointer(rebasing: grown[0..<end]).copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<end])) }
            buffer.deallocate()
            buffer = grown
        } else {
            try cutFullChunks()
            try makeRoom()
        }
    }

    private func emit(_ len: Int) throws {
        let piece = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + len)])
        let id = hasher.chunk(piece)
        let learnt = store.learntEntry(id)
        let m = learnt.flatMap { $0.sketch == nil ? nil : ChunkStore.Marks(head: $0.head, sketch: $0.sketch, cut: $0.cut) }
            ?? ChunkStore.Marks(head: Hex.encode(DeltaSource.anchor(piece)), sketch: DeltaSource.sketch(piece),
                                                        cut: chunker.cutHash(piece).map { String($0, radix: 16) })
        var candidate: (candidates: [ChunkRef], bases: BaseCache)?
        if let delta {
            candidate = (delta.candidates(head: m.head ?? "", sketch: m.sketch ?? "", offset: size, length: len), delta.bases)
        }
        let r = try store.store(id: id, plain: piece, compressor: compressor, delta: candidate)
        if chunks.count == chunks.capacity {
            // Room for half as many chunks again as the previous point's dump has, reserved at
            // once: capacity never written to is address space, not memory, while growing
            // copies the list (a 1 TiB dump's ~650,000 entries are ~160 MB) with the old and
            // the new buffer both alive. A dump of the same database rarely grows past it.
            let previous = delta?.count ?? 0
            // At most 2^24 entries (16 TiB in 1 MiB chunks) from an estimate.
            let expected = Int(min(expectedSize / Int64(max(1, chunker.params.avgSize)), 1 << 24))
            if chunks.isEmpty { store.expect(chunks: max(previous, expected)) }
            chunks.reserveCapacity(max(64, chunks.count * 3 / 2, chunks.isEmpty ? max(previous * 3 / 2, expected) : 0))
        }
        if !r.isNew, let same = learnt, same.size == len, same.sketch != nil {
            // A chunk of the previous point again: its entry as that manifest has it (what
            // would be built here from it), sharing its chain's and sketch's storage instead
            // of a copy of each (~450 bytes a chunk with 11-deep chains).
            chunks.append(same)
        } else {
            chunks.append(ChunkRef(id: id, size: len, base: r.packedBase, chain: r.packedChain, depth: r.depth,
                                   head: m.head, sketch: m.sketch, cut: m.cut))
        }
        size += Int64(len)
        storedBytes += r.storedBytes
        if r.isNew { newChunks += 1 }
        start += len
        onChunk?(len)
    }
}

extension RandomAccessCollection where Index == Int {
    /// The first index in `range` (all of the collection by default) whose element is not
    /// `below`, the elements there being ordered so that all `below` ones come first: a binary
    /// search (the lower bound of a sorted array, with `below` = "less than the key").
    func partitionPoint(in range: Range<Int>? = nil, _ below: (Element) -> Bool) -> Int {
        var lo = range?.lowerBound ?? startIndex, hi = range?.upperBound ?? endIndex
        while lo < hi {
            let mid = (lo + hi) / 2
            if below(self[mid]) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
