import Foundation
import VaultCore

/// Drains a child's standard output on its own thread into a bounded queue of blocks, so
/// pg_dump never waits on the pipe while the consumer chunks, hashes and compresses. Memory
/// is bounded by `capacity` blocks of `blockSize` bytes.
final class PipeReader: @unchecked Sendable {
    private let cond = NSCondition()
    private var blocks: [Data] = []
    private var finished = false
    private var failure: (any Error)?
    private var stopped = false
    private let capacity: Int
    private var current = Data()
    private var offset = 0

    init(blockSize: Int = 1 << 20, capacity: Int = 16, read: @escaping @Sendable (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.capacity = capacity
        let t = Thread { [self] in
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
                    cond.lock(); failure = error; finished = true; cond.broadcast(); cond.unlock()
                    return
                }
                block.count = filled
                cond.lock()
                while blocks.count >= capacity && !stopped { cond.wait() }
                if stopped { cond.unlock(); return }
                if filled > 0 { blocks.append(block) }
                if filled < blockSize { finished = true }
                cond.broadcast()
                cond.unlock()
                if filled < blockSize { return }
            }
        }
        t.stackSize = 1 << 20
        t.start()
    }

    /// read(2)-like: copies the next bytes into `buffer`; 0 at end of input.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if offset == current.count {
            cond.lock()
            while blocks.isEmpty && !finished { cond.wait() }
            if blocks.isEmpty {
                let f = failure
                cond.unlock()
                if let f { throw f }
                return 0
            }
            current = blocks.removeFirst()
            offset = 0
            cond.broadcast()
            cond.unlock()
        }
        let n = min(buffer.count, current.count - offset)
        current.withUnsafeBytes { src in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + n)]))
        }
        offset += n
        return n
    }

    /// Stops the reader thread (after a failure on the consumer side).
    func stop() {
        cond.lock(); stopped = true; cond.broadcast(); cond.unlock()
    }
}
