public import Foundation
import Crypto
public import VaultCore
public import VaultStorage

/// Writes chunks into the vault, deduplicating by id. Thread-safe; share one per backup.
public final class ChunkStore: @unchecked Sendable {
    public let storage: any Storage
    private let lock = NSLock()
    private var known: Set<String> = []

    public init(storage: any Storage) { self.storage = storage }

    public struct Result: Sendable {
        public var storedBytes: Int64
        public var isNew: Bool
    }

    /// Stores one chunk unless the vault already has it. Returns what was added.
    public func store(id: String, plain: UnsafeRawBufferPointer, compressor: Compressor) throws -> Result {
        lock.lock()
        let seen = known.contains(id)
        lock.unlock()
        if seen { return Result(storedBytes: 0, isNew: false) }
        let key = ChunkCodec.key(for: id)
        if let local = storage as? LocalStorage, let size = try local.size(key), size < Int64(ChunkCodec.headerSize) {
            // A chunk file left empty or short by a power loss before the durability barrier
            // (link(2) without fsync): never dedup against it, write it again.
            try local.delete(key)
        }
        if try storage.exists(key) {
            try ObjectLock.extendChunk(storage, key: key)   // keep it as long as this point (S3 Object Lock)
            remember(id)
            return Result(storedBytes: 0, isNew: false)
        }
        let object = compressor.encode(plain)
        do {
            try storage.put(key, object, mode: .createOnly)
        } catch let e as VaultError where e.code == .objectExists {
            try ObjectLock.extendChunk(storage, key: key)
            remember(id)   // another job of this backup (or another backup) stored it first
            return Result(storedBytes: 0, isNew: false)
        }
        remember(id)
        return Result(storedBytes: Int64(object.count), isNew: true)
    }

    private func remember(_ id: String) {
        lock.lock(); known.insert(id); lock.unlock()
    }
}

/// Streams one file into the vault: content-defined chunks, SHA-256 per chunk and over the
/// whole file, zstd per chunk. Memory is bounded by twice the maximum chunk size.
public final class FileWriter {
    private let store: ChunkStore
    private let chunker: Chunker
    private let compressor: Compressor
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var fileHash = SHA256()
    public private(set) var size: Int64 = 0
    public private(set) var chunks: [ChunkRef] = []
    public private(set) var storedBytes: Int64 = 0
    public private(set) var newChunks = 0
    /// Called after each chunk with its plaintext length (progress).
    public var onChunk: ((Int) -> Void)?

    public init(store: ChunkStore, chunker: Chunker, compressor: Compressor) {
        self.store = store
        self.chunker = chunker
        self.compressor = compressor
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * chunker.params.maxSize, alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// Fills the buffer from `read` (a read(2)-like closure returning 0 at end of input) until
    /// the input ends, cutting and storing chunks as they complete.
    public func consume(_ read: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        while true {
            if end == buffer.count { try compact() }
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
            if end == buffer.count { try compact() }
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
            let len = chunker.cut(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            try emit(len)
        }
        let digest = Hex.encode(fileHash.finalize())
        return (size, digest, chunks)
    }

    private func cutFullChunks() throws {
        let max = chunker.params.maxSize
        while end - start >= max {
            let len = chunker.cut(UnsafeRawBufferPointer(rebasing: buffer[start..<(start + max)]))
            try emit(len)
        }
    }

    private func compact() throws {
        let live = end - start
        if start > 0 {
            if live > 0 {
                buffer.baseAddress!.copyMemory(from: buffer.baseAddress!.advanced(by: start), byteCount: live)
            }
            start = 0
            end = live
        }
        if end == buffer.count { try cutFullChunks(); try compact() }
    }

    private func emit(_ len: Int) throws {
        let piece = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + len)])
        fileHash.update(bufferPointer: piece)
        let id = ChunkCodec.sha256Hex(piece)
        let r = try store.store(id: id, plain: piece, compressor: compressor)
        chunks.append(ChunkRef(id: id, size: len))
        size += Int64(len)
        storedBytes += r.storedBytes
        if r.isNew { newChunks += 1 }
        start += len
        onChunk?(len)
    }
}
