public import Foundation
import Crypto
public import VaultCore
public import VaultStorage

/// Writes chunks into the vault, deduplicating by id. Thread-safe; share one per backup.
public final class ChunkStore: @unchecked Sendable {
    public let storage: any Storage
    private let lock = NSLock()
    /// Chunks known to be in the vault, with the base each is a delta against (nil: full).
    private var known: [String: String?] = [:]

    public init(storage: any Storage) { self.storage = storage }

    public struct Result: Sendable {
        public var storedBytes: Int64
        public var isNew: Bool
        /// The base chunk when the chunk is (or already was) stored as a delta.
        public var base: String?
    }

    /// Tells the store what it can take for granted about chunks an earlier point wrote (saves
    /// reading them to learn their base).
    public func learn(_ refs: [ChunkRef]) {
        lock.lock(); defer { lock.unlock() }
        for r in refs where known[r.id] == nil { known[r.id] = .some(r.base) }
    }

    /// Stores one chunk unless the vault already has it. With `delta` (a candidate base chunk
    /// and a way to read its plaintext), a new chunk is stored as a zstd delta against that
    /// base when that is less than half the size of storing it whole.
    public func store(id: String, plain: UnsafeRawBufferPointer, compressor: Compressor,
                      delta: (base: String, plaintext: (String) throws -> Data)? = nil) throws -> Result {
        lock.lock()
        let seen = known[id]
        lock.unlock()
        if let seen { return Result(storedBytes: 0, isNew: false, base: seen) }
        let key = ChunkCodec.key(for: id)
        if let local = storage as? LocalStorage, let size = try local.size(key), size < Int64(ChunkCodec.headerSize) {
            // A chunk file left empty or short by a power loss before the durability barrier
            // (link(2) without fsync): never dedup against it, write it again.
            try local.delete(key)
        }
        if try storage.exists(key) { return try reuse(id, key: key) }

        var object = compressor.encode(plain)
        var base: String?
        if let delta, delta.base != id {
            let reference = try delta.plaintext(delta.base)
            if let d = compressor.encodeDelta(plain, base: reference, baseId: delta.base, limit: object.count / 2) {
                object = d
                base = delta.base
                // The base must live (and stay locked) at least as long as this chunk.
                try ObjectLock.extendChunk(storage, key: ChunkCodec.key(for: delta.base))
            }
        }
        do {
            try storage.put(key, object, mode: .createOnly)
        } catch let e as VaultError where e.code == .objectExists {
            return try reuse(id, key: key)   // another job of this backup (or another backup) stored it first
        }
        remember(id, base: base)
        return Result(storedBytes: Int64(object.count), isNew: true, base: base)
    }

    /// An existing chunk: keep it as long as this point, and learn its base from its header.
    private func reuse(_ id: String, key: String) throws -> Result {
        try ObjectLock.extendChunk(storage, key: key)   // keep it as long as this point (S3 Object Lock)
        let base = ChunkCodec.baseId(of: try storage.get(key))
        if let base { try ObjectLock.extendChunk(storage, key: ChunkCodec.key(for: base)) }
        remember(id, base: base)
        return Result(storedBytes: 0, isNew: false, base: base)
    }

    private func remember(_ id: String, base: String?) {
        lock.lock(); known[id] = .some(base); lock.unlock()
    }
}

/// Where a backup looks for delta bases: the same database's dump in the previous point.
/// A new chunk is matched to an old one by its first 16 bytes (content-defined boundaries
/// put equal content at the start of corresponding chunks), else by its offset; the base is
/// that old chunk, or its own base when it was a delta (chains stay one level deep).
public final class DeltaSource {
    private var byHead: [String: ChunkRef] = [:]
    private var offsets: [Int64] = []
    private var refs: [ChunkRef] = []
    let bases: BaseCache

    public init(previous: FileEntry, storage: any Storage) {
        var offset: Int64 = 0
        for r in previous.chunks {
            if let h = r.head, byHead[h] == nil { byHead[h] = r }
            offsets.append(offset)
            refs.append(r)
            offset += Int64(r.size)
        }
        bases = BaseCache(storage: storage)
    }

    func candidate(head: String, offset: Int64) -> String? {
        var ref = byHead[head]
        if ref == nil, !refs.isEmpty {
            // The chunk of the previous dump covering this offset.
            var lo = 0, hi = offsets.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if offsets[mid] <= offset { lo = mid } else { hi = mid - 1 }
            }
            ref = refs[lo]
        }
        guard let ref else { return nil }
        return ref.base ?? ref.id
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
    /// Delta bases from the previous point of the same database (nil: full chunks only).
    public var delta: DeltaSource?

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
        let head = Hex.encode(piece.prefix(16))
        var candidate: (base: String, plaintext: (String) throws -> Data)?
        if let delta, let base = delta.candidate(head: head, offset: size) {
            candidate = (base, delta.bases.plaintext)
        }
        let r = try store.store(id: id, plain: piece, compressor: compressor, delta: candidate)
        chunks.append(ChunkRef(id: id, size: len, base: r.base, head: head))
        size += Int64(len)
        storedBytes += r.storedBytes
        if r.isNew { newChunks += 1 }
        start += len
        onChunk?(len)
    }
}
