import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultStorage
import VaultTestSupport

/// Deterministic pseudo-random bytes that look a little like dump text (compressible).
func dumpLike(_ count: Int, seed: UInt64) -> [UInt8] {
    var s = seed
    var out = [UInt8](repeating: 0, count: count)
    let words: [[UInt8]] = ["INSERT ", "alpha\t", "1234\t", "beta\n", "\\N\t", "gamma ", "zeta\n"].map { Array($0.utf8) }
    var i = 0
    while i < count {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        let w = words[Int(s >> 61) % words.count]
        for b in w where i < count { out[i] = b; i += 1 }
        if i < count { out[i] = UInt8(truncatingIfNeeded: s >> 33) | 0x20; i += 1 }
    }
    return out
}

let small = ChunkerParams(algorithm: "gear-fastcdc-v1", minSize: 2048, avgSize: 8192, maxSize: 65536, seed: 42)

/// Writes `bytes` into `store` as file `path` of database `database` (`small` chunks, level 1),
/// handing them to the writer in pieces of at most 7,777 bytes as a pipe would.
func writeFile(_ store: ChunkStore, _ bytes: [UInt8], path: String, database: String) throws -> FileEntry {
    let w = FileWriter(store: store, chunker: Chunker(small), compressor: Compressor(level: 1))
    var pos = 0
    try w.consume { buf in
        let n = min(buf.count, bytes.count - pos, 7777)
        bytes.withUnsafeBytes { buf.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[pos..<(pos + n)])) }
        pos += n
        return n
    }
    let r = try w.finish()
    return FileEntry(path: path, kind: .dump, database: database, size: r.size, sha256: r.sha256, chunks: r.chunks)
}

func cuts(_ data: [UInt8], _ params: ChunkerParams) -> [[UInt8]] {
    let c = Chunker(params)
    var out: [[UInt8]] = []
    var pos = 0
    data.withUnsafeBytes { raw in
        while pos < raw.count {
            let len = c.cut(UnsafeRawBufferPointer(rebasing: raw[pos..<min(raw.count, pos + params.maxSize)]))
            out.append(Array(raw[pos..<(pos + len)]))
            pos += len
        }
    }
    return out
}

@Suite("Chunker")
struct ChunkerTests {
    @Test func chunksRespectBoundsAndReassemble() {
        let data = dumpLike(2_000_000, seed: 1)
        let pieces = cuts(data, small)
        #expect(pieces.dropLast().allSatisfy { $0.count >= small.minSize && $0.count <= small.maxSize })
        #expect(Array(pieces.joined()) == data)
        let avg = data.count / pieces.count
        #expect(avg > small.minSize && avg < small.maxSize / 2, "average chunk \(avg)")
    }

    @Test func boundariesStayPutWhenBytesAreInsertedEarly() {
        let data = dumpLike(1_500_000, seed: 7)
        var edited = data
        edited.insert(contentsOf: Array("a few inserted bytes near the start".utf8), at: 5000)
        let a = Set(cuts(data, small).map { ChunkCodec.sha256Hex($0.withUnsafeBytes { $0 }) })
        let bPieces = cuts(edited, small)
        let b = bPieces.map { p in p.withUnsafeBytes { ChunkCodec.sha256Hex($0) } }
        let shared = b.filter { a.contains($0) }.count
        // Only the chunks around the edit may change.
        #expect(shared >= b.count - 3, "shared \(shared) of \(b.count)")
    }

    @Test func defaultParametersCutAroundOneMiB() {
        let data = dumpLike(24 << 20, seed: 3)
        let pieces = cuts(data, .v1)
        let avg = data.count / pieces.count
        #expect(avg >= 700 * 1024 && avg <= 2 * 1024 * 1024, "average \(avg)")
    }
}

@Suite("Chunk codec")
struct ChunkCodecTests {
    @Test func roundTripCompressedAndStored() throws {
        let c = Compressor(level: 1)
        let d = Decompressor()
        for data in [dumpLike(100_000, seed: 9), (0..<5000).map { _ in UInt8.random(in: 0...255) }, []] {
            let id = data.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
            let obj = data.withUnsafeBytes { c.encode($0) }
            #expect(Array(obj.prefix(4)) == Array("PGVC".utf8))
            let back = try ChunkCodec.decode(obj, id: id, expectedSize: data.count, decompressor: d)
            #expect(Array(back) == data)
        }
        let text = dumpLike(100_000, seed: 9)
        let obj = text.withUnsafeBytes { c.encode($0) }
        #expect(obj[5] == 1 && obj.count < text.count / 2, "dump-like text is stored zstd-compressed")
    }

    @Test func everyKindOfDamageIsDetectedAndNamesTheChunk() throws {
        let c = Compressor(level: 1)
        let data = dumpLike(50_000, seed: 5)
        let id = data.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        let good = data.withUnsafeBytes { c.encode($0) }
        var flipped = good; flipped[good.count / 2] ^= 0x40
        var badMagic = good; badMagic[0] = 0
        let truncated = good.prefix(good.count - 10)
        for bad in [flipped, badMagic, Data(truncated), Data(good.prefix(5))] {
            #expect {
                _ = try ChunkCodec.decode(bad, id: id, expectedSize: data.count, decompressor: Decompressor())
            } throws: { e in
                let v = e as? VaultError
                return v?.code == .corrupt && (v?.message.contains(id) ?? false)
            }
        }
    }
}

@Suite("File writer and reader")
struct FileRoundTripTests {
    @Test func streamsDedupsAndReadsBackVerified() throws {
        let storage = MemoryStorage()
        let vault = try Vault.create(storage: storage)
        let store = ChunkStore(storage: storage)
        let data = dumpLike(600_000, seed: 11)
        func write(_ bytes: [UInt8]) throws -> FileEntry { try writeFile(store, bytes, path: "x.dump", database: "x") }
        let first = try write(data)
        #expect(first.size == Int64(data.count))
        #expect(first.sha256 == data.withUnsafeBytes { ChunkCodec.sha256Hex($0) })
        let before = try vault.storedChunkBytes()
        let second = try write(data)
        #expect(second == first)
        #expect(try vault.storedChunkBytes() == before, "an unchanged file adds no bytes")

        var back = Data()
        try FileReader(storage: storage).read(first) { back.append($0) }
        #expect(Array(back) == data)

        // Damage one chunk: the reader names the file and the chunk.
        let victim = first.chunks[1].id
        storage.tamper(ChunkCodec.key(for: victim)) { $0[$0.count - 3] ^= 1 }
        #expect {
            try FileReader(storage: storage).read(first) { _ in }
        } throws: { e in
            let m = (e as? VaultError)?.message ?? ""
            return m.contains("x.dump") && m.contains("chunk 2 of") && m.contains(victim)
        }
        try storage.delete(ChunkCodec.key(for: victim))
        #expect {
            try FileReader(storage: storage).read(first) { _ in }
        } throws: { e in ((e as? VaultError)?.message ?? "").contains("is missing") }
    }

    @Test(arguments: [1, 3, 5, 8])
    func readsInOrderWithAnyNumberOfWorkers(_ workers: Int) throws {
        let storage = MemoryStorage()
        let data = dumpLike(900_000, seed: 23)
        let file = try writeFile(ChunkStore(storage: storage), data, path: "w.dump", database: "w")
        #expect(file.chunks.count > 8, "more chunks than workers: \(file.chunks.count)")
        var back = Data()
        var pieces = 0
        try FileReader(storage: storage).read(file, workers: workers) { back.append($0); pieces += 1 }
        #expect(Array(back) == data, "chunks come back in file order")
        #expect(pieces == file.chunks.count)

        // A damaged chunk in the middle stops the read and is named, whichever worker had it.
        let victim = file.chunks[file.chunks.count / 2].id
        storage.tamper(ChunkCodec.key(for: victim)) { $0[$0.count - 2] ^= 1 }
        #expect {
            try FileReader(storage: storage).read(file, workers: workers) { _ in }
        } throws: { e in ((e as? VaultError)?.message ?? "").contains(victim) }
    }

    /// The writer's buffer starts at 1 MiB and grows to twice the largest chunk as a file needs
    /// it: the chunks must not depend on that, nor on the sizes the input arrives in.
    @Test func aGrowingBufferCutsTheSameChunksAsCuttingTheWholeFile() throws {
        let params = ChunkerParams(algorithm: "gear-fastcdc-v1", minSize: 64 << 10, avgSize: 256 << 10, maxSize: 2 << 20, seed: 42)
        var data = dumpLike(6_500_000, seed: 31)
        for i in stride(from: 3_000_000, to: 5_500_000, by: 1) { data[i] = 7 }   // a run: maximum-size chunks
        let expected = cuts(data, params).map { $0.withUnsafeBytes { ChunkCodec.sha256Hex($0) } }
        #expect(expected.count > 10)
        let storage = MemoryStorage()
        let store = ChunkStore(storage: storage)
        // Pieces of 1 byte to ~1.5 MiB, as a pipe and PipeReader hand them over.
        let w = FileWriter(store: store, chunker: Chunker(params), compressor: Compressor(level: 1))
        var pos = 0, step = 1
        try w.consume { buf in
            step = step * 31 % 1_500_007 + 1
            let n = min(buf.count, data.count - pos, step)
            data.withUnsafeBytes { buf.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[pos..<(pos + n)])) }
            pos += n
            return n
        }
        let streamed = try w.finish()
        // The same bytes in one append.
        let w2 = FileWriter(store: store, chunker: Chunker(params), compressor: Compressor(level: 1))
        try data.withUnsafeBytes { try w2.append($0) }
        let appended = try w2.finish()
        #expect(streamed.chunks.map(\.id) == expected)
        #expect(appended.chunks.map(\.id) == expected)
        #expect(streamed.size == Int64(data.count) && streamed.sha256 == appended.sha256)
        let file = FileEntry(path: "g.dump", kind: .dump, database: "g", size: streamed.size, sha256: streamed.sha256, chunks: streamed.chunks)
        var back = Data()
        try FileReader(storage: storage).read(file) { back.append($0) }
        let same = Array(back) == data   // a Bool: #expect would diff 6.5 MB arrays on failure
        #expect(same)
    }

    /// A failure to store a chunk (a full disk) reaches the caller with its own error, and
    /// nothing is stored after it.
    @Test(arguments: [0, 3, 40])
    func aStoreFailureReachesTheCallerAndStopsTheFile(_ failAfter: Int) throws {
        let storage = FaultStorage(chunkPutsAllowed: failAfter)
        let w = FileWriter(store: ChunkStore(storage: storage), chunker: Chunker(small), compressor: Compressor(level: 1))
        let data = dumpLike(2_000_000, seed: 41)   // ~240 chunks of `small`
        var pos = 0
        #expect {
            try w.consume { buf in
                let n = min(buf.count, data.count - pos, 7777)
                data.withUnsafeBytes { buf.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[pos..<(pos + n)])) }
                pos += n
                return n
            }
            _ = try w.finish()
        } throws: { e in (e as? VaultError)?.code == .diskFull }
        #expect(storage.chunkPuts.get() == failAfter, "nothing stored after the failure")
        #expect(w.chunks.count == failAfter)
    }

    @Test func emptyFileHasNoChunks() throws {
        let storage = MemoryStorage()
        let w = FileWriter(store: ChunkStore(storage: storage), chunker: Chunker(small), compressor: Compressor(level: 1))
        let r = try w.finish()
        #expect(r.size == 0 && r.chunks.isEmpty)
        #expect(r.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}

@Suite("Vault")
struct VaultTests {
    @Test func openingANonVaultSaysSoWithExit10() throws {
        let storage = MemoryStorage()
        #expect {
            _ = try Vault.open(storage: storage)
        } throws: { e in
            let v = e as? VaultError
            return v?.code == .notAVault && v?.exitCode == .notAVault && (v?.message.contains("pgvault init") ?? false)
        }
    }

    @Test func initTwiceIsRefusedAndManifestsAreWriteOnce() throws {
        let storage = MemoryStorage()
        let v = try Vault.create(storage: storage)
        #expect(throws: VaultError.self) { _ = try Vault.create(storage: storage) }
        #expect(try Vault.open(storage: storage).config == v.config)
        let m = Manifest(id: "20260101T000000Z-abcd0123", vaultId: v.config.id, jobId: "j", server: ServerInfo(name: "s", host: nil, port: nil, version: "15.1", versionNum: 150001),
                         pgDumpVersion: "15.1", pgVaultVersion: pgVaultVersion, startedAt: Date(timeIntervalSince1970: 1_700_000_000),
                         finishedAt: Date(timeIntervalSince1970: 1_700_000_010), status: .ok, limits: Limits(), databases: [], files: [], stats: PointStats())
        try v.commit(m)
        #expect(throws: VaultError.self) { try v.commit(m) }
        #expect(try v.resolvePoint("latest") == m)
        #expect(try v.resolvePoint("20260101").id == m.id)
        #expect { _ = try v.resolvePoint("2019") } throws: { ($0 as? VaultError)?.code == .pointNotFound }
    }

    func point(_ v: Vault, _ id: String, chunks: Int) -> Manifest {
        let refs = (0..<chunks).map { i in
            ChunkRef(id: String(repeating: String(format: "%02x", i % 256), count: 32), size: 1 << 20,
                     bases: (1...8).map { String(repeating: String(format: "%02x", ($0 * 7 + i) % 256), count: 32) }, depth: 8,
                     head: nil, sketch: nil, cut: nil)
        }
        return Manifest(id: id, vaultId: v.config.id, jobId: "j", server: ServerInfo(name: "s", host: nil, port: nil, version: "15.1", versionNum: 150001),
                        pgDumpVersion: "15.1", pgVaultVersion: pgVaultVersion, startedAt: Date(timeIntervalSince1970: 1_700_000_000),
                        finishedAt: Date(timeIntervalSince1970: 1_700_000_010), status: .ok, limits: Limits(), databases: [],
                        files: [FileEntry(path: "d.dump", kind: .dump, database: "d", size: Int64(chunks) << 20, sha256: String(repeating: "ab", count: 32), chunks: refs)],
                        stats: PointStats())
    }

    @Test func newVaultsStoreManifestsCompressedAndHandOutTheirJSON() throws {
        let storage = MemoryStorage()
        let v = try Vault.create(storage: storage)
        #expect(v.config.format == 4)
        let m = point(v, "20260101T000000Z-abcd0123", chunks: 200)
        let sha256 = try v.commit(m)
        let stored = try storage.get(Vault.pointKey(m.id))
        #expect(ManifestCodec.isCompressed(stored))
        let json = try v.manifestData(m.id)
        #expect(stored.count * 2 < json.count, "compressed \(stored.count) of \(json.count) bytes")
        #expect(json.withUnsafeBytes { ChunkCodec.sha256Hex($0) } == sha256, "restore and show get the JSON the backup wrote")
        #expect(try VaultJSON.decode(Manifest.self, from: json, what: "m") == m, "any JSON reader reads it")
        #expect(try v.resolvePoint(m.id) == m)
        #expect(try Vault.open(storage: storage).points() == [m])
    }

    @Test func formatTwoVaultsKeepPlainManifestsAndCopyConvertsPerTarget() throws {
        let old = MemoryStorage()
        let v3 = try Vault.create(storage: MemoryStorage())
        var config = v3.config
        config.format = 2
        config.id = "vault-00000000000000f2"
        try old.put(Vault.configKey, try VaultJSON.encode(config), mode: .createOnly)
        let v2 = try Vault.open(storage: old)
        let m = point(v2, "20260101T000000Z-abcd0124", chunks: 3)
        let sha256 = try v2.commit(m)
        let json = try old.get(Vault.pointKey(m.id))
        #expect(json.first == UInt8(ascii: "{") && json.withUnsafeBytes { ChunkCodec.sha256Hex($0) } == sha256,
                "a format-2 vault stays readable by the pgvault that made it: plain JSON")
        #expect(try VaultJSON.decode(Manifest.self, from: json, what: "m") == m)
        #expect(v3.storedManifest(json) != json && v2.storedManifest(json) == json)
        #expect(try ManifestCodec.json(v3.storedManifest(json), what: "x") == json)
    }

    @Test func aDamagedCompressedManifestIsReportedAsCorruptNamingItsKey() throws {
        let json = Data(String(repeating: "{\"chunk\": \"0123456789abcdef\"}\n", count: 500).utf8)
        var stored = ManifestCodec.stored(json, format: 3)
        #expect(ManifestCodec.isCompressed(stored))
        stored[stored.count - 2] ^= 0x40   // inside the content checksum or the last block
        #expect { _ = try ManifestCodec.json(stored, what: "points/p.json") } throws: { e in
            let v = e as? VaultError
            return v?.code == .corrupt && v?.location == "points/p.json" && v?.message.contains("points/p.json") == true
        }
        #expect { _ = try ManifestCodec.json(stored.prefix(30), what: "points/p.json") } throws: { ($0 as? VaultError)?.code == .corrupt }
        #expect(try ManifestCodec.json(json, what: "plain") == json, "plain JSON (formats 1 and 2) passes through")
    }
}

@Suite("Crash leftovers on a filesystem vault")
struct CrashLeftoverTests {
    @Test func anEmptyChunkFileLeftByAPowerLossIsWrittenAgainNotReused() throws {
        let dir = try TestEnvironment.temporaryDirectory("leftover")
        let storage = LocalStorage(root: dir.appendingPathComponent("v").path)
        try storage.createRoot()
        _ = try Vault.create(storage: storage)
        let data = dumpLike(100_000, seed: 21)
        let id = data.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        // What ext4 can leave after a power cut between link(2) and the syncfs barrier.
        try storage.put(ChunkCodec.key(for: id), Data(), mode: .createOnly)
        // The default chunker: 100 KB is one chunk (below the 512 KiB minimum).
        let w = FileWriter(store: ChunkStore(storage: storage), chunker: Chunker(.v1), compressor: Compressor(level: 1))
        try w.append(Data(data))
        let r = try w.finish()
        #expect(r.chunks.map(\.id) == [id])
        #expect(w.newChunks == 1, "the empty leftover must not count as the chunk")
        var back = Data()
        try FileReader(storage: storage).read(FileEntry(path: "x", kind: .dump, database: "x", size: r.size, sha256: r.sha256, chunks: r.chunks)) { back.append($0) }
        #expect(Array(back) == data)
    }

    @Test func purgeRemovesStaleTemporaryFilesOfKilledWriters() throws {
        let dir = try TestEnvironment.temporaryDirectory("tmpfiles")
        let storage = LocalStorage(root: dir.appendingPathComponent("v").path)
        try storage.createRoot()
        let vault = try Vault.create(storage: storage)
        let stale = storage.root + "/chunks/ab"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        let old = stale + "/.tmp-0123456789abcdef"
        let fresh = stale + "/.tmp-fedcba9876543210"
        try Data("half a chunk".utf8).write(to: URL(fileURLWithPath: old))
        try Data("a write in progress".utf8).write(to: URL(fileURLWithPath: fresh))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: old)
        let r = try VaultControl(vault: vault).purge(dryRun: false, grace: 3600)
        #expect(r.temporariesRemoved == 1)
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: fresh), "younger than the grace period: may belong to a running write")
    }
}

@Suite("Copy between vaults")
struct CopyResumeTests {
    /// A point of one small dump, retained 30 days from `t0`, committed to `src`.
    static func commitPoint(_ src: Vault, id: String, seed: UInt64, t0: Date) throws -> Manifest {
        let w = FileWriter(store: ChunkStore(storage: src.storage), chunker: Chunker(small), compressor: Compressor(level: 1))
        try w.append(Data(dumpLike(50_000, seed: seed)))
        let r = try w.finish()
        var m = Manifest(id: id, vaultId: src.config.id, jobId: "j",
                         server: ServerInfo(name: "s", host: nil, port: nil, version: "15.1", versionNum: 150001),
                         pgDumpVersion: "15.1", pgVaultVersion: pgVaultVersion, startedAt: t0, finishedAt: t0,
                         status: .ok, limits: Limits(), databases: [],
                         files: [FileEntry(path: "d.dump", kind: .dump, database: "d", size: r.size, sha256: r.sha256, chunks: r.chunks)],
                         stats: PointStats())
        m.retainUntil = t0.addingTimeInterval(86400 * 30)
        try src.commit(m)
        return m
    }

    @Test func anInterruptedCopyGetsItsHoldAndRetentionOnTheNextRun() throws {
        let src = try Vault.create(storage: MemoryStorage(name: "src"))
        let dstStorage = MemoryStorage(name: "dst")
        let dst = try Vault.create(storage: dstStorage)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let m = try Self.commitPoint(src, id: "20270115T080000Z-0badcafe", seed: 31, t0: t0)
        let control = VaultControl(vault: src, now: t0)
        _ = try control.retain(m.id, until: t0.addingTimeInterval(86400 * 365))
        _ = try control.setHold(m.id, reason: "case 7")

        let first = try VaultCopy.copy(from: src, to: dst, points: [])
        #expect(first.copied.map(\.point) == [m.id])
        // What a copy killed after the manifest and before the state leaves behind:
        for o in try dstStorage.list(prefix: "state/") { try dstStorage.delete(o.key) }
        #expect(try VaultControl(vault: dst).view(m.id).state.isHeld == false)

        let second = try VaultCopy.copy(from: src, to: dst, points: [])
        #expect(second.skipped == [m.id] && second.copied.isEmpty)
        let v = try VaultControl(vault: dst).view(m.id)
        #expect(v.state.isHeld && v.state.hold?.reason == "case 7")
        #expect(v.state.retainUntil == t0.addingTimeInterval(86400 * 365))
        // A third run changes nothing more.
        let records = try dstStorage.list(prefix: "state/").count
        _ = try VaultCopy.copy(from: src, to: dst, points: [])
        #expect(try dstStorage.list(prefix: "state/").count == records)
    }

    /// Copy learns which points exist from the catalog (derived data) but copies each from its
    /// own manifest: a catalog entry that says otherwise changes nothing in the target.
    @Test func aCopyTakesRetentionFromTheManifestNotFromTheCatalog() throws {
        let srcStorage = MemoryStorage(name: "src")
        let src = try Vault.create(storage: srcStorage)
        let dst = try Vault.create(storage: MemoryStorage(name: "dst"))
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let m = try Self.commitPoint(src, id: "20270115T080000Z-0badcaff", seed: 33, t0: t0)
        // The catalog entry claims a ten-year retention the manifest does not have.
        var lie = Vault.summary(of: m)
        lie.retainUntil = t0.addingTimeInterval(86400 * 3650)
        try srcStorage.put(Vault.catalogKey(m.id), try VaultJSON.encode(lie, pretty: false), mode: .replace)
        #expect(try src.summaries().first?.retainUntil == lie.retainUntil, "the listing shows what the catalog says")

        let report = try VaultCopy.copy(from: src, to: dst, points: [])
        #expect(report.copied.map(\.point) == [m.id])
        let v = try VaultControl(vault: dst).view(m.id)
        #expect(v.manifest == Vault.summary(of: m), "a view holds the manifest without its chunk lists")
        #expect(try dst.resolvePoint(m.id) == m)
        #expect(v.state.retainUntil == m.retainUntil)
        #expect(try dst.summaries().first?.retainUntil == m.retainUntil, "the target's catalog is made from the manifest")
        #expect(try dst.storage.list(prefix: "state/").isEmpty, "the state the manifest implies needs no record")
        #expect(try dst.storage.get(Vault.pointKey(m.id)) == srcStorage.get(Vault.pointKey(m.id)),
                "both vaults compress manifests: the stored object is copied as it is")
    }
}

@Suite("Delta codec")
struct DeltaCodecTests {
    @Test func aSlightlyChangedChunkIsAFractionOfItsFullSizeAndDecodesWithItsBase() throws {
        let base = dumpLike(1_000_000, seed: 41)
        var changed = base
        for i in stride(from: 500, to: changed.count, by: 7919) { changed[i] ^= 0x20 }   // ~126 scattered edits
        let baseId = base.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        let id = changed.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        let c = Compressor(level: 1)
        let full = changed.withUnsafeBytes { c.encode($0) }
        let delta = try #require(changed.withUnsafeBytes { c.encodeDelta($0, base: Data(base), baseIds: [baseId], limit: full.count / 2) })
        #expect(delta.count < full.count / 10, "delta \(delta.count) bytes, full \(full.count)")
        #expect(ChunkCodec.baseIds(of: delta) == [baseId])
        let back = try ChunkCodec.decode(delta, id: id, expectedSize: changed.count, decompressor: Decompressor(), base: { _ in Data(base) })
        #expect(Array(back) == changed)
        // Without its base, or with a wrong one, it does not decode silently.
        #expect(throws: VaultError.self) { _ = try ChunkCodec.decode(delta, id: id, expectedSize: nil, decompressor: Decompressor()) }
        #expect(throws: VaultError.self) {
            _ = try ChunkCodec.decode(delta, id: id, expectedSize: nil, decompressor: Decompressor(), base: { _ in Data(dumpLike(1_000_000, seed: 42)) })
        }
        // A chunk that spans two old ones: a delta against both (codec 3), read back with both.
        let left = dumpLike(300_000, seed: 51), right = dumpLike(300_000, seed: 52)
        var spanning = Array(left[150_000...]) + Array(right[..<150_000])
        for i in stride(from: 100, to: spanning.count, by: 9973) { spanning[i] ^= 0x20 }
        let (lid, rid, sid) = (left.withUnsafeBytes { ChunkCodec.sha256Hex($0) }, right.withUnsafeBytes { ChunkCodec.sha256Hex($0) },
                               spanning.withUnsafeBytes { ChunkCodec.sha256Hex($0) })
        let spanFull = spanning.withUnsafeBytes { c.encode($0) }
        let one = try #require(spanning.withUnsafeBytes { c.encodeDelta($0, base: Data(left), baseIds: [lid], limit: .max) })
        let two = try #require(spanning.withUnsafeBytes { c.encodeDelta($0, base: Data(left + right), baseIds: [lid, rid], limit: .max) })
        #expect(two.count * 4 < one.count, "two bases \(two.count) bytes, the left one alone \(one.count), whole \(spanFull.count)")
        #expect(ChunkCodec.baseIds(of: two) == [lid, rid])
        let bases = [lid: Data(left), rid: Data(right)]
        let back2 = try ChunkCodec.decode(two, id: sid, expectedSize: spanning.count, decompressor: Decompressor(), base: { id in
            guard let b = bases[id] else { throw VaultError(.objectMissing, "no \(id)") }
            return b
        })
        #expect(Array(back2) == spanning)
        #expect { _ = try ChunkCodec.decode(two, id: sid, expectedSize: nil, decompressor: Decompressor(), base: { id in
            if id == rid { throw VaultError(.objectMissing, "gone") }
            return Data(left)
        }) } throws: { e in ((e as? VaultError)?.message ?? "").contains("delta against chunk \(rid)") }
        // A normal chunk still encodes as before afterwards (the prefix is for one frame only).
        let again = base.withUnsafeBytes { c.encode($0) }
        #expect(try ChunkCodec.decode(again, id: baseId, expectedSize: nil, decompressor: Decompressor()) == Data(base))
    }
}

@Suite("Catalog of point summaries")
struct CatalogTests {
    @Test func listingsReadSmallSummariesAndFallBackToTheManifest() throws {
        let storage = MemoryStorage()
        let vault = try Vault.create(storage: storage)
        let w = FileWriter(store: ChunkStore(storage: storage), chunker: Chunker(small), compressor: Compressor(level: 1))
        try w.append(Data(dumpLike(60_000, seed: 51)))
        let r = try w.finish()
        var ids: [String] = []
        for i in 0..<3 {
            let t = Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 86400)
            let m = Manifest(id: Identifier.make(at: t), vaultId: vault.config.id, jobId: "j\(i)",
                             server: ServerInfo(name: "s", host: nil, port: nil, version: "15.1", versionNum: 150001),
                             pgDumpVersion: "15.1", pgVaultVersion: pgVaultVersion, startedAt: t, finishedAt: t, status: .ok,
                             limits: Limits(), databases: [],
                             files: [FileEntry(path: "d.dump", kind: .dump, database: "d", size: r.size, sha256: r.sha256, chunks: r.chunks)],
                             stats: PointStats())
            try vault.commit(m)
            ids.append(m.id)
        }
        let summaries = try vault.summaries()
        #expect(summaries.map(\.id) == ids.reversed())
        #expect(summaries.allSatisfy { $0.files.count == 1 && $0.files[0].chunks.isEmpty && $0.files[0].sha256 == r.sha256 })
        let full = try vault.points()
        #expect(summaries == full.map { Vault.summary(of: $0) })
        // The catalog is derived data: without an entry the manifest is read instead.
        try storage.delete(Vault.catalogKey(ids[1]))
        #expect(try vault.summaries() == summaries)
        // `latest` and prefixes resolve from the listing of points/.
        #expect(try vault.resolvePoint("latest").id == ids[2])
        #expect(try vault.resolvePoint(String(ids[0].prefix(16))).files[0].chunks == r.chunks)
        // Removing a point removes its catalog entry; purge removes entries whose point is gone.
        _ = try VaultControl(vault: vault).changeSettings(softDelete: .disabled)
        _ = try VaultControl(vault: vault).delete(ids[2], reason: "test")
        #expect(try !storage.exists(Vault.catalogKey(ids[2])))
        try storage.put(Vault.catalogKey("20200101T000000Z-deadbeef"), Data("{}".utf8), mode: .createOnly)
        _ = try VaultControl(vault: vault).purge(dryRun: false, grace: 0)
        #expect(try !storage.exists(Vault.catalogKey("20200101T000000Z-deadbeef")))
        #expect(try vault.summaries().map(\.id) == [ids[1], ids[0]])
    }
}

@Suite("Latest point")
struct LatestPointTests {
    @Test func twoPointsOfTheSameSecondResolveByStartTimeNotByIdSuffix() throws {
        let vault = try Vault.create(storage: MemoryStorage())
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        func point(_ id: String, _ offset: Double) throws {
            try vault.commit(Manifest(id: id, vaultId: vault.config.id, jobId: "j",
                                      server: ServerInfo(name: "s", host: nil, port: nil, version: "15.1", versionNum: 150001),
                                      pgDumpVersion: "15.1", pgVaultVersion: pgVaultVersion, startedAt: t.addingTimeInterval(offset),
                                      finishedAt: t.addingTimeInterval(offset), status: .ok, limits: Limits(), databases: [], files: [],
                                      stats: PointStats()))
        }
        let second = Timestamp.compact(t)
        try point("\(second)-ffff0000", 0.1)   // earlier, but its id sorts last
        try point("\(second)-0000ffff", 0.7)
        #expect(try vault.resolvePoint("latest").id == "\(second)-0000ffff")
        #expect(try vault.summaries().first?.id == "\(second)-0000ffff")
    }
}
