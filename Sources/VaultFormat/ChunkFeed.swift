public import Foundation
public import VaultCore
public import VaultStorage

/// One file's chunk entries, handed out in order, a batch at a time from wherever they are
/// held: a list in memory (`init(_:)`), or a stored manifest read as it is needed
/// (`PointChunkStream`). Used by one thread at a time.
public final class ChunkFeed: @unchecked Sendable {
    private let pull: () throws -> [ChunkRef]?
    private var batch: [ChunkRef] = []
    private var at = 0

    /// `pull` returns the next batch, nil once there is none.
    public init(pull: @escaping () throws -> [ChunkRef]?) { self.pull = pull }

    /// The entries of a list held in memory.
    public convenience init(_ list: [ChunkRef]) {
        var given: [ChunkRef]? = list
        self.init { defer { given = nil }; return given }
    }

    /// The next entry; nil after the last.
    public func next() throws -> ChunkRef? {
        while at == batch.count {
            guard let more = try pull() else { return nil }
            batch = more
            at = 0
        }
        defer { at += 1 }
        return batch[at]
    }
}

/// The chunk lists of the manifest stored at `key`, decoded on a thread of its own a batch
/// (`ManifestScanner.batchSize` entries) at a time while they are used, so that restoring or
/// verifying a point holds a few thousand of its entries, not all of them (a 1 TiB point lists
/// ~650,000 chunks, hundreds of MB decoded). At most two batches wait decoded.
///
/// `feed(file:)` hands out the lists file by file, in increasing order of file index (a file
/// skipped is read past); `finish()` then checks that the manifest read this way is the one
/// the caller planned with (`expected`, from `ManifestCodec.decodeSummary` of the same object):
/// the same files, the same number of entries each. A mismatch (the object changed between the
/// two reads, which a vault never does) is `.corrupt`, and so is a list that ends early.
public final class PointChunkStream: @unchecked Sendable {
    private enum Item { case batch(Int, [ChunkRef]), end(Result<(Manifest, [Int]), VaultError>) }
    private let queue = BlockingQueue<Item>(capacity: 2)
    private let storage: any Storage
    private let key: String
    private let expected: Manifest
    private let expectedCounts: [Int]
    private let done = DispatchSemaphore(value: 0)
    /// An item taken for a later file than the one asked for, kept for it.
    private var pending: Item?
    private var ended: Result<(Manifest, [Int]), VaultError>?
    private struct Stopped: Error {}

    /// Starts reading the manifest at `key`, which `expected` and `counts` were decoded from.
    public init(storage: any Storage, key: String, expected: Manifest, counts: [Int]) {
        self.storage = storage
        self.key = key
        self.expected = expected
        self.expectedCounts = counts
        let queue = self.queue, done = self.done
        let reader = Thread {
            let result: Result<(Manifest, [Int]), VaultError>
            do {
                let r = try ManifestCodec.decode(storage, key: key) { file, batch in
                    guard queue.put(.batch(file, batch)) else { throw Stopped() }
                }
                result = .success((r.manifest, r.chunkCounts))
            } catch is Stopped {
                result = .failure(VaultError(.interrupted, "reading \(key) was stopped"))
            } catch {
                result = .failure(error as? VaultError ?? VaultError(.io, "reading \(key) failed: \(error)", location: key))
            }
            queue.put(.end(result))
            queue.close()
            done.signal()
        }
        reader.stackSize = 1 << 20
        reader.start()
    }

    deinit { close() }

    /// A new stream over the same manifest, from its start (to read a list again: the
    /// damaged-chunk search, or after a file whose read stopped part-way).
    public func reopened() -> PointChunkStream {
        PointChunkStream(storage: storage, key: key, expected: expected, counts: expectedCounts)
    }

    /// The chunk list of file `index` of `expected`. Call with increasing indexes, after the
    /// previous file's feed is no longer used.
    public func feed(file index: Int) -> ChunkFeed {
        ChunkFeed { [self] in try self.batch(for: index) }
    }

    private func batch(for index: Int) throws -> [ChunkRef]? {
        while true {
            let item: Item
            if let p = pending { item = p; pending = nil }
            else if let t = queue.take() { item = t }
            else { item = .end(ended ?? .failure(VaultError(.io, "reading \(key) ended without a result", location: key))) }
            switch item {
            case .batch(let file, let refs):
                if file < index { continue }          // a file not being read
                if file == index { return refs }
                pending = item                        // the next file's: this one's list has ended
                return nil
            case .end(let result):
                ended = result
                pending = item
                if case .failure(let e) = result { throw e }
                return nil
            }
        }
    }

    private var joined = false
    private func join() {
        if !joined { done.wait(); joined = true }
    }

    /// Stops the reading thread (it ends at its next batch) and waits for it.
    public func close() {
        queue.close()
        join()
        if ended == nil { ended = .failure(VaultError(.interrupted, "reading \(key) was stopped", location: key)) }
    }

    /// Reads the rest of the manifest and checks it against `expected`; throws what reading
    /// it threw.
    public func finish() throws {
        while true {
            if case .end(let result)? = pending { ended = result; break }
            pending = nil
            guard let item = queue.take() else { break }
            pending = item
        }
        join()
        guard let result = ended else { throw VaultError(.io, "reading \(key) ended without a result", location: key) }
        let (manifest, counts) = try result.get()
        func files(_ m: Manifest) -> [String] { m.files.map { "\($0.path) \($0.size) \($0.sha256)" } }
        guard manifest.id == expected.id, files(manifest) == files(expected), counts == expectedCounts else {
            throw VaultError(.corrupt,
                "\(key) changed while it was read (its files or chunk lists differ between two reads); a recovery point's manifest never changes: verify the vault and restore the point from a copy.",
                location: key)
        }
    }
}
