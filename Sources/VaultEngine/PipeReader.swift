import Foundation
import VaultCore
import VaultFormat

/// Drains a child's standard output on its own thread into a bounded queue of blocks, so
/// pg_dump never waits on the pipe while the consumer chunks, hashes and compresses. Memory
/// is bounded by `capacity` blocks of `blockSize` bytes.
final class PipeReader: @unchecked Sendable {
    private let blocks: BlockingQueue<Result<Data, any Error>>
    private var current = Data()
    private var offset = 0
    private var ended = false
    private let exited = DispatchSemaphore(value: 0)

    init(blockSize: Int = 1 << 20, capacity: Int = 16, read: @escaping @Sendable (UnsafeMutableRawBufferPointer) throws -> Int) {
        let queue = BlockingQueue<Result<Data, any Error>>(capacity: capacity)
        blocks = queue
        let exited = self.exited
        let t = Thread {
            defer { exited.signal() }
            while true {
                var block = Data(count: blockSize)
                var filled = 0
                do {
                    // Fill the block (or hit end of input) before handing it over.
                    while filled < blockSize {
                        let n = try block.withUnsafeMutableBytes { raw in
                            try read(UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
                        }
                        if n == 0 { break }
                        filled += n
                    }
                } catch {
                    queue.put(.failure(error))
                    queue.close()
                    return
                }
                block.count = filled
                if filled > 0 && !queue.put(.success(block)) { return }
                if filled < blockSize { queue.close(); return }
            }
        }
        t.stackSize = 1 << 20
        t.start()
    }

    /// read(2)-like: copies the next bytes into `buffer`; 0 at end of input.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if offset == current.count {
            guard !ended, let next = blocks.take() else { ended = true; return 0 }
            current = try next.get()
            offset = 0
        }
        let n = min(buffer.count, current.count - offset)
        current.withUnsafeBytes { src in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + n)]))
        }
        offset += n
        return n
    }

    /// Stops the reader thread (after a failure on the consumer side).
    func stop() { blocks.close() }

    /// Waits until the reader thread has exited: only then may the pipe be closed, or the
    /// thread could read from a descriptor number that meanwhile belongs to something else.
    /// The child must have ended (or been told to) so a blocked read returns.
    func join() { exited.wait(); exited.signal() }
}
