import Foundation
import Testing
import VaultCore
@testable import VaultFormat
import VaultStorage

/// Weekly versions of a dump-like file: each one the previous with one byte in 4,000 changed
/// (seeded), the way a lightly churned table dumps from one week to the next.
private func weeklyVersions(_ count: Int, size: Int = 400_000) -> [[UInt8]] {
    var v = dumpLike(size, seed: 7)
    var out = [v]
    var s: UInt64 = 99
    for _ in 1..<count {
        for _ in 0..<(size / 4000) {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            let i = Int(s >> 20) % size
            v[i] = UInt8(truncatingIfNeeded: s >> 40) | 0x40
        }
        out.append(v)
    }
    return out
}

/// Backs up `versions` one after the other, each against the previous one's entry (as a backup
/// does with the previous point of the same database); returns the entries and the bytes each
/// version added to the vault. `opDeltas(i)`: whether version i writes op deltas (codec 4).
func writeChain(_ versions: [[UInt8]], storage: any Storage, maxDepth: Int,
                opDeltas: (Int) -> Bool = { _ in true }) throws -> [(FileEntry, Int64)] {
    var out: [(FileEntry, Int64)] = []
    var previous: FileEntry?
    for (i, bytes) in versions.enumerated() {
        let store = ChunkStore(storage: storage, maxDepth: maxDepth, opDeltas: opDeltas(i))
        if let previous { store.learn(previous.chunks) }
        let w = FileWriter(store: store, chunker: Chunker(small), compressor: Compressor(level: 1))
        w.delta = previous.map { DeltaSource(previous: $0, storage: storage) }
        try w.append(Data(bytes))
        let r = try w.finish()
        let entry = FileEntry(path: "db.dump", kind: .dump, database: "db", size: r.size, sha256: r.sha256, chunks: r.chunks)
        out.append((entry, w.storedBytes))
        previous = entry
    }
    return out
}

/// Commits one point a week from `t0` on, point i holding `entries[i]` and `extra(i)`; returns
/// the point ids.
func commitWeekly(_ entries: [FileEntry], to vault: Vault, from t0: Date,
                  extra: (Int) -> [FileEntry] = { _ in [] }) throws -> [String] {
    var ids: [String] = []
    for (i, entry) in entries.enumerated() {
        let started = t0.addingTimeInterval(Double(i) * 7 * 86400)
        let m = Manifest(id: Identifier.make(at: started), vaultId: vault.config.id, jobId: "backup-test",
                         server: ServerInfo(name: "srv", host: nil, port: nil, version: "15.4", versionNum: 150004),
                         pgDumpVersion: "15.4", pgVaultVersion: pgVaultVersion, startedAt: started,
                         finishedAt: started.addingTimeInterval(1), status: .ok, limits: Limits(), databases: [],
                         files: [entry] + extra(i), stats: PointStats())
        try vault.commit(m)
        ids.append(m.id)
    }
    return ids
}

private func readBack(_ file: FileEntry, _ storage: any Storage) throws -> [UInt8] {
    var out = Data()
    try FileReader(storage: storage).read(file) { out.append($0) }
    return Array(out)
}

/// Every chunk a chunk needs, as the objects' headers tell it (its bases, theirs, and so on).
private func headerChain(_ id: String, _ storage: any Storage) throws -> Set<String> {
    var out: Set<String> = []
    var todo = ChunkCodec.baseIds(of: try storage.get(ChunkCodec.key(for: id))) ?? []
    while let b = todo.popLast() {
        if out.insert(b).inserted { todo += ChunkCodec.baseIds(of: try storage.get(ChunkCodec.key(for: b))) ?? [] }
    }
    return out
}

@Suite("Delta chains")
struct DeltaChainTests {
    @Test func sketchInFourLanesEqualsTheOnePassDefinition() {
        var s: UInt64 = 5
        func random(_ n: Int) -> [UInt8] {
            (0..<n).map { _ in s = s &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: s >> 33) }
        }
        let sizes = [0, 1, 63, 64, 65, 255, 256, 257, 259, 260, 261, 1_000, 4_099, 100_000, 1_600_003]
        for n in sizes {
            for bytes in [random(n), dumpLike(n, seed: UInt64(n)), [UInt8](repeating: 32, count: n)] {
                bytes.withUnsafeBytes { b in
                    #expect(DeltaSource.sketch(b) == DeltaSource.sketchOnePass(b), "\(n) bytes")
                }
            }
        }
        // And a sketch is what it says: eight 16-digit values, ascending.
        let v = random(300_000).withUnsafeBytes { DeltaSource.sketch($0) }
        let values = stride(from: 0, to: v.count, by: 16).map { UInt64(v.dropFirst($0).prefix(16), radix: 16) ?? 0 }
        #expect(values.count == 8 && values == values.sorted() && Set(values).count == 8)
    }

    @Test func chainsGrowOnePointAtATimeUpToTheDepthLimitThenRestartAtTheRoot() throws {
        let storage = MemoryStorage()
        let versions = weeklyVersions(7)
        let written = try writeChain(versions, storage: storage, maxDepth: 3)
        for (i, (entry, _)) in written.enumerated() {
            #expect(try readBack(entry, storage) == versions[i], "version \(i + 1) reads back byte for byte")
            for c in entry.chunks {
                #expect(c.depth <= 3, "no chain is longer than the limit")
                #expect(try headerChain(c.id, storage) == Set(c.bases), "the manifest records the chain the objects hold")
                #expect(c.bases.count == Set(c.bases).count)
            }
        }
        let depths = written.map { Set($0.0.chunks.map(\.depth)) }
        #expect(depths[0] == [0], "the first version is stored whole")
        #expect(depths[3].contains(3), "version 4 has chunks three steps deep: \(depths[3])")
        // Version 5 would make depth 4: those chunks are encoded against their chain's root.
        #expect(depths[4].contains(1) && !depths[4].contains(4), "version 5 restarts chains at depth 1: \(depths[4])")
    }

    @Test func deepChainsStoreOnlyEachWeeksChangeNotTheDriftSinceTheFullChunk() throws {
        let versions = weeklyVersions(6)
        let deep = try writeChain(versions, storage: MemoryStorage(), maxDepth: 16).map(\.1)
        let flat = try writeChain(versions, storage: MemoryStorage(), maxDepth: 1).map(\.1)
        #expect(deep[0] == flat[0])
        // One level deep, week 6 is encoded against week 1 (five weeks of drift); with chains,
        // against week 5 (one week).
        #expect(deep[5] * 2 < flat[5], "week 6 adds \(deep[5]) bytes with chains, \(flat[5]) one level deep")
        #expect(deep.dropFirst().reduce(0, +) < flat.dropFirst().reduce(0, +))
    }

    @Test func aChunkFoundInTheVaultButInNoManifestGetsItsWholeChainFromTheHeaders() throws {
        // Week 4 written again by a backup that was not told about any chunk (no `learn`, as
        // for a chunk another database or an older point stored): it finds them in the vault
        // and must still record every link, or a purge could remove a base it needs.
        let storage = MemoryStorage()
        let versions = weeklyVersions(4)
        let written = try writeChain(versions, storage: storage, maxDepth: 16)
        let week4 = written[3].0
        #expect(week4.chunks.contains { $0.depth >= 3 })
        let w = FileWriter(store: ChunkStore(storage: storage), chunker: Chunker(small), compressor: Compressor(level: 1))
        w.delta = DeltaSource(previous: written[2].0, storage: storage)   // cut as week 4 was
        try w.append(Data(versions[3]))
        let r = try w.finish()
        #expect(w.storedBytes == 0 && w.newChunks == 0, "every chunk was already in the vault")
        let byId = Dictionary(week4.chunks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for c in r.chunks {
            let original = try #require(byId[c.id])
            #expect(Set(c.bases) == Set(original.bases), "chunk \(c.id.prefix(8)): the same links")
            #expect(c.depth == original.depth)
        }
    }

    /// A chunk of the previous point seen again keeps that point's entry as it was (the
    /// backup appends the learnt entry itself, sharing its storage); an entry that lacks the
    /// marks (an older manifest's) gets them computed.
    @Test func anUnchangedChunkKeepsThePreviousPointsEntry() throws {
        let storage = MemoryStorage()
        let versions = weeklyVersions(4)
        let written = try writeChain(versions + [versions[3]], storage: storage, maxDepth: 16)
        let (week4, again) = (written[3].0, written[4].0)
        #expect(written[4].1 == 0, "nothing new stored")
        #expect(again.chunks == week4.chunks, "every entry as the previous point had it")
        #expect(again.chunks.contains { $0.depth >= 3 } && again.chunks.allSatisfy { $0.sketch != nil })

        var bare = week4
        bare.chunks = week4.chunks.map { var c = $0; c.sketch = nil; return c }   // (the cuts decide where chunks end)
        let store = ChunkStore(storage: storage)
        store.learn(bare.chunks)
        let w = FileWriter(store: store, chunker: Chunker(small), compressor: Compressor(level: 1))
        w.delta = DeltaSource(previous: bare, storage: storage)
        try w.append(Data(versions[3]))
        let r = try w.finish()
        #expect(r.chunks.map(\.id) == week4.chunks.map(\.id) && w.newChunks == 0)
        #expect(r.chunks == week4.chunks, "marks computed again, as the first time")
    }

    /// A new delta chunk's entry shares its chain with the chunk store's table instead of
    /// packing a copy (a second ~350 bytes a chunk at 11 links), and is the entry the strings
    /// would have built.
    @Test func aNewDeltaEntrySharesItsChainWithTheStore() throws {
        let storage = MemoryStorage()
        let versions = weeklyVersions(4)
        let written = try writeChain(Array(versions.prefix(3)), storage: storage, maxDepth: 16)
        let store = ChunkStore(storage: storage, maxDepth: 16)
        store.learn(written[2].0.chunks)
        let w = FileWriter(store: store, chunker: Chunker(small), compressor: Compressor(level: 1))
        w.delta = DeltaSource(previous: written[2].0, storage: storage)
        try w.append(Data(versions[3]))
        let r = try w.finish()
        let before = Set(written[2].0.chunks.map(\.id))   // unchanged ones keep the previous entry itself
        let deep = r.chunks.filter { $0.packedChain != nil && !before.contains($0.id) }
        #expect(!deep.isEmpty, "week 4 has new chunks three links deep")
        let previous = Dictionary(written[2].0.chunks.map { ($0.id, $0) }) { a, _ in a }
        var prepended = 0
        for c in deep {
            let held = try #require(store.knownChain(c.id))
            #expect(c.packedChain.map { $0.sharesStorage(with: held) } == true, "\(c.id) holds a copy of its chain")
            #expect(c == ChunkRef(id: c.id, size: c.size, bases: c.bases, depth: c.depth, head: c.head, sketch: c.sketch, cut: c.cut))
            // With one base, the chain is that base's own chain with its base in front, shared
            // with the previous point's entry rather than copied.
            if let base = c.base, let b = previous[base], let bChain = b.packedChain, c.bases == [base] + b.bases {
                #expect(c.packedChain.map { $0.isPrepended(to: bChain) } == true, "\(c.id) copies its base's chain")
                #expect(c.chain == b.bases && c.depth == b.depth + 1)
                prepended += 1
            }
        }
        #expect(prepended > 0, "week 4 should have chunks whose one base is itself two links deep")
        #expect(try readBack(FileEntry(path: "x", kind: .dump, database: "x", size: r.size, sha256: r.sha256, chunks: r.chunks), storage) == versions[3])
    }

    /// Given the expected size (the backup passes the database's), the chunk list and the
    /// store's table are reserved at once for that many chunks instead of grown (growing copies
    /// them with both copies alive).
    @Test func theChunkListAndTableAreReservedFromTheExpectedSize() throws {
        let store = ChunkStore(storage: MemoryStorage())
        let w = FileWriter(store: store, chunker: Chunker(small), compressor: Compressor(level: 1))
        w.expectedSize = Int64(5_000 * small.avgSize)
        try w.append(Data(dumpLike(200_000, seed: 3)))
        let r = try w.finish()
        #expect(r.chunks.count > 1 && r.chunks.count < 1_000)
        #expect(r.chunks.capacity >= 5_000, "capacity \(r.chunks.capacity)")
        #expect(store.knownCapacity >= 5_000, "table capacity \(store.knownCapacity)")
    }

    /// Content repeated all over a dump files thousands of old chunks under one sketch value or
    /// head: the base is still the one nearest where the chunk is expected, and looking costs a
    /// bounded window, not every chunk that shares the value.
    @Test func aSketchSharedByThousandsOfOldChunksCostsAWindowNotAllOfThem() throws {
        let sketch = String(repeating: "0000000000001234", count: 8)
        let head = String(repeating: "ab", count: 16)
        let old = (0..<50_000).map { i in
            ChunkRef(id: String(format: "%064x", i + 1), size: 1_000, head: head, sketch: sketch)
        }
        let previous = FileEntry(path: "db.dump", kind: .dump, database: "db", size: 50_000_000, sha256: "", chunks: old)
        let source = DeltaSource(previous: previous, storage: MemoryStorage())
        for at in [0, 1, 17_000, 25_000, 49_999] {
            let picked = source.candidates(head: head, sketch: sketch, offset: Int64(at) * 1_000, length: 1_000)
            #expect(picked.first?.id == old[at].id, "chunk \(at): \(picked.first?.id.suffix(6) ?? "none")")
            #expect(source.lastTally <= DeltaSource.sketchSize * DeltaSource.window, "tallied \(source.lastTally)")
        }
        // The head alone (no sketch) is bounded the same way.
        let byHead = source.candidates(head: head, sketch: "", offset: 30_000_000, length: 1_000)
        #expect(byHead.first?.id == old[30_000].id && source.lastTally <= DeltaSource.window)
    }

    /// The store finds learnt entries by the ids' first 64 bits and then the whole id: ids that
    /// share those bits, ids that are not a SHA-256, and an id in two lists (the first answers).
    @Test func learntEntriesAreFoundByTheirWholeId() throws {
        let a = String(repeating: "ab", count: 8) + String(repeating: "1", count: 48)
        let b = String(repeating: "ab", count: 8) + String(repeating: "2", count: 48)   // same first 64 bits
        let notLearnt = String(repeating: "ab", count: 8) + String(repeating: "3", count: 48)
        let other = String(repeating: "0", count: 63) + "1"
        let store = ChunkStore(storage: MemoryStorage())
        store.learn([ChunkRef(id: b, size: 2), ChunkRef(id: "odd id", size: 3), ChunkRef(id: other, size: 4)])
        store.learn([ChunkRef(id: a, size: 1), ChunkRef(id: other, size: 5)])
        #expect(store.learntEntry(a)?.size == 1 && store.learntEntry(b)?.size == 2)
        #expect(store.learntEntry("odd id")?.size == 3 && store.learntEntry(other)?.size == 4)
        #expect(store.learntEntry(notLearnt) == nil && store.learntEntry("ODD ID") == nil && store.learntEntry(a.uppercased()) == nil)
        store.forgetLearnt()
        #expect(store.learntEntry(a) == nil && store.learntEntry("odd id") == nil)
    }

    @Test func aBrokenOrMissingLinkInTheMiddleOfAChainIsNamed() throws {
        let storage = MemoryStorage()
        let versions = weeklyVersions(4)
        let written = try writeChain(versions, storage: storage, maxDepth: 16)
        let last = written[3].0
        let deep = try #require(last.chunks.first { $0.depth >= 2 }, "week 4 has a chunk at least two steps deep")
        let middle = deep.bases[0]   // a delta itself, with a base of its own
        #expect(deep.bases.count >= 2)

        storage.tamper(ChunkCodec.key(for: middle)) { $0[$0.count - 2] ^= 0x55 }
        #expect {
            _ = try readBack(last, storage)
        } throws: { e in
            let m = (e as? VaultError)?.message ?? ""
            return (e as? VaultError)?.code == .corrupt && m.contains(middle) && m.contains("db.dump")
        }
        try storage.delete(ChunkCodec.key(for: middle))
        #expect {
            _ = try readBack(last, storage)
        } throws: { e in
            let m = (e as? VaultError)?.message ?? ""
            return m.contains("base chunk \(middle) is missing") && (e as? VaultError)?.location == ChunkCodec.key(for: middle)
        }
    }

    /// A backup must not depend on the previous point being intact: when a delta base is
    /// missing or damaged, the new chunk is stored whole and the backup goes on.
    @Test(arguments: ["missing", "damaged"])
    func aBackupWhosePreviousPointIsDamagedStoresWholeChunksAndSucceeds(damage: String) throws {
        let storage = MemoryStorage()
        let versions = weeklyVersions(2)
        let first = try writeChain([versions[0]], storage: storage, maxDepth: 16)[0].0
        // The chunks the week changed (found by a backup into a scratch copy): those are the
        // ones a new chunk is delta-encoded against. (An unchanged chunk is reused as the
        // manifest says, without reading it; `verify` is what finds it damaged.)
        let scratch = MemoryStorage()
        for k in try storage.keys(prefix: "") { try scratch.put(k, try storage.get(k), mode: .createOnly) }
        let unchanged = Set(try writeChain([versions[0], versions[1]], storage: scratch, maxDepth: 16)[1].0.chunks.map(\.id))
        let changed = first.chunks.filter { !unchanged.contains($0.id) }
        #expect(changed.count > 2)
        for c in changed {
            if damage == "missing" { try storage.delete(ChunkCodec.key(for: c.id)) }
            else { storage.tamper(ChunkCodec.key(for: c.id)) { $0[$0.count - 2] ^= 0x55 } }
        }
        let store = ChunkStore(storage: storage, maxDepth: 16)
        store.learn(first.chunks)
        let w = FileWriter(store: store, chunker: Chunker(small), compressor: Compressor(level: 1))
        w.delta = DeltaSource(previous: first, storage: storage)
        try w.append(Data(versions[1]))
        let r = try w.finish()
        let entry = FileEntry(path: "db.dump", kind: .dump, database: "db", size: r.size, sha256: r.sha256, chunks: r.chunks)
        let broken = Set(changed.map(\.id))
        #expect(Set(entry.chunks.flatMap(\.objectIds)).isDisjoint(with: broken), "no chunk of the new point leans on the broken ones")
        #expect(try readBack(entry, storage) == versions[1])
        #expect(store.unreadableBases.count > 0, "the backup knows, and says so (BackupEngine logs it)")
        #expect(store.unreadableBases.objects.allSatisfy { $0.hasPrefix("chunks/") })
    }

    @Test func purgingTheEarlierPointsKeepsEveryLinkTheNewestPointNeeds() throws {
        let storage = MemoryStorage()
        let vault = try Vault.create(storage: storage)
        let t0 = Date(timeIntervalSince1970: 1_780_000_000)
        let versions = weeklyVersions(4)
        let written = try writeChain(versions, storage: storage, maxDepth: 16)
        // A file only the first point has: its chunks are what the purge can remove (every link
        // of the dump's chains stays, the newest point needs them all).
        let w = FileWriter(store: ChunkStore(storage: storage), chunker: Chunker(small), compressor: Compressor(level: 1))
        try w.append(Data(dumpLike(100_000, seed: 77)))
        let r = try w.finish()
        let onlyFirst = FileEntry(path: "old.dump", kind: .dump, database: "old", size: r.size, sha256: r.sha256, chunks: r.chunks)
        let ids = try commitWeekly(written.map(\.0), to: vault, from: t0) { $0 == 0 ? [onlyFirst] : [] }
        let now = t0.addingTimeInterval(4 * 7 * 86400)
        for id in ids.dropLast() { _ = try VaultControl(vault: vault, now: now).delete(id, reason: "test") }
        let report = try VaultControl(vault: vault, now: now.addingTimeInterval(200 * 86400)).purge(dryRun: false, grace: 0)
        #expect(report.purged.count == 3)
        #expect(report.chunksRemoved == onlyFirst.chunks.count, "exactly the chunks only the purged points used are gone")
        for c in written[3].0.chunks { for id in c.objectIds { #expect(try storage.exists(ChunkCodec.key(for: id))) } }
        #expect(try readBack(written[3].0, storage) == versions[3], "the newest point still reads back through its chains")
    }
}

@Suite("Aligned chunking")
struct AlignedChunkingTests {
    /// Cuts `data` with `chunker`, aligned to `align` when given; returns the chunk lengths.
    private func lengths(_ data: [UInt8], _ chunker: Chunker, align: Set<UInt64>? = nil) -> [Int] {
        var out: [Int] = []
        var pos = 0
        data.withUnsafeBytes { raw in
            while pos < raw.count {
                let len = chunker.cut(UnsafeRawBufferPointer(rebasing: raw[pos..<min(raw.count, pos + chunker.params.maxSize)]), align: align)
                out.append(len)
                pos += len
            }
        }
        return out
    }

    @Test func theNextPointIsCutWhereThePreviousOneWasWhateverMovedInBetween() throws {
        let chunker = Chunker(small)
        let old = dumpLike(600_000, seed: 3)
        // Delete a few hundred bytes here and there (rows deleted): the content between old
        // boundaries shrinks, which moves boundaries between the chunker's size zones.
        var new: [UInt8] = []
        var s: UInt64 = 5
        var i = 0
        while i < old.count {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            let keep = 3000 + Int(s >> 52)
            new += old[i..<min(old.count, i + keep)]
            i += keep + Int((s >> 40) & 0x1ff)
        }
        let oldLengths = lengths(old, chunker)
        var cuts = Set<UInt64>()
        var pos = 0
        old.withUnsafeBytes { raw in
            for l in oldLengths {
                if let h = chunker.cutHash(UnsafeRawBufferPointer(rebasing: raw[pos..<(pos + l)])) { cuts.insert(h) }
                pos += l
            }
        }
        #expect(cuts.count >= oldLengths.count - 2, "every content-defined end has a cut hash")
        // The 64 bytes before every cut of the old file: an aligned cut of the new file must end
        // with one of them (it is the same content boundary).
        var oldEnds = Set<[UInt8]>()
        pos = 0
        for l in oldLengths { pos += l; if pos >= 64 { oldEnds.insert(Array(old[(pos - 64)..<pos])) } }
        func shared(_ ls: [Int]) -> Int {
            var p = 0, n = 0
            for l in ls.dropLast() { p += l; if oldEnds.contains(Array(new[(p - 64)..<p])) { n += 1 } }
            return n
        }
        let aligned = lengths(new, chunker, align: cuts)
        let plain = lengths(new, chunker)
        #expect(aligned.reduce(0, +) == new.count && plain.reduce(0, +) == new.count)
        #expect(shared(aligned) >= aligned.count - 3, "aligned: \(shared(aligned)) of \(aligned.count) cuts are old boundaries")
        #expect(shared(aligned) > shared(plain), "aligned \(shared(aligned)), plain \(shared(plain))")
        #expect(aligned.allSatisfy { $0 <= chunker.params.maxSize })
    }
}
