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
    ///
    /// A second thread fetches, decompresses and verifies up to four chunks ahead while this
    /// one hashes the whole file and hands chunks to `sink`, so reading, decoding and writing
    /// overlap. Memory stays bounded by those few chunks.
    public func read(_ file: FileEntry, decompressor: Decompressor = Decompressor(),
                     sink: (Data) throws -> Void) throws {
        let ahead = BlockingQueue<Result<Data, VaultError>>(capacity: 4)
        let storage = self.storage
        let producer = Thread {
            let bases = BaseCache(storage: storage, decompressor: decompressor)
            for (index, ref) in file.chunks.enumerated() {
                let r = Result { try Self.fetch(storage, file: file, index: index, ref: ref, decompressor: decompressor, bases: bases) }
                    .mapError { $0 as? VaultError ?? VaultError(.io, "\(file.path): \($0)") }
                guard ahead.put(r) else { return }
                if case .failure = r { break }
            }
            ahead.close()
        }
        producer.stackSize = 1 << 20
        producer.start()
        defer { ahead.close() }   // on an error below, wake and stop the producer

        var hash = SHA256()
        var total: Int64 = 0
        for _ in file.chunks {
            guard let next = ahead.take() else { break }
            let plain = try next.get()
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

    /// One chunk, fetched, decoded and checked against its id.
    static func fetch(_ storage: any Storage, file: FileEntry, index: Int, ref: ChunkRef, decompressor: Decompressor,
                      bases: BaseCache) throws -> Data {
        let object: Data
        do { object = try storage.get(ChunkCodec.key(for: ref.id)) }
        catch let e as VaultError where e.code == .objectMissing {
            throw VaultError(.corrupt,
                "\(file.path): chunk \(index + 1) of \(file.chunks.count) (\(ref.id)) is missing from the vault; this file cannot be restored from this vault.",
                cause: e.message, location: ChunkCodec.key(for: ref.id))
        }
        do { return try ChunkCodec.decode(object, id: ref.id, expectedSize: ref.size, decompressor: decompressor, base: bases.plaintext) }
        catch var e as VaultError {
            e.message = "\(file.path): chunk \(index + 1) of \(file.chunks.count): " + e.message
            throw e
        }
    }
}

/// The plaintext of base chunks (full chunks that delta chunks were compressed against),
/// verified, with the most recent few kept: neighbouring chunks usually share bases.
public final class BaseCache: @unchecked Sendable {
    let storage: any Storage
    let decompressor: Decompressor
    private var recent: [(String, Data)] = []

    public init(storage: any Storage, decompressor: Decompressor = Decompressor()) {
        self.storage = storage
        self.decompressor = decompressor
    }

    /// The verified plaintext of chunk `id`, which must be a full chunk (a base is never itself
    /// a delta: chains are one level deep).
    public func plaintext(_ id: String) throws -> Data {
        if let hit = recent.first(where: { $0.0 == id }) { return hit.1 }
        let object: Data
        do { object = try storage.get(ChunkCodec.key(for: id)) }
        catch let e as VaultError where e.code == .objectMissing {
            throw VaultError(.corrupt, "base chunk \(id) is missing from the vault", cause: e.message, location: ChunkCodec.key(for: id))
        }
        let plain = try ChunkCodec.decode(object, id: id, expectedSize: nil, decompressor: decompressor)
        recent.insert((id, plain), at: 0)
        if recent.count > 3 { recent.removeLast() }
        return plain
    }
}
