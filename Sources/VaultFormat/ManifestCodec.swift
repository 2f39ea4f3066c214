public import Foundation
import CZstd
public import VaultCore
import VaultStorage

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
        // Cannot fail short of memory; plain JSON still reads.
        return (try? compressed(size: UInt64(json.count), what: "a manifest") { emit in try json.withUnsafeBytes { try emit($0) } }) ?? json
    }

    /// `magic` and one zstd frame (level `level`, content size, checksum) of the `size` bytes
    /// that `write` hands to the function it is given, in pieces of any size (`what`: for errors).
    static func compressed(size: UInt64, what: String, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> Data {
        var stored = Data()
        try compress(size: size, what: what, write: write) { stored.append(contentsOf: $0) }
        return stored
    }

    /// `compressed`, handing the stored bytes to `emit` as they come (in pieces of at most
    /// `ZSTD_CStreamOutSize()`, 128 KiB) instead of gathering them; an error `write` or `emit`
    /// throws stops the compression and is rethrown.
    static func compress(size: UInt64, what: String, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void,
                         emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let cctx = ZSTD_createCCtx() else { throw VaultError(.io, "out of memory for a zstd context") }
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)
        ZSTD_CCtx_setPledgedSrcSize(cctx, size)
        try magic.withUnsafeBytes { try emit($0) }
        let outSize = ZSTD_CStreamOutSize()
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: outSize, alignment: 16)
        defer { out.deallocate() }
        try withoutActuallyEscaping(emit) { emit in
            func pump(_ piece: UnsafeRawBufferPointer, end: Bool) throws {
                var input = ZSTD_inBuffer(src: piece.baseAddress, size: piece.count, pos: 0)
                while true {
                    var output = ZSTD_outBuffer(dst: out.baseAddress, size: outSize, pos: 0)
                    let left = ZSTD_compressStream2(cctx, &output, &input, end ? ZSTD_e_end : ZSTD_e_continue)
                    if ZSTD_isError(left) != 0 {
                        throw VaultError(.io, "compressing \(what) failed: \(String(cString: ZSTD_getErrorName(left)))")
                    }
                    if output.pos > 0 { try emit(UnsafeRawBufferPointer(rebasing: out[0..<output.pos])) }
                    if end ? left == 0 : input.pos == input.size { return }
                }
            }
            try write { try pump($0, end: false) }
            try pump(UnsafeRawBufferPointer(start: nil, count: 0), end: true)
        }
    }

    /// The first bytes of the object at `key`, as many as `isCompressed` needs (only the first
    /// piece of the object is read).
    static func storedHead(_ storage: any Storage, key: String) throws -> Data {
        struct Enough: Error {}
        var head = Data()
        do {
            try storage.read(key) { piece in
                head.append(contentsOf: piece.prefix(magic.count - head.count))
                if head.count >= magic.count { throw Enough() }
            }
        } catch is Enough {}
        return head
    }

    /// Whether `stored` is a compressed manifest (else it is plain JSON).
    public static func isCompressed(_ stored: Data) -> Bool {
        stored.count >= magic.count && stored.prefix(magic.count).elementsEqual(magic)
    }

    /// The manifest JSON of the stored bytes `stored` (of the object `what`, for errors),
    /// with the checks `StoredManifestStream` makes.
    public static func json(_ stored: Data, what: String) throws -> Data {
        guard isCompressed(stored) else { return stored }
        var out = Data()
        let stream = StoredManifestStream(what: what) { out.append($0) }
        try stored.withUnsafeBytes { try stream.feed($0) }
        try stream.finish()
        return out
    }
}
