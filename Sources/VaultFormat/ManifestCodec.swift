public import Foundation
import CZstd
public import VaultCore

/// How a manifest is stored at `points/<id>.json`: its JSON as is (vault formats 1 and 2), or,
/// from format 3 on, the line `pgvault-manifest+zstd` and then that JSON in one zstd frame with
/// a content checksum (`tail -c +23 FILE | zstd -d` reads it without pgvault). The JSON itself is the
/// manifest everywhere else: restore writes it out as manifest.json, `show --json` prints it,
/// and its SHA-256 is the "manifest sha256" of `show --evidence` and `verify`.
///
/// Why: a manifest lists every chunk of every file with the whole delta chain below it, as
/// 64-digit hex ids, pretty-printed. On the uniform-churn benchmark (12 weekly points, chains
/// 11 deep) the manifests were 2.2 MB of a 65 MB vault; compressed they are about a third.
/// Readers tell the two forms apart by that first line (JSON starts with `{`), which also tells
/// a person looking at the object what it is.
public enum ManifestCodec {
    /// zstd level for manifests: hex ids leave little to find, and level 9 compresses a 270 KB
    /// manifest in a few milliseconds to within 5 % of level 19.
    static let level: Int32 = 9
    static let magic = Data("pgvault-manifest+zstd\n".utf8)
    /// A manifest larger than this when decompressed is damage, not data (a 1 TiB database in
    /// 1 MiB chunks with 16-deep chains needs about 1.2 GB).
    static let maxJSON = 8 << 30

    /// The bytes to store for manifest JSON `json` in a vault of format `format`.
    public static func stored(_ json: Data, format: Int) -> Data {
        guard format >= 3 else { return json }
        return json.withUnsafeBytes { src -> Data in
            let bound = ZSTD_compressBound(src.count)
            guard let cctx = ZSTD_createCCtx() else { return json }
            defer { ZSTD_freeCCtx(cctx) }
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)
            var frame = Data(count: bound)
            let n = frame.withUnsafeMutableBytes { o in ZSTD_compress2(cctx, o.baseAddress, o.count, src.baseAddress, src.count) }
            guard ZSTD_isError(n) == 0 else { return json }   // cannot happen with a bound-sized buffer; plain JSON still reads
            return magic + frame.prefix(n)
        }
    }

    /// Whether `stored` is a compressed manifest (else it is plain JSON).
    public static func isCompressed(_ stored: Data) -> Bool {
        stored.count >= magic.count && stored.prefix(magic.count).elementsEqual(magic)
    }

    /// The manifest JSON of the stored bytes `stored` (of the object `what`, for errors).
    public static func json(_ stored: Data, what: String) throws -> Data {
        guard isCompressed(stored) else { return stored }
        func damaged(_ why: String) -> VaultError {
            VaultError(.corrupt, "\(what) is not a readable pgvault manifest (its zstd frame \(why)); the vault may be damaged. Restore the object from a copy of the vault, or run `pgvault verify` to see what else is affected.",
                       location: what)
        }
        return try stored.dropFirst(magic.count).withUnsafeBytes { src -> Data in
            let size = ZSTD_getFrameContentSize(src.baseAddress, src.count)
            // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest values.
            guard size < UInt64.max - 1 else { throw damaged("has no valid header") }
            guard size <= UInt64(maxJSON) else { throw damaged("claims \(size) bytes") }
            var out = Data(count: Int(size))
            let n = out.withUnsafeMutableBytes { o in ZSTD_decompress(o.baseAddress, o.count, src.baseAddress, src.count) }
            guard ZSTD_isError(n) == 0 else { throw damaged("does not decode: \(String(cString: ZSTD_getErrorName(n)))") }
            guard n == Int(size) else { throw damaged("holds \(n) bytes, not \(size)") }
            return out
        }
    }
}
