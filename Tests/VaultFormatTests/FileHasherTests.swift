import Crypto
import Foundation
import Testing
import VaultCore
import VaultFormat

@Suite("File hasher (chunk ids and the file's SHA-256 in one pass)")
struct FileHasherTests {
    private func sha(_ bytes: ArraySlice<UInt8>) -> String { Hex.encode(SHA256.hash(data: Array(bytes))) }

    @Test(arguments: [true, false])
    func equalsSHA256OfEveryChunkAndOfTheWholeFile(_ interleaved: Bool) {
        var s: UInt64 = 17
        let data: [UInt8] = (0..<400_003).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: s >> 29)
        }
        // Piece lengths around the 64-byte block size and its multiples, so the file's pending
        // partial block and each chunk's own blocks fall at every relative offset.
        let lengths = [0, 1, 63, 64, 65, 127, 128, 129, 55, 56, 57, 119, 120, 121, 1_000, 4_103, 70_001, 3, 191, 64 * 300 + 17]
        var hasher = FileHasher(interleaved: interleaved)
        var at = 0
        var i = 0
        while at < data.count {
            let n = min(lengths[i % lengths.count] + i / lengths.count, data.count - at)
            let id = data.withUnsafeBytes { hasher.chunk(UnsafeRawBufferPointer(rebasing: $0[at..<(at + n)])) }
            #expect(id == sha(data[at..<(at + n)]), "piece \(i) of \(n) bytes at \(at)")
            at += n
            i += 1
        }
        #expect(hasher.finalize() == sha(data[...]))
        var empty = FileHasher(interleaved: interleaved)
        #expect(empty.finalize() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var abc = FileHasher(interleaved: interleaved)
        #expect(Array("abc".utf8).withUnsafeBytes { abc.chunk($0) } == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(abc.finalize() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// Where the CPU has the SHA extensions the interleaved pass is used (not silently skipped).
    @Test func usesTheSHAExtensionsWhereTheCPUHasThem() throws {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let hasSHA = flags.split(separator: " ").contains("sha_ni")
        #expect(FileHasher.interleavedAvailable == hasSHA, "/proc/cpuinfo sha_ni: \(hasSHA)")
    }
}
