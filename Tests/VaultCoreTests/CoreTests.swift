import Foundation
import Testing
import VaultCore

@Suite("Core values")
struct CoreTests {
    /// Head, sketch and cut read back exactly as given, held inline or (any other text) as
    /// given, and equal texts make equal entries whichever way they were set.
    @Test func chunkMarksReadBackAsGivenInlineOrNot() throws {
        let id = String(repeating: "ab", count: 32)
        let head = "0123456789abcdef0123456789abcdef"
        let sketch8 = (0..<8).map { String(format: "%016llx", UInt64($0) << 40 | 7) }.joined()
        let cases: [(String?, String?, String?)] = [
            (head, sketch8, "1f"), (head, String(sketch8.prefix(48)), "0"), (nil, nil, nil),
            ("0123", "f" + String(sketch8.dropFirst()), "01f"), ("ABCDEF", sketch8 + "0000000000000001", "x y"),
            (head, "", "ffffffffffffffff"), ("ü \"odd\"", String(sketch8.prefix(16)), "10000000000000000"),
        ]
        for (h, sk, c) in cases {
            let r = ChunkRef(id: id, size: 5, head: h, sketch: sk, cut: c)
            #expect(r.head == h && r.sketch == sk && r.cut == c, "\(String(describing: (h, sk, c)))")
            let json = try JSONEncoder().encode(r)
            let back = try JSONDecoder().decode(ChunkRef.self, from: json)
            #expect(back == r && back.head == h && back.sketch == sk && back.cut == c)
            var set = ChunkRef(id: id, size: 5, head: "zz", sketch: sketch8, cut: "q")
            set.head = h; set.sketch = sk; set.cut = c
            #expect(set == r, "set field by field: \(String(describing: (h, sk, c)))")
        }
        let inline = ChunkRef(id: id, size: 5, head: head, sketch: String(sketch8.prefix(32)), cut: "1f")
        #expect(inline.sketchValues == [7, 1 << 40 | 7])
        #expect(ChunkRef(id: id, size: 5, sketch: "xyz").sketchValues == nil)
        #expect(ChunkRef(id: id, size: 5, head: head) != ChunkRef(id: id, size: 5, head: String(head.reversed())))
        #expect(ChunkRef(id: id, size: 5, cut: "1f") != ChunkRef(id: id, size: 5, cut: "01f"))
    }

    /// A chain that shares another list behind one id reads, compares, counts and encodes
    /// exactly as the same ids held flat, down several levels and with a non-hex id among them.
    @Test func aPrependedChainIsTheSameListAsItsIdsHeldFlat() throws {
        let ids = (1...5).map { String(format: "%064x", $0 * 7919) }
        let tail = ChunkIds(Array(ids.suffix(3)))
        let two = ChunkIds(prepending: PackedHex(ids[1]), to: tail)
        let three = ChunkIds(prepending: PackedHex(ids[0]), to: two)
        #expect(three.count == 5 && three.strings == ids)
        #expect(three == ChunkIds(ids) && ChunkIds(ids) == three)
        #expect(three != ChunkIds(Array(ids.prefix(4))) && three != ChunkIds(ids.reversed()))
        #expect(three.isPrepended(to: two) && two.isPrepended(to: tail) && !three.isPrepended(to: tail))
        #expect(!ChunkIds(ids).isPrepended(to: tail), "a flat copy shares nothing")
        var seen: [String] = []
        three.forEach(digest: { seen.append($0.hex) }, other: { seen.append("other:" + $0) })
        #expect(seen == ids)
        let odd = ChunkIds(prepending: PackedHex("NOT-HEX"), to: tail)
        var oddSeen: [String] = []
        odd.forEach(digest: { oddSeen.append($0.hex) }, other: { oddSeen.append("other:" + $0) })
        #expect(oddSeen == ["other:NOT-HEX"] + ids.suffix(3) && odd.strings == ["NOT-HEX"] + ids.suffix(3))
        #expect(ChunkIds(prepending: PackedHex(ids[0]), to: ChunkIds([])) == ChunkIds([ids[0]]))

        // In a manifest entry: the same JSON, and it decodes back equal.
        let shared = ChunkRef(id: ids[4], size: 10, base: PackedHex(ids[3]), chain: three, depth: 6,
                              head: nil, sketch: nil, cut: nil)
        let flat = ChunkRef(id: ids[4], size: 10, base: ids[3], chain: ids)
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        let json = try enc.encode(shared)
        #expect(json == (try enc.encode(flat)))
        #expect(try JSONDecoder().decode(ChunkRef.self, from: json) == shared)
        #expect(shared == flat && shared.bases == [ids[3]] + ids && shared.depth == 6)
    }

    @Test(arguments: [("1TiB", Int64(1) << 40), ("500MB", 500_000_000), ("500 MB", 500_000_000), ("64MiB", 64 << 20),
                      ("64k", 65536), ("1048576", 1_048_576), ("1.5GB", 1_500_000_000), ("2G", 2 << 30), ("10B", 10)])
    func sizesParse(text: String, bytes: Int64) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "MB", "12 parsecs", "-5MB", "1e9", "1..2MB"])
    func badSizesAreRefused(text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test func sizesFormatTheWayLimitsAreWritten() {
        #expect(ByteSize.format(500_000_000) == "500 MB")
        #expect(ByteSize.format(1 << 40) == "1 TiB")
        #expect(ByteSize.format(1536) == "1.5 KiB")
        #expect(ByteSize.format(812) == "812 B")
    }

    @Test(arguments: ["plain", "crm \"eu\" café", "-dash", ".hidden", "a/b", "100%", "ünï", "a=b", "x.database", " "])
    func fileNamesEscapeReversiblyAndSafely(name: String) throws {
        let e = FileNames.escape(name)
        #expect(!e.contains("/") && !e.hasPrefix("-") && !e.hasPrefix(".") && !e.isEmpty)
        #expect(e.utf8.allSatisfy { $0 < 128 && $0 > 32 })
        #expect(FileNames.unescape(e) == name)
    }

    @Test func fileNameEscapingIsTheDocumentedOne() {
        #expect(FileNames.escape("crm \"eu\" café") == "crm%20%22eu%22%20caf%C3%A9")
        #expect(FileNames.escape("-x") == "%2Dx")
        #expect(FileNames.escape("a/b") == "a%2Fb")
        #expect(FileNames.escape("shop-2.0") == "shop-2.0")
    }

    @Test func errorsCarryCodesExitCodesAndCauses() {
        let e = VaultError(.notAVault, "not a vault", cause: "no vault.json", location: "/x")
        #expect(e.exitCode == .notAVault && e.exitCode.rawValue == 10)
        #expect(e.description.contains("error[not-a-vault]") && e.description.contains("cause: no vault.json"))
        #expect(VaultError.posix("write", path: "/p", errno: ENOSPC).code == .diskFull)
        #expect(VaultError.posix("write", path: "/p", errno: EDQUOT).code == .diskFull)
        #expect(VaultError(.interrupted, "x").exitCode.rawValue == 130)
    }

    @Test func idsSortByTime() {
        let a = Identifier.make(at: Date(timeIntervalSince1970: 1_700_000_000))
        let b = Identifier.make(at: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(a < b)
        #expect(a.hasPrefix("20231114T221320Z-"))
    }
}
