public import Foundation
import CZstd
import CSystemShims
import Crypto
import VaultCore

/// Chunk objects (`chunks/<id[0..2]>/<id>`): a 12-byte header then the payload.
///
///     offset size  field
///     0      4     magic "PGVC"
///     4      1     header version (1)
///     5      1     codec: 0 = stored as is, 1 = zstd frame, 2 = delta: a 32-byte base chunk
///                  id (binary SHA-256) then a zstd frame compressed with the base chunk's
///                  plaintext as reference prefix (`ZSTD_CCtx_refPrefix`); 3 = delta against
///                  several bases: a count byte n (2...4), n 32-byte base ids, then a zstd
///                  frame whose reference prefix is the bases' plaintexts concatenated in order;
///                  4 = op delta (format 4): a count byte n (1...4), n base ids, a 4-byte
///                  little-endian length k, a zstd frame of k bytes holding the copy
///                  operations over the bases (`pgv_delta.h`), then a zstd frame of the literals
///     6      2     reserved, zero
///     8      4     plaintext length, unsigned little-endian
///     12     ...   payload
///
/// The id is the lowercase hex SHA-256 of the plaintext; decoding always re-hashes.
public enum ChunkCodec {
    public static let magic: [UInt8] = Array("PGVC".utf8)
    public static let headerSize = 12

    public enum Codec: UInt8, Sendable { case stored = 0, zstd = 1, delta = 2, multiDelta = 3, opDelta = 4 }
    public static let maxBases = 4

    /// The base chunk ids of a delta object, empty for a full chunk (reads the header only);
    /// nil when a delta header is cut short.
    public static func baseIds(of object: Data) -> [String]? {
        guard object.count >= headerSize + 1 else { return object.count >= headerSize ? [] : nil }
        let s = object.startIndex
        switch object[s + 5] {
        case Codec.delta.rawValue:
            guard object.count >= headerSize + 32 else { return nil }
            return [Hex.encode(object[(s + headerSize)..<(s + headerSize + 32)])]
        case Codec.multiDelta.rawValue, Codec.opDelta.rawValue:
            let n = Int(object[s + headerSize])
            guard (object[s + 5] == Codec.opDelta.rawValue ? 1...maxBases : 2...maxBases).contains(n), object.count >= headerSize + 1 + 32 * n else { return nil }
            return (0..<n).map { i in
                let from = s + headerSize + 1 + 32 * i
                return Hex.encode(object[from..<(from + 32)])
            }
        default:
            return []
        }
    }

    /// The reference prefix of a delta against `baseIds`: their plaintexts, concatenated in
    /// order (a single base as it is, not copied).
    static func reference(_ baseIds: [String], _ plaintext: (String) throws -> Data) rethrows -> Data {
        if baseIds.count == 1 { return try plaintext(baseIds[0]) }
        var out = Data()
        for id in baseIds { out.append(try plaintext(id)) }
        return out
    }

    /// Bytes before the zstd frame of a delta object (codec 2 or 3; codec 4 always has the count).
    static func deltaPrefixSize(bases: Int, codec: Codec = .delta) -> Int { bases == 1 && codec != .opDelta ? 32 : 1 + 32 * bases }

    /// The codec byte of a chunk object (nil when it is shorter than its header).
    public static func codec(of object: Data) -> UInt8? {
        object.count >= headerSize ? object[object.startIndex + 5] : nil
    }

    /// The two frames of an op delta (codec 4), decompressed into malloc'd buffers the caller
    /// frees: the operations and the literals. Bounded by what a chunk of `length` bytes can need.
    static func opFrames(_ object: Data, bases: Int, length: Int, decompressor: Decompressor) throws
        -> (ops: UnsafeMutableRawBufferPointer, lits: UnsafeMutableRawBufferPointer) {
        let payload = object.dropFirst(headerSize + deltaPrefixSize(bases: bases, codec: .opDelta))
        guard payload.count >= 4 else { throw Decompressor.ZstdError(description: "op delta cut short") }
        let s = payload.startIndex
        let k = Int(payload[s]) | Int(payload[s + 1]) << 8 | Int(payload[s + 2]) << 16 | Int(payload[s + 3]) << 24
        guard k <= payload.count - 4 else { throw Decompressor.ZstdError(description: "op frame of \(k) bytes overruns the object") }
        let ops = try decompressor.decompressFrame(payload[(s + 4)..<(s + 4 + k)], maxLength: 15 * (length + 1) + 10)
        do {
            let lits = try decompressor.decompressFrame(payload[(s + 4 + k)...], maxLength: length)
            return (ops, lits)
        } catch {
            free(ops.baseAddress)
            throw error
        }
    }

    public static func key(for id: String) -> String {
        "chunks/\(id.prefix(2))/\(id)"
    }

    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        Hex.encode(SHA256.hash(data: bytes))
    }

    static func header(codec: Codec, length: Int) -> [UInt8] {
        let l = UInt32(length)
        return magic + [1, codec.rawValue, 0, 0,
                        UInt8(l & 0xff), UInt8((l >> 8) & 0xff), UInt8((l >> 16) & 0xff), UInt8(l >> 24)]
    }

    /// The bytes of a delta object before its frame(s): the header, for codec 3 and 4 the count,
    /// then the bases' binary ids (`deltaPrefixSize` bytes after the header); nil when an id is
    /// not 64 hex digits.
    static func deltaHead(codec: Codec, length: Int, baseIds: [String]) -> Data? {
        let raws = baseIds.compactMap { Hex.decode($0) }
        guard raws.count == baseIds.count, raws.allSatisfy({ $0.count == 32 }) else { return nil }
        var data = Data(header(codec: codec, length: length))
        if codec != .delta { data.append(UInt8(baseIds.count)) }
        for r in raws { data.append(contentsOf: r) }
        return data
    }

    static func damaged(_ id: String, _ why: String) -> VaultError {
        VaultError(.corrupt, "chunk \(id) is damaged (\(why)); the files that use it cannot be restored from this vault. Run a new backup; restore from a copy of the vault if you have one.",
                   location: key(for: id))
    }

    /// The checked header of a chunk object: its 12 bytes and the plaintext length.
    static func header(of object: Data, id: String) throws -> (bytes: [UInt8], length: Int) {
        guard object.count >= headerSize else { throw damaged(id, "object of \(object.count) bytes is shorter than its header") }
        let h = [UInt8](object.prefix(headerSize))
        guard Array(h[0..<4]) == magic else { throw damaged(id, "bad magic") }
        guard h[4] == 1 else { throw damaged(id, "unknown header version \(h[4])") }
        return (h, Int(h[8]) | Int(h[9]) << 8 | Int(h[10]) << 16 | Int(h[11]) << 24)
    }

    /// A full chunk (codec 0 or 1) decoded into a malloc'd buffer the caller frees (for the root
    /// of a composed chain: no second copy); nil for a delta. Unverified, as the inner links of
    /// `decode(verify: false)`.
    static func decodeFull(_ object: Data, id: String, decompressor: Decompressor) throws -> UnsafeMutableRawBufferPointer? {
        let (h, length) = try header(of: object, id: id)
        let payload = object.dropFirst(headerSize)
        switch Codec(rawValue: h[5]) {
        case .stored?:
            guard payload.count == length else { throw damaged(id, "decoded \(payload.count) bytes, expected \(length)") }
            guard let raw = malloc(max(1, length)) else { throw VaultError(.io, "out of memory for \(length) bytes") }
            payload.copyBytes(to: raw.assumingMemoryBound(to: UInt8.self), count: length)
            return UnsafeMutableRawBufferPointer(start: raw, count: length)
        case .zstd?:
            do { return try decompressor.decompressRaw(payload, length: length) }
            catch { throw damaged(id, "zstd: \(error)") }
        default:
            return nil
        }
    }

    /// Decodes and verifies a chunk object; `.corrupt` names the chunk when anything is off.
    /// `verify: false` skips the SHA-256 check, for the inner links of a delta chain only: the
    /// chunk decoded on top of them is always verified, which covers them too.
    public static func decode(_ object: Data, id: String, expectedSize: Int?, decompressor: Decompressor,
                              base: ((String) throws -> Data)? = nil, verify: Bool = true) throws -> Data {
        func corrupt(_ why: String) -> VaultError { damaged(id, why) }
        let (h, length) = try header(of: object, id: id)
        if let expectedSize, expectedSize != length { throw corrupt("length \(length) where the manifest says \(expectedSize)") }
        let payload = object.dropFirst(headerSize)
        let plain: Data
        switch Codec(rawValue: h[5]) {
        case .stored?:
            plain = Data(payload)
        case .zstd?:
            do { plain = try decompressor.decompress(payload, length: length) }
            catch { throw corrupt("zstd: \(error)") }
        case .delta?, .multiDelta?, .opDelta?:
            guard let baseIds = baseIds(of: object), !baseIds.isEmpty else { throw corrupt("delta header is cut short") }
            guard let base else { throw corrupt("it is a delta against chunk \(baseIds.joined(separator: " + ")) and no base was given") }
            let reference = try Self.reference(baseIds) { baseId in
                do { return try base(baseId) }
                catch let e as VaultError {
                    throw VaultError(.corrupt, "chunk \(id) is stored as a delta against chunk \(baseId), which cannot be read: \(e.message)",
                                     cause: e.cause, location: e.location ?? key(for: baseId))
                }
            }
            if h[5] == Codec.opDelta.rawValue {
                do { plain = try applyOps(object, bases: baseIds.count, length: length, reference: reference, decompressor: decompressor) }
                catch { throw corrupt("op delta against \(baseIds.joined(separator: " + ")): \(error)") }
            } else {
                do { plain = try decompressor.decompress(payload.dropFirst(deltaPrefixSize(bases: baseIds.count)), length: length, prefix: reference) }
                catch { throw corrupt("zstd delta against \(baseIds.joined(separator: " + ")): \(error)") }
            }
        case nil:
            throw corrupt("unknown codec \(h[5])")
        }
        guard plain.count == length else { throw corrupt("decoded \(plain.count) bytes, expected \(length)") }
        if !verify { return plain }
        let actual = plain.withUnsafeBytes { sha256Hex($0) }
        guard actual == id else { throw corrupt("content hash is \(actual)") }
        return plain
    }
}

extension ChunkCodec {
    /// An op delta (codec 4) encoded again for a vault of format 3 or older: as a codec 2/3 zstd
    /// delta against the same bases (`base` gives their plaintexts), or whole when that is not
    /// smaller. The chunk's id, plaintext and bases are unchanged, so manifests stay valid (a
    /// chunk stored whole just needs fewer of the links they list).
    public static func forOlderReaders(_ object: Data, plain: Data, level: Int32, base: (String) throws -> Data) throws -> Data {
        guard let baseIds = baseIds(of: object), !baseIds.isEmpty else { return object }
        let c = Compressor(level: level)
        return try plain.withUnsafeBytes { p in
            let full = c.encode(p)
            let reference = try Self.reference(baseIds, base)
            return c.encodeDelta(p, base: reference, baseIds: baseIds, limit: full.count) ?? full
        }
    }

    /// An op delta (codec 4) applied to its materialized reference.
    static func applyOps(_ object: Data, bases: Int, length: Int, reference: Data, decompressor: Decompressor) throws -> Data {
        let f = try opFrames(object, bases: bases, length: length, decompressor: decompressor)
        defer { free(f.ops.baseAddress); free(f.lits.baseAddress) }
        guard let raw = malloc(max(1, length)) else { throw Decompressor.ZstdError(description: "out of memory for \(length) bytes") }
        let rc = reference.withUnsafeBytes { r in
            pgv_delta_apply(r.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(r.count),
                            f.ops.baseAddress?.assumingMemoryBound(to: UInt8.self), f.ops.count,
                            f.lits.baseAddress?.assumingMemoryBound(to: UInt8.self), f.lits.count,
                            raw.assumingMemoryBound(to: UInt8.self), UInt64(length))
        }
        guard rc == 0 else {
            free(raw)
            throw Decompressor.ZstdError(description: String(cString: pgv_delta_error(rc)))
        }
        return Data(bytesNoCopy: raw, count: length, deallocator: .free)
    }
}

/// A growable scratch area of its own anonymous mapping: its pages count towards the process's
/// memory only once written (heap memory handed out again usually already is).
struct MappedScratch {
    private var base: UnsafeMutableRawPointer?
    private var size = 0

    /// At least `bytes` bytes (earlier contents not kept); nil when the mapping fails.
    mutating func reserve(_ bytes: Int) -> UnsafeMutableRawPointer? {
        if let base, size >= bytes { return base }
        release()
        let n = max(4096, bytes)
        guard let p = mmap(nil, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { return nil }
        base = p
        size = n
        return p
    }

    /// Gives written pages back when more than 1 MiB was used, so one chunk with many
    /// sequences does not keep them resident for the rest of the backup.
    func drop(ifOver used: Int) {
        if used > 1 << 20, let base { madvise(base, size, MADV_DONTNEED) }
    }

    mutating func release() {
        if let base { munmap(base, size) }
        base = nil
        size = 0
    }
}

/// A reusable zstd compression context. One per thread.
public final class Compressor: @unchecked Sendable {
    private let cctx: OpaquePointer
    public let level: Int32
    static let deltaLevel: Int32 = 3
    static let deltaMinMatch: Int32 = 7

    /// For op deltas: finds the sequences (its parameters set like `cctx`'s for deltas), and
    /// compresses the op and literal streams (levels given per call).
    private lazy var seqCtx: OpaquePointer = {
        guard let c = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx failed: out of memory") }
        return c
    }()
    private lazy var frameCtx: OpaquePointer = {
        guard let c = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx failed: out of memory") }
        return c
    }()
    private var hasAux = false
    /// Scratch for op deltas, each a mapping of its own (`MappedScratch`): only the pages a
    /// chunk writes become resident, and they are given back after one that wrote over 1 MiB.
    private var seqs = MappedScratch()
    private var opsBuf = MappedScratch()
    private var litsBuf = MappedScratch()

    public init(level: Int32) {
        guard let c = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx failed: out of memory") }
        cctx = c
        self.level = level
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
    }
    deinit {
        ZSTD_freeCCtx(cctx)
        if hasAux { ZSTD_freeCCtx(seqCtx); ZSTD_freeCCtx(frameCtx) }
        seqs.release(); opsBuf.release(); litsBuf.release()
    }

    /// Window log for a delta: large enough for bases + chunk (at most 27).
    static func deltaWindowLog(_ span: Int) -> Int32 {
        var windowLog: Int32 = 24
        while windowLog < 27 && (1 << windowLog) < span { windowLog += 1 }
        return windowLog
    }

    /// Op stream and literal frames: the operations compress best at level 9 (varints of
    /// lengths and small offset corrections), the literals (the changed rows, and the short
    /// matches the encoder turned into literals) at 3; together they came to 0.92 of codec 2's
    /// zstd delta on the uniform-churn dumps (bench/README.md, P5).
    static let opsLevel: Int32 = 9
    static let literalsLevel: Int32 = 3
    /// The match finder for op deltas: zstd's fastest strategy plus long-distance matching.
    /// Only copies of 128 bytes or more survive (`PGV_DELTA_MIN_COPY`), and those LDM finds;
    /// level 3's finer search (codec 2's) only found short matches that become literals anyway.
    /// On a pgbench -s 100 + bytea delta point (2026-11-26, alternating runs): 0.6–0.9 s less
    /// CPU of ~10.5 s, 0.02 % more bytes; without LDM, level 1 stored 33 % more.
    static let opSequenceLevel: Int32 = 1

    /// Encodes a chunk as an op delta (codec 4) against `base`: zstd's match finder (fast
    /// strategy with long-distance matching over bases + chunk, `opSequenceLevel`) gives the
    /// sequences, which become copy operations plus literals; the result is applied once here
    /// and compared with the chunk, so a chunk is never stored in a form that does not give it
    /// back. Nil when that fails or the object would not be smaller than `limit`.
    func encodeOpDelta(_ plain: UnsafeRawBufferPointer, base: Data, baseIds: [String], limit: Int) -> Data? {
        hasAux = true
        let c = seqCtx
        ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters)
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, Self.opSequenceLevel)
        ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, Self.deltaMinMatch)
        ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, Self.deltaWindowLog(base.count + plain.count))
        ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1)
        // zstd 1.5.4 writes sequences without checking the room it was given (an assert, off in
        // release builds): the buffer must hold its bound, one sequence per 3 bytes of chunk,
        // 31 MB for a 6 MB chunk. It is mapped on its own (`MappedScratch`) so that only what
        // zstd writes (~16 bytes per KB of a delta) is ever resident: from the heap it raised
        // a delta backup's peak memory by that much (massif, 2026-11-26).
        let bound = Int(ZSTD_sequenceBound(plain.count))
        guard let raw = seqs.reserve(bound * MemoryLayout<ZSTD_Sequence>.stride) else { return nil }
        let q = raw.bindMemory(to: ZSTD_Sequence.self, capacity: bound)
        let nseq: Int = base.withUnsafeBytes { b in
            ZSTD_CCtx_refPrefix(c, b.baseAddress, b.count)
            return ZSTD_generateSequences(c, q, bound, plain.baseAddress, plain.count)
        }
        defer { if ZSTD_isError(nseq) == 0 { seqs.drop(ifOver: nseq * MemoryLayout<ZSTD_Sequence>.stride) } }
        guard ZSTD_isError(nseq) == 0, let p = plain.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let opsCap = 15 * (nseq + 1) + 10
        guard let o = opsBuf.reserve(opsCap)?.assumingMemoryBound(to: UInt8.self),
              let l = litsBuf.reserve(plain.count)?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var litsLen = 0
        let opsLen = UnsafeRawPointer(q).withMemoryRebound(to: UInt32.self, capacity: 4 * nseq) { q32 in
            pgv_delta_build(q32, nseq, p, plain.count, UInt64(base.count), o, opsCap, l, &litsLen)
        }
        defer { opsBuf.drop(ifOver: opsLen); litsBuf.drop(ifOver: litsLen) }
        guard opsLen > 0 else { return nil }
        // Applied once against the chunk: it must come back from what is stored.
        let rc: Int32 = base.withUnsafeBytes { b in
            pgv_delta_matches(b.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(b.count), o, opsLen, l, litsLen, p, UInt64(plain.count))
        }
        guard rc == 0 else { return nil }
        guard var data = ChunkCodec.deltaHead(codec: .opDelta, length: plain.count, baseIds: baseIds),
              let opsFrame = frame(UnsafeRawBufferPointer(start: o, count: opsLen), level: Self.opsLevel),
              let litsFrame = frame(UnsafeRawBufferPointer(start: l, count: litsLen), level: Self.literalsLevel),
              data.count + 4 + opsFrame.count + litsFrame.count < limit else { return nil }
        let k = UInt32(opsFrame.count)
        data.append(contentsOf: [UInt8(k & 0xff), UInt8((k >> 8) & 0xff), UInt8((k >> 16) & 0xff), UInt8(k >> 24)])
        data.append(opsFrame)
        data.append(litsFrame)
        return data
    }

    /// One zstd frame (with its content size) of `bytes`.
    private func frame(_ bytes: UnsafeRawBufferPointer, level: Int32) -> Data? {
        Self.zstdObject(prefix: Data(), bound: ZSTD_compressBound(bytes.count)) { o, cap in
            ZSTD_compressCCtx(frameCtx, o, cap, bytes.baseAddress, bytes.count, level)
        }
    }

    /// `prefix` followed by what `compress` writes into the `bound` bytes after it (returning
    /// zstd's size or error code), in a buffer of its own shrunk to fit, when `accept` takes
    /// that size: no scratch buffer kept between chunks (one sized for the largest chunk, 8.4 MB,
    /// stayed resident for the whole backup), no copy out of one, no zero-filling.
    static func zstdObject(prefix: Data, bound: Int, accept: (Int) -> Bool = { _ in true },
                           _ compress: (UnsafeMutableRawPointer, Int) -> Int) -> Data? {
        let h = prefix.count
        guard let raw = malloc(h + bound) else { return nil }
        prefix.copyBytes(to: raw.assumingMemoryBound(to: UInt8.self), count: h)
        let n = compress(raw + h, bound)
        guard ZSTD_isError(n) == 0, accept(n) else { free(raw); return nil }
        let object = realloc(raw, max(1, h + n)) ?? raw   // shrinking: in place
        return Data(bytesNoCopy: object, count: h + n, deallocator: .free)
    }

    /// Encodes a chunk as a delta against `base` (the plaintexts of the chunks `baseIds`,
    /// concatenated in that order): zstd with the bases as reference prefix. Returns nil unless
    /// it is smaller than `limit`.
    /// With `ops` (vaults of format 4), as an op delta (codec 4, `encodeOpDelta`), falling back
    /// to codec 2/3 when that fails.
    public func encodeDelta(_ plain: UnsafeRawBufferPointer, base: Data, baseIds: [String], limit: Int, ops: Bool = false) -> Data? {
        guard (1...ChunkCodec.maxBases).contains(baseIds.count) else { return nil }
        if ops, let d = encodeOpDelta(plain, base: base, baseIds: baseIds, limit: limit) { return d }
        guard let head = ChunkCodec.deltaHead(codec: baseIds.count == 1 ? .delta : .multiDelta, length: plain.count, baseIds: baseIds) else {
            return nil
        }
        // The match window spans bases + chunk, and long-distance matching finds the bases'
        // content although it lies a whole chunk back (what `zstd --patch-from` does).
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, Self.deltaWindowLog(base.count + plain.count))
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_enableLongDistanceMatching, 1)
        // Deltas at level 3 with matches of 7 bytes or more: on the uniform-churn dumps
        // (bench/p3-churn.sh) 2.3 % smaller than level 1, and 4.6 % smaller than level 3's
        // own minimum of 5, whose short matches into random (hex bytea) text cost more than
        // the literals they replace. Levels 5 to 19 were no smaller (see bench/README.md).
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, max(level, Self.deltaLevel))
        if level <= Self.deltaLevel { ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, Self.deltaMinMatch) }
        defer {
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 0)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_enableLongDistanceMatching, 0)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, 0)
        }
        return base.withUnsafeBytes { b in
            Self.zstdObject(prefix: head, bound: ZSTD_compressBound(plain.count), accept: { head.count + $0 < limit }) { o, cap in
                ZSTD_CCtx_refPrefix(cctx, b.baseAddress, b.count)   // used for this one frame only
                return ZSTD_compress2(cctx, o, cap, plain.baseAddress, plain.count)
            }
        }
    }

    /// Encodes a chunk object: zstd when it saves space, stored otherwise.
    public func encode(_ plain: UnsafeRawBufferPointer) -> Data {
        if let data = Self.zstdObject(prefix: Data(ChunkCodec.header(codec: .zstd, length: plain.count)),
                                      bound: ZSTD_compressBound(plain.count), accept: { $0 < plain.count }, { o, cap in
            ZSTD_compress2(cctx, o, cap, plain.baseAddress, plain.count)
        }) { return data }
        var data = Data(capacity: ChunkCodec.headerSize + plain.count)
        data.append(contentsOf: ChunkCodec.header(codec: .stored, length: plain.count))
        data.append(contentsOf: plain)
        return data
    }
}

public final class Decompressor: @unchecked Sendable {
    private let dctx: OpaquePointer
    public init() {
        guard let d = ZSTD_createDCtx() else { fatalError("ZSTD_createDCtx failed: out of memory") }
        dctx = d
    }
    deinit { ZSTD_freeDCtx(dctx) }

    struct ZstdError: Error, CustomStringConvertible { let description: String }

    /// One zstd frame whose header gives its content size (at most `maxLength`), decompressed
    /// into a malloc'd buffer the caller frees.
    func decompressFrame(_ frame: Data, maxLength: Int) throws -> UnsafeMutableRawBufferPointer {
        let size = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard size != ZSTD_CONTENTSIZE_UNKNOWN, size != ZSTD_CONTENTSIZE_ERROR, size <= UInt64(maxLength) else {
            throw ZstdError(description: "frame header damaged or content size over \(maxLength) bytes")
        }
        return try decompressRaw(frame, length: Int(size))
    }

    func decompress(_ payload: Data, length: Int, prefix: Data? = nil) throws -> Data {
        let o = try decompressRaw(payload, length: length, prefix: prefix)
        guard let raw = o.baseAddress else { return Data() }
        return Data(bytesNoCopy: raw, count: o.count, deallocator: .free)
    }

    /// `decompress` into a malloc'd buffer the caller frees.
    func decompressRaw(_ payload: Data, length: Int, prefix: Data? = nil) throws -> UnsafeMutableRawBufferPointer {
        // Uninitialised memory (zstd writes every byte it reports): zero-filling each chunk of
        // every link of a delta chain cost more than decoding it.
        guard let raw = malloc(max(1, length)) else { throw ZstdError(description: "out of memory for \(length) bytes") }
        let o = UnsafeMutableRawBufferPointer(start: raw, count: length)
        let n = payload.withUnsafeBytes { i in
            if let prefix {
                return prefix.withUnsafeBytes { p in
                    ZSTD_DCtx_refPrefix(dctx, p.baseAddress, p.count)   // for this one frame
                    return ZSTD_decompressDCtx(dctx, o.baseAddress, o.count, i.baseAddress, i.count)
                }
            }
            return ZSTD_decompressDCtx(dctx, o.baseAddress, o.count, i.baseAddress, i.count)
        }
        guard ZSTD_isError(n) == 0, n == length else {
            free(raw)
            throw ZstdError(description: ZSTD_isError(n) != 0 ? String(cString: ZSTD_getErrorName(n)) : "frame holds \(n) bytes")
        }
        return o
    }
}
