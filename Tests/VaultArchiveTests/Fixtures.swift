import Foundation
import Testing
import VaultArchive
import VaultCore
import VaultTestSupport

/// The files every sink test writes: a big one in uneven pieces, an empty one, one with
/// spaces, unicode and '%' in its name, and one whose name is too long for a plain ustar header.
struct Sample {
    var name: String
    var data: Data
    /// Piece sizes to feed the sink (they sum to data.count).
    var pieces: [Int]

    static let all: [Sample] = {
        // ~5 MiB of non-repeating bytes fed in irregular pieces, one of them the 8 MiB-cap-like big one.
        var rng = SplitMix(seed: 42)
        let big = Data((0..<(5 * 1024 * 1024 + 12345)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        var pieces: [Int] = []
        var left = big.count
        let pattern = [1, 4095, 65536, 3 * 1024 * 1024, 7, 0, 1 << 20, 123457]
        var i = 0
        while left > 0 {
            let n = min(left, pattern[i % pattern.count]); pieces.append(n); left -= n; i += 1
        }
        let small = Data("-- globals\nCREATE ROLE \"ü 100%\";\n".utf8)
        return [
            Sample(name: "db1.dump", data: big, pieces: pieces),
            Sample(name: "empty.sql", data: Data(), pieces: []),
            Sample(name: "Grüße an 100% der Welt – 數據 ü.sql", data: small, pieces: [5, small.count - 5]),
            // Longer than ustar's 100-byte name field: needs a pax extended header.
            Sample(name: String(repeating: "long_name-", count: 19) + ".sql", data: Data("x".utf8), pieces: [1]),
        ]
    }()

    func write(to sink: any RestoreSink) throws {
        try sink.beginFile(name: name, size: Int64(data.count))
        var offset = 0
        for n in pieces {
            try data[offset..<(offset + n)].withUnsafeBytes { try sink.write($0) }
            offset += n
        }
        try sink.finishFile()
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func contents(_ dir: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
}

func mode(_ path: String) throws -> Int {
    let attrs = try FileManager.default.attributesOfItem(atPath: path)
    return (attrs[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

func expectVaultError(_ code: VaultError.Code, _ body: () throws -> Void,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected VaultError(.\(code)), nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as VaultError {
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected VaultError(.\(code)), got \(error)", sourceLocation: sourceLocation)
    }
}
