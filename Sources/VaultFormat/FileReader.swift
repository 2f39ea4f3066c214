public import Foundation
import Crypto
public import VaultCore
public import VaultStorage

/// Reads a file of a recovery point back chunk by chunk, verifying every chunk's SHA-256
/// and, at the end, the whole file's SHA-256 and size against the manifest.
public struct FileReader {
    public let storage: any Storage
    public init(storage: any Storage) { self.storage = storage }

    /// Calls `sink` with each verified chunk in order. Throws `.corrupt` naming the file and
    /// the chunk on any mismatch; `sink` may have received earlier chunks by then.
    public func read(_ file: FileEntry, decompressor: Decompressor = Decompressor(),
                     sink: (Data) throws -> Void) throws {
        var hash = SHA256()
        var total: Int64 = 0
        for (index, ref) in file.chunks.enumerated() {
            let object: Data
            do { object = try storage.get(ChunkCodec.key(for: ref.id)) }
            catch let e as VaultError where e.code == .objectMissing {
                throw VaultError(.corrupt,
                    "\(file.path): chunk \(index + 1) of \(file.chunks.count) (\(ref.id)) is missing from the vault; this file cannot be restored from this vault.",
                    cause: e.message, location: ChunkCodec.key(for: ref.id))
            }
            let plain: Data
            do { plain = try ChunkCodec.decode(object, id: ref.id, expectedSize: ref.size, decompressor: decompressor) }
            catch var e as VaultError {
                e.message = "\(file.path): chunk \(index + 1) of \(file.chunks.count): " + e.message
                throw e
            }
            plain.withUnsafeBytes { hash.update(bufferPointer: $0) }
            total += Int64(plain.count)
            try sink(plain)
        }
        let digest = Hex.encode(hash.finalize())
        guard total == file.size, digest == file.sha256 else {
            throw VaultError(.corrupt,
                "\(file.path): the restored bytes (\(total) bytes, sha256 \(digest)) do not match the manifest (\(file.size) bytes, sha256 \(file.sha256)).",
                location: file.path)
        }
    }
}
