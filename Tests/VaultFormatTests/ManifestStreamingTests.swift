import Foundation
import Testing
import VaultCore
@testable import VaultFormat
import VaultStorage
import VaultTestSupport

/// The manifest's streaming writer and reader (`ManifestCodec.encode` / `decode`): a point of
/// a 1 TiB database names ~650,000 chunks with their chains (~950 MB of JSON), so neither side
/// may hold the JSON whole. These tests pin what they must keep: the same manifest back, JSON
/// any reader reads, and damage reported as damage.
@Suite("Manifest streaming")
struct ManifestStreamingTests {
    static func hex(_ n: Int, _ salt: Int) -> String {
        var out = ""
        var x = UInt64(truncatingIfNeeded: n &* 2_654_435_761 &+ salt &* 40_503)
        while out.count < 64 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out += String(format: "%016llx", x)
        }
        return String(out.prefix(64))
    }

    /// Chunks of every shape a backup writes: full, one base, a chain, a multi-base delta with
    /// `levels`, with and without head, sketch and cut.
    static func refs(_ count: Int, salt: Int) -> [ChunkRef] {
        (0..<count).map { i in
            let depth = i % 5
            let bases = (0..<depth).map { hex(i * 31 + $0, salt + 1) }
            var r = ChunkRef(id: hex(i, salt), size: 1_000 + i * 7, bases: bases, depth: depth + (i % 7 == 3 ? 2 : 0),
                             head: i % 3 == 0 ? nil : String(hex(i, salt + 2).prefix(32)),
                             sketch: i % 4 == 0 ? nil : hex(i, salt + 3) + hex(i, salt + 4),
                             cut: i % 2 == 0 ? nil : "2ec0767eb0e")
            if i == 5 { r.chain = [] }   // an empty chain as written by hand: read back as given
            // The writer writes chunk entries itself: any string must come back, escaped or not.
            if i == 7 { r.head = "odd \"quoted\" \\ \n\r\t\u{1}\u{1f} ünï 🐘 /"; r.chain = ["X\"", "\u{0}"] }
            return r
        }
    }

    /// Names that a JSON scanner must not trip over: quotes, backslashes, brackets, the very
    /// text `"chunks" : [`, newlines, unicode.
    static let names = ["plain", "with \"quotes\" and \\back\\slashes", #"x" : ["chunks" : [{"#, "line\nbreak\ttab",
                        "ünïcödé 数据库 🐘", "}]},{\"chunks\":[", ""]

    static func manifest(files: Int, chunks: Int) -> Manifest {
        var entries: [FileEntry] = []
        for k in 0..<files {
            let name = names[k % names.count]
            entries.append(FileEntry(path: "\(k)-\(name).dump", kind: k == 0 ? .roles : .dump, database: k == 0 ? nil : name,
                                     size: 123, sha256: hex(k, 99), chunks: k == 1 ? [] : refs(chunks + k, salt: k)))
        }
        var m = Manifest(id: "20260101T000000Z-abcd0123", vaultId: "vault-0000000000000001", jobId: "job \"1\"",
                         server: ServerInfo(name: "srv \"chunks\" : [", host: "h", port: "5432", version: "15.4", versionNum: 150004),
                         pgDumpVersion: "15.4", pgVaultVersion: "test", startedAt: Date(timeIntervalSince1970: 1_700_000_000),
                         finishedAt: Date(timeIntervalSince1970: 1_700_000_100), status: .partial, limits: Limits(),
                         databases: names.map { DatabaseRecord(name: $0, outcome: .ok) }, files: entries,
                         stats: PointStats(logicalBytes: 1, storedBytes: 2, chunks: 3, newChunks: 4))
        m.tags = ["weekly", "chunks"]
        return m
    }

    static func sha256(_ d: Data) -> String { d.withUnsafeBytes { ChunkCodec.sha256Hex($0) } }

    /// `Vault.commit` writes the manifest as it is encoded: the pieces are the bytes `encode`
    /// returns, and a storage that fails part-way stops the encoding with its error.
    @Test(arguments: [2, 4])
    func theEncodedPiecesAreTheStoredBytesAndAWriteErrorStopsThem(format: Int) throws {
        let m = Self.manifest(files: 4, chunks: 3_000)
        let (stored, sha256) = try ManifestCodec.encode(m, format: format)
        var pieces = 0
        var streamed = Data()
        let streamedSha = try ManifestCodec.encode(m, format: format) { streamed.append(contentsOf: $0); pieces += 1 }
        #expect(streamed == stored && streamedSha == sha256)
        #expect(pieces > 2, "handed over as it is made, not at the end")
        struct Full: Error {}
        var calls = 0
        #expect(throws: Full.self) {
            _ = try ManifestCodec.encode(m, format: format) { _ in
                calls += 1
                if calls == 2 { throw Full() }
            }
        }
        #expect(calls == 2, "nothing is emitted after the error")
    }

    @Test(arguments: [2, 4])
    func aManifestComesBackEqualFromTheStreamingWriterAndReader(format: Int) throws {
        let m = Self.manifest(files: 9, chunks: ManifestScanner.batchSize + 17)   // lists span two batches
        let (stored, sha256) = try ManifestCodec.encode(m, format: format)
        #expect(ManifestCodec.isCompressed(stored) == (format >= 3))
        let json = try ManifestCodec.json(stored, what: "m")
        #expect(Self.sha256(json) == sha256, "the hash is the JSON's")
        // Read back from the filesystem (1 MiB at a time: the stored object spans several) and
        // from memory (one piece).
        let dir = try TestEnvironment.temporaryDirectory("manifest")
        defer { try? FileManager.default.removeItem(at: dir) }
        let local = LocalStorage(root: dir.path)
        try local.createRoot()
        let memory = MemoryStorage()
        for storage in [local, memory] as [any Storage] {
            try storage.put(Vault.pointKey(m.id), stored, mode: .createOnly)
            let (back, backSha) = try ManifestCodec.decodeHashed(storage, key: Vault.pointKey(m.id))
            #expect(back == m)
            #expect(backSha == sha256)
            // What `show` reads: no chunk entry decoded, only counted.
            let summary = try ManifestCodec.decodeSummary(storage, key: Vault.pointKey(m.id), sha256: true)
            #expect(summary.manifest == Vault.summary(of: m))
            #expect(summary.chunkCounts == m.files.map(\.chunks.count))
            #expect(summary.sha256 == sha256)
        }
        #expect(stored.count > 1 << 20, "\(stored.count) bytes: the filesystem hands them over in pieces")
        // And fed in pieces of a few bytes: every state of the decompressing reader meets a boundary.
        for step in [1, 5, 4093] {
            var pieces: [UInt8] = []
            let stream = StoredManifestStream(what: "m") { pieces.append(contentsOf: $0) }
            try stored.withUnsafeBytes { raw in
                for start in stride(from: 0, to: raw.count, by: step) {
                    try stream.feed(UnsafeRawBufferPointer(rebasing: raw[start..<min(raw.count, start + step)]))
                }
            }
            try stream.finish()
            #expect(Data(pieces) == json, "pieces of \(step)")
        }
        #expect(try VaultJSON.decode(Manifest.self, from: json, what: "m") == m, "plain JSONDecoder reads the writer's JSON")
        #expect((try JSONSerialization.jsonObject(with: json)) is [String: Any], "and so does any JSON parser")
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"chunks\" : [\n        {\"id\":") && text.contains("},\n        {\"base\":"),
                "one chunk entry a line, indented under its list")
    }

    @Test func theReaderReadsManifestsAsJSONEncoderWroteThemInAnyPieces() throws {
        let m = Self.manifest(files: 7, chunks: 40)
        for pretty in [true, false] {
            let json = try VaultJSON.encode(m, pretty: pretty)
            #expect(try ManifestCodec.decode(json, what: "m").manifest == m)
            #expect(try ManifestCodec.decode(ManifestCodec.stored(json, format: 4), what: "m").manifest == m)
            #expect(try ManifestCodec.decode(ManifestCodec.stored(json, format: 4), what: "m", sha256: true).sha256 == Self.sha256(json))
            // Fed in pieces of 1 to 13 bytes: every state of the scanner meets a piece boundary.
            for step in [1, 2, 3, 13] {
                var scanner = ManifestScanner(what: "m")
                try json.withUnsafeBytes { raw in
                    let b = raw.bindMemory(to: UInt8.self)
                    for start in stride(from: 0, to: b.count, by: step) {
                        try scanner.feed(UnsafeBufferPointer(rebasing: b[start..<min(b.count, start + step)]))
                    }
                }
                let back = try scanner.finish()
                #expect(back == m, "pretty \(pretty), pieces of \(step)")
            }
        }
    }

    @Test func damagedManifestJSONIsReportedAsCorruptNamingTheObject() throws {
        let good = String(decoding: try VaultJSON.encode(Self.manifest(files: 3, chunks: 2), pretty: false), as: UTF8.self)
        let id = Self.hex(0, 2)
        let damaged = [
            good.replacingOccurrences(of: "\"chunks\":[{", with: "\"chunks\":[7,{"),          // an entry that is not an object
            good.replacingOccurrences(of: "\"id\":\"\(id)\"", with: "\"id\":17"),             // a field of the wrong type
            String(good.dropLast(40)),                                                       // cut short
            good + "]",                                                                      // a stray bracket
            good.replacingOccurrences(of: "\"chunks\":[{", with: "\"chunks\":[}{"),          // a brace closing nothing
        ]
        #expect(damaged.allSatisfy { $0 != good })
        for (k, text) in damaged.enumerated() {
            for stored in [Data(text.utf8), ManifestCodec.stored(Data(text.utf8), format: 4)] {
                #expect("damage \(k)") { _ = try ManifestCodec.decode(stored, what: "points/p.json") } throws: { e in
                    let v = e as? VaultError
                    return v?.code == .corrupt && v?.location == "points/p.json" && v?.message.contains("points/p.json") == true
                }
            }
        }
    }

    @Test func aDamagedZstdFrameIsCorruptNotACrash() throws {
        let (stored, _) = try ManifestCodec.encode(Self.manifest(files: 3, chunks: 500), format: 4)
        var flipped = stored
        flipped[flipped.count - 2] ^= 0x40    // the content checksum or the last block
        for bad in [flipped, stored.prefix(stored.count / 2), stored + Data([1, 2, 3])] {
            #expect { _ = try ManifestCodec.decode(bad, what: "points/p.json") } throws: { e in
                (e as? VaultError)?.code == .corrupt && (e as? VaultError)?.location == "points/p.json"
            }
        }
    }

    /// Garbage collection's mark set holds the ids' first 64 bits, not strings: it must answer
    /// as a set of the id strings would, erring only towards keeping (an id sharing its first
    /// 64 bits with a marked one counts as marked).
    @Test func theMarkSetAnswersAsASetOfTheIdStrings() throws {
        let refs = Self.refs(300, salt: 5) + [ChunkRef(id: "odd-id", size: 1, base: Self.hex(1, 9), chain: ["ODD", Self.hex(2, 9)])]
        var marks = ChunkIdSet()
        var strings = Set<String>()
        for r in refs { marks.insert(objectsOf: r); strings.formUnion(r.objectIds) }
        let probes = Array(strings) + (0..<300).map { Self.hex($0, 77) } + strings.map { $0.uppercased() } + ["", "odd", "Odd-id"]
        let mismatches = probes.filter { marks.contains($0) != strings.contains($0) }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
        #expect(strings.count > 600)
        // The one way it may err, and only that way: a look-alike of a marked id is kept.
        let marked = refs[7].id
        let lookalike = String(marked.prefix(16)) + String(repeating: "0", count: 48)
        #expect(lookalike != marked && !strings.contains(lookalike) && marks.contains(lookalike))
        // A digest gives its id back (copy names objects by it).
        let ids = strings.filter { ChunkDigest(hex: $0) != nil }
        #expect(ids.count > 600 && ids.allSatisfy { ChunkDigest(hex: $0)?.hex == $0 })
    }

    @Test func chainsAreHeldPackedAndReadBackAsGiven() throws {
        let ids = (0..<11).map { Self.hex($0, 7) }
        let packed = ChunkIds(ids)
        #expect(packed.count == 11 && packed.strings == ids)
        // Anything that is not 64 lowercase hex digits is kept as it came.
        for odd in [ids[0].uppercased(), String(ids[0].dropLast()), ids[0] + "0", "not hex", ""] {
            let list = ChunkIds([ids[1], odd, ids[2]])
            #expect(list.strings == [ids[1], odd, ids[2]] && list.count == 3)
        }
        var r = ChunkRef(id: ids[0], size: 9, bases: Array(ids[1...]), depth: 10, head: nil, sketch: nil, cut: nil)
        #expect(r.bases == Array(ids[1...]) && r.depth == 10 && r.chain == Array(ids[2...]))
        r.chain = nil
        #expect(r.bases == [ids[1]] && r.depth == 1)
    }
    /// A chunk entry's hex fields (id, base, head, sketch, cut) are held as bytes
    /// (`PackedHex`): every text must read back exactly as given, equal only to itself, and a
    /// sketch's values must be what the backup's own parser makes of its text.
    @Test func hexFieldsAreHeldPackedAndReadBackAsGiven() throws {
        let id = Self.hex(1, 3)
        var random = SystemRandomNumberGenerator()
        let chunk = (0..<20_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        let sketch = chunk.withUnsafeBytes { DeltaSource.sketch($0) }
        let fifteen = String(id.prefix(15))
        var texts: [String] = [id, id.uppercased(), String(id.dropLast()), id + "0", id + "00", String(id.prefix(32))]
        texts += ["8" + fifteen, "0" + fifteen, fifteen, String(id.prefix(14)), "f", "", "not hex", "é"]
        texts += [String(repeating: "g", count: 64), String(repeating: "0", count: 16), "0", "00", "abc", "0abc", "2ec0767eb0e"]
        texts += [sketch, sketch + "0", String(sketch.prefix(48)), sketch.uppercased(), id + Self.hex(2, 3)]
        #expect(sketch.count == 128)
        for (i, t) in texts.enumerated() {
            let p = PackedHex(t)
            #expect(p.string == t, "\(t)")
            #expect((p.digest != nil) == Hex.isSHA256(t) && (p.digest?.hex ?? t) == t, "\(t)")
            for (j, u) in texts.enumerated() where j != i { #expect(p != PackedHex(u), "\(t) \(u)") }
            #expect(p == PackedHex(t) && p.hashValue == PackedHex(t).hashValue)
            // Where the words are known, they are the sketch values the backup would parse.
            if let w = p.words { #expect(w == DeltaSource.sketchValues(t), "\(t)") }
        }
        #expect(PackedHex(sketch).words?.count == 8)
        // Through a chunk entry and its JSON, odd and regular fields alike.
        var r = ChunkRef(id: id, size: 5, base: "ODD", chain: [Self.hex(4, 3)], head: String(id.prefix(32)), sketch: sketch, cut: "abc")
        #expect(r.id == id && r.base == "ODD" && r.head == String(id.prefix(32)) && r.sketch == sketch && r.cut == "abc")
        let back = try JSONDecoder().decode(ChunkRef.self, from: JSONEncoder().encode(r))
        #expect(back == r && back.id == id && back.sketch == sketch && back.cut == "abc" && back.base == "ODD")
        r.cut = "8" + String(id.prefix(15))
        r.base = Self.hex(5, 3)
        #expect(r.cut == "8" + String(id.prefix(15)) && r.packedBase?.digest?.hex == Self.hex(5, 3) && r != back)
    }
}
