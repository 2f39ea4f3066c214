import Foundation
import VaultCore
import VaultFormat

/// Drains a child's standard output on its own thread into a bounded queue of blocks, so
/// pg_dump never waits on the pipe while the consumer chunks, hashes and compresses.
///
/// The blocks are allocated once and recycled: the reader fills a free block, queues it, and
/// the consumer hands it back once it has copied it out. Memory is exactly `capacity` blocks
/// of `blockSize` bytes (8 MiB by default, ~40 ms of pg_dump output), whatever the dump's size;
/// a fresh block per MiB, as before, left the heap of a 5 GB delta backup fragmented across
/// threads (bench/README.md, P4).
final class PipeReader: @unchecked Sendable {
    private struct Block { let index: Int; let count: Int }
    /// The blocks' memory, freed when both this reader and its thread are done with it.
    private final class Pool: @unchecked Sendable {
        let bytes: UnsafeMutableRawBufferPointer
        init(_ count: Int) { bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 64) }
        deinit { bytes.deallocate() }
    }
    private let pool: Pool
    private let blockSize: Int
    private let filled: BlockingQueue<Result<Block, any Error>>
    private let spare: BlockingQueue<Int>
    private var current: Block?
    private var offset = 0
    private var ended = false
    private let exited = DispatchSemaphore(value: 0)

    init(blockSize: Int = 1 << 20, capacity: Int = 8, read: @escaping @Sendable (UnsafeMutableRawBufferPointer) throws -> Int) {
        let capacity = max(2, capacity)
        self.blockSize = blockSize
        let pool = Pool(blockSize * capacity)
        self.pool = pool
        let filled = BlockingQueue<Result<Block, any Error>>(capacity: capacity)
        let spare = BlockingQueue<Int>(capacity: capacity)
        for i in 0..<capacity { spare.put(i) }
        self.filled = filled
        self.spare = spare
        let exited = self.exited
        let t = Thread {
            defer { exited.signal() }
            while let index = spare.take() {
                let block = UnsafeMutableRawBufferPointer(rebasing: pool.bytes[(index * blockSize)..<((index + 1) * blockSize)])
                var count = 0
                do {
                    // Fill the block (or hit end of input) before handing it over.
                    while count < blockSize {
                        let n = try read(UnsafeMutableRawBufferPointer(rebasing: block[count...]))
                        if n == 0 { break }
                        count += n
                    }
                } catch {
                    filled.put(.failure(error))
                    filled.close()
                    return
                }
                if count > 0 && !filled.put(.success(Block(index: index, count: count))) { return }
                if count < blockSize { filled.close(); return }
            }
        }
        t.stackSize = 1 << 20
        t.start()
    }

    /// read(2)-like: copies the next bytes into `buffer`; 0 at end of input.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if let c = current, offset == c.count {
            spare.put(c.index)   // copied out: the reader may fill it again
            current = nil
        }
        if current == nil {
            guard !ended, let next = filled.take() else { ended = true; return 0 }
            current = try next.get()
            offset = 0
        }
        guard let c = current else { return 0 }
        let n = min(buffer.count, c.count - offset)
        let start = c.index * blockSize + offset
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: pool.bytes[start..<(start + n)]))
        offset += n
        return n
    }

    /// Stops the reader thread (after a failure on the consumer side).
    func stop() { filled.close(); spare.close() }

    /// Waits until the reader thread has exited: only then may the pipe be closed, or the
    /// thread could read from a descriptor number that meanwhile belongs to something else.
    /// The child must have ended (or been told to) so a blocked read returns.
    func join() { exited.wait(); exited.signal() }
}
