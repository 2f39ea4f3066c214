public import Foundation
import CZstd
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
///                  frame whose reference prefix is the bases' plaintexts concatenated in order
///     6      2     reserved, zero
///     8      4     plaintext length, unsigned little-endian
///     12     ...   payload
///
/// The id is the lowercase hex SHA-256 of the plaintext; decoding always re-hashes.
public enum ChunkCodec {
    public static let magic: [UInt8] = Array("PGVC".utf8)
    public static let headerSize = 12

    public enum Codec: UInt8, Sendable { case stored = 0, zstd = 1, delta = 2, multiDelta = 3 }
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
        case Codec.multiDelta.rawValue:
            let n = Int(object[s + headerSize])
            guard (2...maxBases).contains(n), object.count >= headerSize + 1 + 32 * n else { return nil }
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

    /// Bytes before the zstd frame of a delta object.
    static func deltaPrefixSize(bases: Int) -> Int { bases == 1 ? 32 : 1 + 32 * bases }

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

    /// Decodes and verifies a chunk object; `.corrupt` names the chunk when anything is off.
    /// `verify: false` skips the SHA-256 check, for the inner links of a delta chain only: the
    /// chunk decoded on top of them is always verified, which covers them too.
    public static func decode(_ object: Data, id: String, expectedSize: Int?, decompressor: Decompressor,
                              base: ((String) throws -> Data)? = nil, verify: Bool = true) throws -> Data {
        func corrupt(_ why: String) -> VaultError {
            VaultError(.corrupt, "chunk \(id) is damaged (\(why)); the files that use it cannot be restored from this vault. Run a new backup; restore from a copy of the vault if you have one.",
                       location: key(for: id))
        }
        guard object.count >= headerSize else { throw corrupt("object of \(object.count) bytes is shorter than its header") }
        let h = [UInt8](object.prefix(headerSize))
        guard Array(h[0..<4]) == magic else { throw corrupt("bad magic") }
        guard h[4] == 1 else { throw corrupt("unknown header version \(h[4])") }
        let length = Int(h[8]) | Int(h[9]) << 8 | Int(h[10]) << 16 | Int(h[11]) << 24
        if let expectedSize, expectedSize != length { throw corrupt("length \(length) where the manifest says \(expectedSize)") }
        let payload = object.dropFirst(headerSize)
        let plain: Data
        switch Codec(rawValue: h[5]) {
        case .stored?:
            plain = Data(payload)
        case .zstd?:
            do { plain = try decompressor.decompress(payload, length: length) }
            catch { throw corrupt("zstd: \(error)") }
        case .delta?, .multiDelta?:
            guard let baseIds = baseIds(of: object), !baseIds.isEmpty else { throw corrupt("delta header is cut short") }
            guard let base else { throw corrupt("it is a delta against chunk \(baseIds.joined(separator: " + ")) and no base was given") }
            let reference = try Self.reference(baseIds) { baseId in
                do { return try base(baseId) }
                catch let e as VaultError {
                    throw VaultError(.corrupt, "chunk \(id) is stored as a delta against chunk \(baseId), which cannot be read: \(e.message)",
                                     cause: e.cause, location: e.location ?? key(for: baseId))
                }
            }
            do { plain = try decompressor.decompress(payload.dropFirst(deltaPrefixSize(bases: baseIds.count)), length: length, prefix: reference) }
            catch { throw corrupt("zstd delta against \(baseIds.joined(separator: " + ")): \(error)") }
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

/// A reusable zstd compression context. One per thread.
public final class Compressor: @unchecked Sendable {
    private let cctx: OpaquePointer
    private var out: [UInt8] = []
    public let level: Int32
    static let deltaLevel: Int32 = 3
    static let deltaMinMatch: Int32 = 7

    public init(level: Int32) {
        guard let c = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx failed: out of memory") }
        cctx = c
        self.level = level
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
    }
    deinit { ZSTD_freeCCtx(cctx) }

    /// Encodes a chunk as a delta against `base` (the plaintexts of the chunks `baseIds`,
    /// concatenated in that order): zstd with the bases as reference prefix. Returns nil unless
    /// it is smaller than `limit`.
    public func encodeDelta(_ plain: UnsafeRawBufferPointer, base: Data, baseIds: [String], limit: Int) -> Data? {
        guard (1...ChunkCodec.maxBases).contains(baseIds.count) else { return nil }
        let bound = ZSTD_compressBound(plain.count)
        if out.count < bound { out = [UInt8](repeating: 0, count: bound) }
        // The match window spans bases + chunk, and long-distance matching finds the bases'
        // content although it lies a whole chunk back (what `zstd --patch-from` does).
        var windowLog: Int32 = 24
        while windowLog < 27 && (1 << windowLog) < base.count + plain.count { windowLog += 1 }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, windowLog)
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
        let n: Int = base.withUnsafeBytes { b in
            ZSTD_CCtx_refPrefix(cctx, b.baseAddress, b.count)   // used for this one frame only
            return out.withUnsafeMutableBytes { o in
                ZSTD_compress2(cctx, o.baseAddress, o.count, plain.baseAddress, plain.count)
            }
        }
        let prefix = ChunkCodec.deltaPrefixSize(bases: baseIds.count)
        let raws = baseIds.compactMap { Hex.decode($0) }
        guard ZSTD_isError(n) == 0, ChunkCodec.headerSize + prefix + n < limit, raws.count == baseIds.count,
              raws.allSatisfy({ $0.count == 32 }) else { return nil }
        var data = Data(capacity: ChunkCodec.headerSize + prefix + n)
        data.append(contentsOf: ChunkCodec.header(codec: baseIds.count == 1 ? .delta : .multiDelta, length: plain.count))
        if baseIds.count > 1 { data.append(UInt8(baseIds.count)) }
        for r in raws { data.append(contentsOf: r) }
        out.withUnsafeBytes { data.append(contentsOf: $0.prefix(n)) }
        return data
    }

    /// Encodes a chunk object: zstd when it saves space, stored otherwise.
    public func encode(_ plain: UnsafeRawBufferPointer) -> Data {
        let bound = ZSTD_compressBound(plain.count)
        if out.count < bound { out = [UInt8](repeating: 0, count: bound) }
        let n = out.withUnsafeMutableBytes { o in
            ZSTD_compress2(cctx, o.baseAddress, o.count, plain.baseAddress, plain.count)
        }
        var data = Data(capacity: ChunkCodec.headerSize + min(plain.count, n))
        if ZSTD_isError(n) == 0 && n < plain.count {
            data.append(contentsOf: ChunkCodec.header(codec: .zstd, length: plain.count))
            out.withUnsafeBytes { data.append(contentsOf: $0.prefix(n)) }
        } else {
            data.append(contentsOf: ChunkCodec.header(codec: .stored, length: plain.count))
            data.append(contentsOf: plain)
        }
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

    func decompress(_ payload: Data, length: Int, prefix: Data? = nil) throws -> Data {
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
        return Data(bytesNoCopy: raw, count: length, deallocator: .free)
    }
}
