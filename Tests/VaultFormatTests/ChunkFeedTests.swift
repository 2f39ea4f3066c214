import Foundation
import Testing
import VaultCore
@testable import VaultFormat
import VaultStorage

/// Restore and verify read a point's chunk list as they go (`ChunkFeed`, `PointChunkStream`)
/// instead of holding it: a 1 TiB point lists ~650,000 chunks, hundreds of MB decoded. These
/// tests pin that the reader stays a few entries ahead whatever the list's length, that lists
/// come back file by file exactly as stored, and that a list that does not add up is damage.
@Suite("Chunk lists read as they are needed")
struct ChunkFeedTests {
    /// A file of `count` entries that all name one real chunk (as bench/p8's restorable point).
    static func repeatedFile(_ storage: MemoryStorage, count: Int) throws -> (file: FileEntry, bytes: [UInt8], ref: ChunkRef) {
        let piece = dumpLike(3_000, seed: 5)
        let one = try writeFile(ChunkStore(storage: storage), piece, path: "one", database: "x")
        let ref = try #require(one.chunks.first)
        #expect(one.chunks.count == 1)
        let whole = Array(repeating: piece, count: count).flatMap { $0 }
        let sha = whole.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        let file = FileEntry(path: "many.dump", kind: .dump, database: "x", size: Int64(whole.count), sha256: sha, chunks: [])
        return (file, whole, ref)
    }

    @Test(arguments: [1, 2, 4])
    func aFileIsReadAFewEntriesAheadNotItsWholeListAhead(workers: Int) throws {
        let storage = MemoryStorage()
        let count = 3_000
        let (file, whole, ref) = try Self.repeatedFile(storage, count: count)
        let pulled = Locked(0)
        // One entry a batch, so every entry the reader takes is counted when it is taken.
        let feed = ChunkFeed { pulled.withLock { n in n < count ? { n += 1; return [ref] }() : nil } }
        var delivered = 0, lead = 0
        var back: [UInt8] = []
        try FileReader(storage: storage).read(file, count: count, feed: feed, again: { ChunkFeed([]) }, workers: workers) { d in
            delivered += 1
            lead = max(lead, pulled.get() - delivered)
            back += d
        }
        #expect(back == whole)
        #expect(delivered == count)
        #expect(pulled.get() == count, "the feed is not read past the file's count")
        // Per worker: 8 entries queued, 4 chunks decoded ahead, one in hand; one in the feeder.
        #expect(lead <= workers * 13 + 2, "the reader ran \(lead) entries ahead of the writes")
    }

    @Test func aListShorterThanItsCountOrOneThatFailsIsAnErrorNamingTheFile() throws {
        let storage = MemoryStorage()
        let (file, _, ref) = try Self.repeatedFile(storage, count: 10)
        #expect {
            try FileReader(storage: storage).read(file, count: 10, feed: ChunkFeed(Array(repeating: ref, count: 7)), again: { ChunkFeed([]) }) { _ in }
        } throws: { e in
            let v = e as? VaultError
            return v?.code == .corrupt && (v?.message ?? "").contains("many.dump: the manifest lists 7 chunks, not 10")
        }
        var given = 0
        let failing = ChunkFeed {
            given += 1
            if given > 3 { throw VaultError(.io, "storage went away") }
            return [ref]
        }
        #expect {
            try FileReader(storage: storage).read(file, count: 10, feed: failing, again: { ChunkFeed([]) }) { _ in }
        } throws: { e in (e as? VaultError)?.message == "storage went away" }
    }

    @Test func listsComeBackFileByFileAsStoredSkippingFilesNotAskedFor() throws {
        let m = ManifestStreamingTests.manifest(files: 6, chunks: ManifestScanner.batchSize + 17)   // lists span two batches
        let storage = MemoryStorage()
        let key = Vault.pointKey(m.id)
        try storage.put(key, try ManifestCodec.encode(m, format: 4).stored, mode: .createOnly)
        let (summary, counts, _) = try ManifestCodec.decodeSummary(storage, key: key)
        #expect(counts == m.files.map(\.chunks.count))
        #expect(counts[1] == 0)

        func all(_ feed: ChunkFeed) throws -> [ChunkRef] {
            var out: [ChunkRef] = []
            while let r = try feed.next() { out.append(r) }
            return out
        }
        let stream = PointChunkStream(storage: storage, key: key, expected: summary, counts: counts)
        #expect(try all(stream.feed(file: 1)).isEmpty, "a file without chunks")
        #expect(try all(stream.feed(file: 2)) == m.files[2].chunks)
        // File 3 is not asked for; 4 and 5 come whole after it.
        #expect(try all(stream.feed(file: 4)) == m.files[4].chunks)
        #expect(try all(stream.feed(file: 5)) == m.files[5].chunks)
        try stream.finish()

        // Files read in part, the rest left: finish reads past it.
        let partly = PointChunkStream(storage: storage, key: key, expected: summary, counts: counts)
        #expect(try partly.feed(file: 0).next() == m.files[0].chunks[0])
        try partly.finish()

        // Closed early, with batches still to come: the reading thread stops.
        let early = PointChunkStream(storage: storage, key: key, expected: summary, counts: counts)
        #expect(try early.feed(file: 2).next() == m.files[2].chunks[0])
        early.close()

        // Planned with other counts (the object changed between the two reads): damage.
        var wrong = counts
        wrong[3] += 1
        let changed = PointChunkStream(storage: storage, key: key, expected: summary, counts: wrong)
        #expect {
            try changed.finish()
        } throws: { e in
            let v = e as? VaultError
            return v?.code == .corrupt && (v?.message ?? "").contains("changed while it was read") && v?.location == key
        }
    }

    @Test func aDamagedManifestIsReportedByTheFeedThatMeetsTheDamage() throws {
        let m = ManifestStreamingTests.manifest(files: 3, chunks: 50)
        let storage = MemoryStorage()
        let key = Vault.pointKey(m.id)
        let good = try ManifestCodec.encode(m, format: 2).stored   // plain JSON: easy to cut
        let (summary, counts) = try ManifestCodec.decodeSummary(good, what: key)
        try storage.put(key, good.prefix(good.count * 2 / 3), mode: .createOnly)
        let stream = PointChunkStream(storage: storage, key: key, expected: summary, counts: counts)
        #expect {
            var n = 0
            let feed = stream.feed(file: 2)
            while try feed.next() != nil { n += 1 }
        } throws: { e in (e as? VaultError)?.code == .corrupt }
        #expect(throws: VaultError.self) { try stream.finish() }
    }
}
