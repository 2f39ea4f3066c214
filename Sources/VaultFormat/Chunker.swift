/// Content-defined chunking (FastCDC-style gear hash with normalized chunking).
///
/// Boundaries depend only on the bytes around them, so inserting or removing bytes early in
/// a dump moves only the boundaries near the edit; later chunks keep their ids and dedup.
/// Parameters are recorded in vault.json (`chunker`); a vault always cuts with its own.
public struct ChunkerParams: Codable, Equatable, Sendable {
    public var algorithm: String
    public var minSize: Int
    public var avgSize: Int
    public var maxSize: Int
    public var seed: UInt64

    public static let v1 = ChunkerParams(algorithm: "gear-fastcdc-v1", minSize: 512 * 1024,
                                         avgSize: 1024 * 1024, maxSize: 8 * 1024 * 1024,
                                         seed: 0x7067_7661_756c_7431)  // "pgvault1"

    public init(algorithm: String, minSize: Int, avgSize: Int, maxSize: Int, seed: UInt64) {
        self.algorithm = algorithm; self.minSize = minSize; self.avgSize = avgSize
        self.maxSize = maxSize; self.seed = seed
    }
}

public struct Chunker: Sendable {
    public let params: ChunkerParams
    private let gear: [UInt64]
    private let maskSmall: UInt64
    private let maskLarge: UInt64

    public init(_ params: ChunkerParams) {
        self.params = params
        // Gear table from splitmix64(seed): fixed for a vault, documented in FORMAT.md.
        gear = Self.gearTable(seed: params.seed)
        // Normalized chunking (level 2): a harder mask before the average size, an easier one
        // after. The gear hash shifts left, so the high bits carry the most context: use them.
        let bits = max(1, Int(Double(params.avgSize).log2Rounded))
        maskSmall = ~UInt64(0) << UInt64(64 - min(63, bits + 2))
        maskLarge = ~UInt64(0) << UInt64(64 - max(1, bits - 2))
    }

    /// The 256 first outputs of splitmix64 seeded with `seed`: the table of a gear rolling hash
    /// (the chunker's, and the delta sketches' with their own fixed seed).
    static func gearTable(seed: UInt64) -> [UInt64] {
        var state = seed
        return (0..<256).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Length of the next chunk at the start of `data`. With `final == false` the caller
    /// must pass at least `maxSize` bytes (or everything that is left).
    ///
    /// `align`: the cut hashes (`cutHash`) of the previous point's chunks of the same file.
    /// A position whose rolling hash is one of them is the cut, from `alignMinSize` on: the
    /// previous dump was cut there, and cutting the new one at the same content keeps the two
    /// point's chunks one-to-one, so each new chunk finds all of its old content in one base.
    /// (Without it, rows deleted earlier in a chunk move a boundary from the easy-mask zone past
    /// the average size into the hard-mask zone, the boundary vanishes, and the merged chunk
    /// has half its content in a chunk it cannot reference.)
    public func cut(_ data: UnsafeRawBufferPointer, align: Set<UInt64>? = nil) -> Int {
        let n = data.count
        if let align, !align.isEmpty {
            if n <= alignMinSize { return n }
            return cutAligned(data, align)
        }
        if n <= params.minSize { return n }
        let limit = min(n, params.maxSize)
        let normal = min(limit, params.avgSize)
        var fp: UInt64 = 0
        var i = params.minSize
        return gear.withUnsafeBufferPointer { g -> Int in
            let p = data.bindMemory(to: UInt8.self)
            while i < normal {
                fp = (fp << 1) &+ g[Int(p[i])]
                if fp & maskSmall == 0 { return i + 1 }
                i += 1
            }
            while i < limit {
                fp = (fp << 1) &+ g[Int(p[i])]
                if fp & maskLarge == 0 { return i + 1 }
                i += 1
            }
            return limit
        }
    }

    /// Smallest chunk an aligned cut makes: rows deleted since the previous point can make the
    /// old content between two of its boundaries shorter than `minSize`; shorter than this, the
    /// boundary is dropped and the two old chunks' content merges into one new chunk.
    public var alignMinSize: Int { params.minSize / 2 }

    /// The first position holding one of the previous point's cut hashes, when there is one
    /// within `maxSize`; else the ordinary content-defined cut. Preferring old boundaries over new
    /// ones keeps the number of chunks stable from point to point (new boundaries appear only
    /// in new content).
    private func cutAligned(_ data: UnsafeRawBufferPointer, _ align: Set<UInt64>) -> Int {
        let limit = min(data.count, params.maxSize)
        var fp: UInt64 = 0
        var i = max(0, alignMinSize - 64)   // 64 bytes of warm-up: the hash covers a 64-byte window
        let found: Int? = gear.withUnsafeBufferPointer { g in
            let p = data.bindMemory(to: UInt8.self)
            while i < alignMinSize { fp = (fp << 1) &+ g[Int(p[i])]; i += 1 }
            while i < limit {
                fp = (fp << 1) &+ g[Int(p[i])]
                if fp & maskLarge == 0 && align.contains(fp) { return i + 1 }
                i += 1
            }
            return nil
        }
        return found ?? cut(data)
    }

    /// The rolling hash at the end of a chunk (over its last 64 bytes) when the chunk ends at a
    /// content-defined boundary there, nil otherwise (a forced cut at `maxSize`, or the end of
    /// the file). Recorded in the manifest (`ChunkRef.cut`) for the next point's `align`.
    public func cutHash(_ chunk: UnsafeRawBufferPointer) -> UInt64? {
        guard chunk.count >= 64 else { return nil }
        var fp: UInt64 = 0
        gear.withUnsafeBufferPointer { g in
            for b in UnsafeRawBufferPointer(rebasing: chunk[(chunk.count - 64)...]) { fp = (fp << 1) &+ g[Int(b)] }
        }
        return fp & maskLarge == 0 ? fp : nil
    }
}

extension Double {
    fileprivate var log2Rounded: Double {
        var v = self, b = 0.0
        while v >= 2 { v /= 2; b += 1 }
        return b
    }
}
