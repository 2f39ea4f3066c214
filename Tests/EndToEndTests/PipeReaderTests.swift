import Foundation
import Testing
@testable import VaultEngine

/// PipeReader recycles a fixed pool of blocks between its reader thread and the consumer: the
/// bytes must come out in order and whole whatever the piece sizes on either side, a failure
/// of the source must reach the consumer after the bytes before it, and stopping early must
/// end the thread (the backup joins it before closing the pipe).
@Suite("Pipe reader")
struct PipeReaderTests {
    /// A source of `total` pattern bytes handed out in pieces of pseudo-random sizes (a pipe
    /// gives what it has), failing with `failAt` once that many bytes went out, if set.
    final class Source: @unchecked Sendable {
        let total: Int
        let failAt: Int?
        private var sent = 0
        private var seed: UInt64 = 7
        init(total: Int, failAt: Int? = nil) { self.total = total; self.failAt = failAt }
        /// Byte `i` of the stream: no period a block size could line up with.
        static func byte(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: (UInt64(i) &* 0x9E37_79B9_7F4A_7C15) >> 56) }
        func read(_ buf: UnsafeMutableRawBufferPointer) throws -> Int {
            if let failAt, sent >= failAt { throw CocoaError(.fileReadUnknown) }
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            var n = min(buf.count, total - sent, 1 + Int(seed >> 45))   // 1 byte to 512 KiB
            if let failAt { n = min(n, failAt - sent) }
            for i in 0..<n { buf[i] = Self.byte(sent + i) }
            sent += n
            return n
        }
    }

    @Test(arguments: [(1 << 20, 8), (4096, 2), (3000, 3)])
    func deliversEveryByteInOrderWhateverThePieceSizes(_ block: Int, _ capacity: Int) throws {
        let total = 9_437_187   // not a multiple of any block size
        let source = Source(total: total)
        let reader = PipeReader(blockSize: block, capacity: capacity) { try source.read($0) }
        var got = 0
        var wrong = 0
        var sizes = 1
        var buffer = [UInt8](repeating: 0, count: 700_001)
        while true {
            sizes = sizes * 7 % 700_001 + 1   // the consumer's reads vary too
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<sizes])) }
            if n == 0 { break }
            for i in 0..<n where buffer[i] != Source.byte(got + i) { wrong += 1 }
            got += n
        }
        reader.join()
        #expect(got == total)
        #expect(wrong == 0)
        #expect(try buffer.withUnsafeMutableBytes { try reader.read(into: $0) } == 0, "end of input stays the end")
    }

    /// A slow consumer and a fast source: a block handed back before it was copied out would be
    /// refilled under the consumer's feet.
    @Test func aBlockIsRefilledOnlyAfterItWasCopiedOut() throws {
        let total = 300_000
        let source = Source(total: total)
        let reader = PipeReader(blockSize: 4096, capacity: 2) { try source.read($0) }
        var got = 0, wrong = 0
        var buffer = [UInt8](repeating: 0, count: 97)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            for i in 0..<n where buffer[i] != Source.byte(got + i) { wrong += 1 }
            got += n
            usleep(20)   // the reader thread runs ahead meanwhile
        }
        reader.join()
        #expect(got == total)
        #expect(wrong == 0)
    }

    @Test func aFailingSourceReachesTheConsumerAfterTheBytesBeforeIt() throws {
        let source = Source(total: 10 << 20, failAt: 3 << 20)
        let reader = PipeReader(blockSize: 1 << 20, capacity: 4) { try source.read($0) }
        var got = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        #expect(throws: CocoaError.self) {
            while true {
                let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
                if n == 0 { break }
                got += n
            }
        }
        reader.join()
        #expect(got == 3 << 20)
    }

    @Test func stoppingEarlyEndsTheReaderThread() throws {
        let source = Source(total: Int.max / 2)   // never ends on its own
        let reader = PipeReader(blockSize: 1 << 16, capacity: 2) { try source.read($0) }
        var buffer = [UInt8](repeating: 0, count: 1000)
        _ = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
        reader.stop()
        let joined = DispatchSemaphore(value: 0)
        Thread { reader.join(); joined.signal() }.start()
        #expect(joined.wait(timeout: .now() + 10) == .success, "the reader thread ended after stop()")
    }
}
