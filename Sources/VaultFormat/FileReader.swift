public import Foundation
import Crypto
import CSystemShims
public import VaultCore
public import VaultStorage

/// Reads a file of a recovery point back chunk by chunk, verifying every chunk's SHA-256
/// and, at the end, the whole file's SHA-256 and size against the manifest.
public struct FileReader {
    public let storage: any Storage
    public init(storage: any Storage) { self.storage = storage }
    /// Decode workers per file: restoring the newest point of a long delta chain is CPU-bound
    /// (every link is decoded), so it scales with cores, up to four: each worker holds up to
    /// four decoded chunks queued and four cached bases, at most 8 MiB each (the chunker's
    /// maximum), so four workers bound what a restore holds ahead to roughly 256 MiB (~50 MiB with
    /// typical 1.6 MB chunks).
    static let maxWorkers = 4

    /// `read(_:count:feed:again:...)` of a file whose chunk list the entry holds.
    public func read(_ file: FileEntry, decompressor: Decompressor = Decompressor(), workers: Int? = nil,
                     sink: (Data) throws -> Void) throws {
        try read(file, count: file.chunks.count, feed: ChunkFeed(file.chunks), again: { ChunkFeed(file.chunks) },
                 decompressor: decompressor, workers: workers, sink: sink)
    }

    /// Calls `sink` with each chunk in order, then checks the file's size and SHA-256 against
    /// the manifest. Throws `.corrupt` naming the file, and the chunk (or delta base) at fault,
    /// on any mismatch: what `sink` received is verified only once `read` returns, so sinks
    /// write to a temporary name and keep nothing when it throws.
    ///
    /// The file's `count` chunk entries come from `feed` as they are needed (`file.chunks` is not
    /// read: from a stored manifest, `PointChunkStream` decodes them a batch at a time), and
    /// `again` gives them once more, only when the file does not match, to find the damaged one.
    /// A feeder thread hands entry i to worker i mod n; the workers (one per core, at most four)
    /// fetch and decode chunks (through delta chains, checking lengths) ahead, each into its own
    /// queue of four (with two, a worker sat idle whenever chunks of unequal cost lined up on the
    /// other), while this thread takes them back in order, hashes the whole file and hands
    /// chunks to `sink`: reading, decoding and writing overlap, and memory stays bounded by
    /// those few chunks and a few entries. Hashing the file once covers every chunk (their ids
    /// are hashes of the same bytes); only on a mismatch is each chunk hashed, to name the
    /// damaged one. `workers` overrides the per-core count (tests run the many-worker case on
    /// small machines).
    public func read(_ file: FileEntry, count: Int, feed: ChunkFeed, again: () throws -> ChunkFeed,
                     decompressor: Decompressor = Decompressor(), workers: Int? = nil,
                     sink: (Data) throws -> Void) throws {
        let workers = max(1, min(count, workers ?? min(ProcessInfo.processInfo.activeProcessorCount, Self.maxWorkers)))
        let inputs = (0..<workers).map { _ in BlockingQueue<Result<ChunkRef, VaultError>>(capacity: 8) }
        let queues = (0..<workers).map { _ in BlockingQueue<Result<Data, VaultError>>(capacity: 4) }
        let storage = self.storage
        let path = file.path
        // The feeder is the only thread that touches `feed`; `read` returns only once it ended.
        let fed = DispatchSemaphore(value: 0)
        let feeder = Thread {
            for index in 0..<count {
                let r: Result<ChunkRef, VaultError>
                do {
                    if let ref = try feed.next() { r = .success(ref) }
                    else { r = .failure(VaultError(.corrupt, "\(path): the manifest lists \(index) chunks, not \(count)")) }
                } catch {
                    r = .failure(error as? VaultError ?? VaultError(.io, "\(path): \(error)"))
                }
                guard inputs[index % workers].put(r) else { break }
                if case .failure = r { break }
            }
            for q in inputs { q.close() }
            fed.signal()
        }
        feeder.stackSize = 1 << 20
        feeder.start()
        for w in 0..<workers {
            let wanted = inputs[w], ahead = queues[w]
            let dec = w == 0 ? decompressor : Decompressor()
            let producer = Thread {
                let bases = BaseCache(storage: storage, decompressor: dec)
                for index in stride(from: w, to: count, by: workers) {
                    guard let next = wanted.take() else { break }
                    let r = next.flatMap { ref in
                        bases.prefetch(ref.bases)
                        return Result { try Self.fetch(storage, file: file, count: count, index: index, ref: ref, decompressor: dec, bases: bases) }
                            .mapError { $0 as? VaultError ?? VaultError(.io, "\(path): \($0)") }
                    }
                    guard ahead.put(r) else { break }
                    if case .failure = r { break }
                }
                ahead.close()
            }
            producer.stackSize = 1 << 20
            producer.start()
        }
        defer {
            // On an error below, wake and stop the workers and the feeder; wait for the feeder
            // (it may be reading `feed`, which the caller reuses).
            for q in queues { q.close() }
            for q in inputs { q.close() }
            fed.wait()
        }

        // The file's SHA-256 runs on a thread of its own, beside `sink`'s writes: on this thread
        // the two took turns, and were the longest serial part of a restore.
        let toHash = BlockingQueue<Data>(capacity: 4)
        let fileHash = Locked<String>("")
        let hashed = DispatchSemaphore(value: 0)
        let hasher = Thread {
            var hash = SHA256()
            while let d = toHash.take() { d.withUnsafeBytes { hash.update(bufferPointer: $0) } }
            fileHash.withLock { $0 = Hex.encode(hash.finalize()) }
            hashed.signal()
        }
        hasher.stackSize = 1 << 20
        hasher.start()
        defer { toHash.close() }   // on an error below, the hasher drains what it has and ends
        var total: Int64 = 0
        for index in 0..<count {
            guard let next = queues[index % workers].take() else { break }
            let plain = try next.get()
            toHash.put(plain)
            total += Int64(plain.count)
            try sink(plain)
        }
        toHash.close()
        hashed.wait()
        let digest = fileHash.get()
        guard total == file.size, digest == file.sha256 else {
            // Chunks are checked one by one only now, to name the damaged one (if the manifest's
            // chunk list is intact, one is).
            let bases = BaseCache(storage: storage, decompressor: decompressor)
            let list = try again()
            for index in 0..<count {
                guard let ref = try list.next() else { break }
                _ = try Self.fetch(storage, file: file, count: count, index: index, ref: ref, decompressor: decompressor, bases: bases, verify: true)
            }
            throw VaultError(.corrupt,
                "\(file.path): the restored bytes (\(total) bytes, sha256 \(digest)) do not match the manifest (\(file.size) bytes, sha256 \(file.sha256)).",
                location: file.path)
        }
    }

    /// One chunk, fetched and decoded. With `verify`, checked against its id; the links of its
    /// delta chain are decoded unverified (the chunk's own SHA-256 covers them), and when the
    /// chunk fails its check, the chain is decoded again link by link, verified, to name the
    /// broken link. Without (`read`, whose whole-file SHA-256 covers every chunk), only the
    /// lengths are checked on the way.
    static func fetch(_ storage: any Storage, file: FileEntry, count: Int, index: Int, ref: ChunkRef, decompressor: Decompressor,
                      bases: BaseCache, verify: Bool = false) throws -> Data {
        let object: Data
        do { object = try storage.get(ChunkCodec.key(for: ref.id)) }
        catch let e as VaultError where e.code == .objectMissing {
            throw VaultError(.corrupt,
                "\(file.path): chunk \(index + 1) of \(count) (\(ref.id)) is missing from the vault; this file cannot be restored from this vault." + Unhide.hint(storage),
                cause: e.message, location: ChunkCodec.key(for: ref.id))
        }
        do {
            if !verify, let plain = try bases.composedPlaintext(ref.id, object: object) {
                // An op delta: composed down its chain; the file's SHA-256 covers it (as below).
                guard plain.count == ref.size else {
                    throw ChunkCodec.damaged(ref.id, "length \(plain.count) where the manifest says \(ref.size)")
                }
                return plain
            }
            do { return try ChunkCodec.decode(object, id: ref.id, expectedSize: ref.size, decompressor: decompressor,
                                              base: { try bases.plaintext($0, verify: false) }, verify: verify) }
            catch let e as VaultError where e.code == .corrupt {
                guard verify, let baseIds = ChunkCodec.baseIds(of: object), !baseIds.isEmpty else { throw e }
                for b in baseIds { _ = try bases.plaintext(b, verify: true, cached: false) }   // names a broken link, if any
                throw e
            }
        } catch var e as VaultError {
            e.message = "\(file.path): chunk \(index + 1) of \(count): " + e.message
            throw e
        }
    }
}

/// The plaintext of base chunks (chunks that delta chunks were compressed against), with the
/// most recent few kept: neighbouring chunks often share bases. A base that is itself a delta
/// is decoded on top of its own base, recursively down to the full chunk at the chain's root.
public final class BaseCache: @unchecked Sendable {
    let storage: any Storage
    let decompressor: Decompressor
    private var recent: [(id: String, plain: Data, verified: Bool)] = []
    /// Objects fetched ahead by `prefetch`, each used once.
    private var fetched: [String: Data] = [:]
    /// Deeper than any chain a backup writes (`VaultConfig.deltaDepth` is at most 64): a chain
    /// longer than this is damage (or a loop), not data.
    static let maxChain = 256

    public init(storage: any Storage, decompressor: Decompressor = Decompressor()) {
        self.storage = storage
        self.decompressor = decompressor
    }

    /// On a remote storage (S3), fetches the objects of the chain links `ids` (from the manifest)
    /// eight at a time, so that decoding a chunk 16 links deep costs one round trip or two,
    /// not sixteen. A no-op on local storages; a failed fetch is left to the decode, which
    /// reports it.
    public func prefetch(_ ids: [String]) {
        guard !(storage is LocalStorage), !(storage is MemoryStorage) else { return }
        fetched = [:]   // what the previous chunk's decode did not need (a cached link) goes
        let todo = ids.filter { id in !recent.contains { $0.id == id } }
        guard todo.count > 1 else { return }
        let got = Locked<[String: Data]>([:])
        let storage = self.storage
        DispatchQueue.concurrentPerform(iterations: min(8, todo.count)) { worker in
            for i in stride(from: worker, to: todo.count, by: 8) {
                if let d = try? storage.get(ChunkCodec.key(for: todo[i])) { got.withLock { $0[todo[i]] = d } }
            }
        }
        fetched.merge(got.get()) { a, _ in a }
    }

    /// The plaintext of chunk `id`, decoded through its chain. `verify` checks its SHA-256 (and,
    /// with `cached: false`, that of every link below it, so the first broken one is named).
    public func plaintext(_ id: String, verify: Bool = true, cached: Bool = true) throws -> Data {
        try decode(id, verify: verify, cached: cached, level: 0)
    }

    private func decode(_ id: String, verify: Bool, cached: Bool, level: Int) throws -> Data {
        if cached, let i = recent.firstIndex(where: { $0.id == id }), recent[i].verified || !verify {
            let hit = recent.remove(at: i)
            recent.insert(hit, at: 0)
            return hit.plain
        }
        guard level < Self.maxChain else { throw tooDeep(id) }
        let object = try self.object(id)
        let plain: Data
        if cached, let composed = try composedPlaintext(id, object: object, level: level) {
            plain = composed
            if verify {
                let actual = plain.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
                guard actual == id else { throw ChunkCodec.damaged(id, "content hash is \(actual)") }
            }
        } else {
            plain = try ChunkCodec.decode(object, id: id, expectedSize: nil, decompressor: decompressor,
                                          base: { try self.decode($0, verify: !cached, cached: cached, level: level + 1) },
                                          verify: verify)
        }
        if cached {
            recent.insert((id, plain, verify), at: 0)
            if recent.count > 4 { recent.removeLast() }
        }
        return plain
    }

    /// An op delta (codec 4) composed down its chain and its bytes copied once (not once per
    /// link); nil for any other codec. Not verified (its caller checks the SHA-256).
    func composedPlaintext(_ id: String, object: Data, level: Int = 0) throws -> Data? {
        guard ChunkCodec.codec(of: object) == ChunkCodec.Codec.opDelta.rawValue else { return nil }
        let list = try composed(id, object: object, level: level)
        defer { pgv_sl_release(list) }
        let length = Int(pgv_sl_length(list))
        guard let raw = malloc(max(1, length)) else { throw VaultError(.io, "out of memory for \(length) bytes") }
        pgv_sl_materialize(list, raw)
        return Data(bytesNoCopy: raw, count: length, deallocator: .free)
    }

    private func tooDeep(_ id: String) -> VaultError {
        VaultError(.corrupt, "chunk \(id) is more than \(Self.maxChain) delta steps from a full chunk: its chain is damaged or loops",
                   location: ChunkCodec.key(for: id))
    }

    /// The stored object of chunk `id` (fetched ahead, or now); a missing one is damage.
    private func object(_ id: String) throws -> Data {
        if let ahead = fetched.removeValue(forKey: id) { return ahead }
        do { return try storage.get(ChunkCodec.key(for: id)) }
        catch let e as VaultError where e.code == .objectMissing {
            throw VaultError(.corrupt, "base chunk \(id) is missing from the vault." + Unhide.hint(storage), cause: e.message, location: ChunkCodec.key(for: id))
        }
    }

    /// Chunk `id` as a segment list (`pgv_delta.h`; the caller releases it): an op delta is
    /// composed over its bases' lists, anything else (a full chunk, a codec 2/3 delta) is
    /// decoded whole and becomes one segment. Links are not verified here: the chunk decoded on
    /// top is (as in `decode`).
    private func segments(_ id: String, level: Int) throws -> OpaquePointer {
        guard level < Self.maxChain else { throw tooDeep(id) }
        let plain: Data
        if let hit = recent.first(where: { $0.id == id }) {
            plain = hit.plain
        } else {
            let object = try self.object(id)
            if ChunkCodec.codec(of: object) == ChunkCodec.Codec.opDelta.rawValue {
                return try composed(id, object: object, level: level)
            }
            if let full = try ChunkCodec.decodeFull(object, id: id, decompressor: decompressor), let raw = full.baseAddress {
                // The root of the chain: decoded straight into the buffer the leaf owns.
                guard let leaf = pgv_sl_leaf(raw, UInt64(full.count), 1) else { throw VaultError(.io, "out of memory") }
                return leaf
            }
            plain = try ChunkCodec.decode(object, id: id, expectedSize: nil, decompressor: decompressor,
                                          base: { try self.decode($0, verify: false, cached: false, level: level + 1) },
                                          verify: false)
        }
        // A copy the list owns (the Data's storage is not ours to hold on to).
        guard let raw = malloc(max(1, plain.count)) else { throw VaultError(.io, "out of memory for \(plain.count) bytes") }
        plain.copyBytes(to: raw.assumingMemoryBound(to: UInt8.self), count: plain.count)
        guard let leaf = pgv_sl_leaf(raw, UInt64(plain.count), 1) else { throw VaultError(.io, "out of memory") }
        return leaf
    }

    /// An op delta (codec 4) composed over its bases' segment lists.
    private func composed(_ id: String, object: Data, level: Int) throws -> OpaquePointer {
        func corrupt(_ why: String) -> VaultError { ChunkCodec.damaged(id, why) }
        let (_, length) = try ChunkCodec.header(of: object, id: id)   // magic and version, as every decode checks
        guard let baseIds = ChunkCodec.baseIds(of: object), !baseIds.isEmpty else { throw corrupt("delta header is cut short") }
        var parts: [OpaquePointer] = []
        defer { for p in parts { pgv_sl_release(p) } }
        for b in baseIds {
            do { parts.append(try segments(b, level: level + 1)) }
            catch let e as VaultError {
                throw VaultError(.corrupt, "chunk \(id) is stored as a delta against chunk \(b), which cannot be read: \(e.message)",
                                 cause: e.cause, location: e.location ?? ChunkCodec.key(for: b))
            }
        }
        let reference: OpaquePointer
        if parts.count == 1 {
            reference = parts[0]
        } else {
            let optionals: [OpaquePointer?] = parts
            guard let joined = optionals.withUnsafeBufferPointer({ pgv_sl_concat($0.baseAddress, Int32($0.count)) }) else {
                throw VaultError(.io, "out of memory")
            }
            parts.append(joined)
            reference = joined
        }
        let frames: (ops: UnsafeMutableRawBufferPointer, lits: UnsafeMutableRawBufferPointer)
        do { frames = try ChunkCodec.opFrames(object, bases: baseIds.count, length: length, decompressor: decompressor) }
        catch { throw corrupt("op delta against \(baseIds.joined(separator: " + ")): \(error)") }
        defer { free(frames.ops.baseAddress) }
        var err: Int32 = 0
        guard let list = pgv_sl_compose(reference, frames.ops.baseAddress?.assumingMemoryBound(to: UInt8.self), frames.ops.count,
                                        frames.lits.baseAddress?.assumingMemoryBound(to: UInt8.self), frames.lits.count,
                                        UInt64(length), &err) else {
            throw corrupt("op delta against \(baseIds.joined(separator: " + ")): \(String(cString: pgv_delta_error(err)))")
        }
        return list
    }
}
