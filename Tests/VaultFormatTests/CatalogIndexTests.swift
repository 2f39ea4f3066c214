import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultStorage

// The packed catalog index (vault/FORMAT.md § Catalog): packs written and read back, points
// added or removed after a pack, damaged packs ignored, the rebuild, and the JSON of
// `points --json` written without JSONEncoder.

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

private func hex(_ n: Int, _ seed: Int) -> String {
    String((0..<n).map { i in Array("0123456789abcdef")[(i * 7 + seed * 13 + i * i * seed) % 16] })
}

/// A manifest with chunk lists (which summaries drop) and, with `rich`, every optional set.
private func manifest(_ vault: Vault, _ i: Int, rich: Bool = false) -> Manifest {
    let t = Timestamp.millis(t0.addingTimeInterval(Double(i) * 3600 + 0.123))
    var db = DatabaseRecord(name: rich ? "crm \"eu\" café/\\\t\u{1}" : "shop", outcome: .ok)
    var files = [FileEntry(path: "roles.sql", kind: .roles, database: nil, size: 120, sha256: hex(64, i),
                           chunks: [ChunkRef(id: hex(64, i + 1), size: 120)])]
    if rich {
        db.sizeBytes = 31_234_567; db.largestBytea = 4096; db.largestByteaColumn = "public.images.data"
        db.dumpFile = "crm.dump"; db.databaseSQLFile = "crm.database.sql"; db.snapshot = true
        db.startedAt = t.addingTimeInterval(1); db.finishedAt = t.addingTimeInterval(5)
        var bad = DatabaseRecord(name: "big", outcome: .refused)
        bad.error = ErrorRecord(code: "limit-exceeded", message: "database \"big\": too large", cause: "size 2 TB", location: "big")
        files.append(FileEntry(path: "crm.dump", kind: .dump, database: db.name, size: -1 << 40, sha256: hex(64, i + 2),
                               chunks: [ChunkRef(id: hex(64, i + 3), size: 1 << 20, base: hex(64, i + 4), head: hex(32, i))]))
        var m = Manifest(id: Identifier.make(at: t), vaultId: vault.config.id, jobId: "backup-\(i)",
                         server: ServerInfo(name: "db1", host: "10.0.0.5", port: "5432", version: "15.18 (Debian)", versionNum: 150018),
                         pgDumpVersion: "15.18", pgVaultVersion: pgVaultVersion, startedAt: t, finishedAt: t.addingTimeInterval(9.5),
                         status: .partial, limits: Limits(maxDatabaseSize: 1 << 40, maxByteaValue: 500_000_000),
                         databases: [db, bad], files: files,
                         stats: PointStats(logicalBytes: 30_125_000, storedBytes: 7_012_345, chunks: 31, newChunks: 29))
        m.retainUntil = t.addingTimeInterval(86400 * 365)
        m.retention = "12m"
        m.tags = ["weekly", "monthly"]
        m.onDemand = false
        return m
    }
    return Manifest(id: Identifier.make(at: t), vaultId: vault.config.id, jobId: "backup-\(i)",
                    server: ServerInfo(name: "db1", host: nil, port: nil, version: "15.1", versionNum: 150001),
                    pgDumpVersion: "15.1", pgVaultVersion: pgVaultVersion, startedAt: t, finishedAt: t, status: .ok,
                    limits: Limits(), databases: [db], files: files, stats: PointStats())
}

/// A vault of `count` committed points (each with its loose catalog entry).
private func vaultWithPoints(_ count: Int, storage: MemoryStorage = MemoryStorage()) throws -> (Vault, MemoryStorage, [Manifest]) {
    let vault = try Vault.create(storage: storage, now: t0)
    var ms: [Manifest] = []
    for i in 0..<count {
        let m = manifest(vault, i, rich: i % 3 == 0)
        try vault.commit(m)
        ms.append(m)
    }
    return (vault, storage, ms)
}

/// What a listing must return: every manifest's summary, newest first, as JSON reads it back.
private func expected(_ vault: Vault) throws -> [Manifest] {
    try vault.points().map { Vault.summary(of: $0) }
}

private func looseKeys(_ storage: any Storage) throws -> [String] {
    try storage.list(prefix: "catalog/").map(\.key).filter { !$0.hasPrefix(CatalogIndex.packPrefix) }
}

/// Storage that refuses deletes under `catalog/` (like an S3 bucket whose objects are locked).
private final class NoCatalogDeletes: Storage, @unchecked Sendable {
    let base: MemoryStorage
    init(_ base: MemoryStorage) { self.base = base }
    var location: String { base.location }
    func put(_ key: String, _ data: Data, mode: PutMode) throws { try base.put(key, data, mode: mode) }
    func get(_ key: String) throws -> Data { try base.get(key) }
    func exists(_ key: String) throws -> Bool { try base.exists(key) }
    func list(prefix: String) throws -> [ObjectInfo] { try base.list(prefix: prefix) }
    func delete(_ key: String) throws {
        if key.hasPrefix("catalog/") { throw VaultError(.protected, "object \(key) is locked") }
        try base.delete(key)
    }
    func sync() throws {}
}

@Suite("Catalog packs")
struct CatalogIndexTests {
    @Test func aPackHoldsEveryFieldOfTheSummary() throws {
        let vault = try Vault.create(storage: MemoryStorage())
        let ms = [manifest(vault, 1, rich: true), manifest(vault, 2), manifest(vault, 3, rich: true)]
        let data = try CatalogPack.encode(vaultId: vault.config.id, summaries: ms)
        let back = try CatalogPack.decode(data)
        #expect(back.vaultId == vault.config.id)
        #expect(back.summaries == ms.map { Vault.summary(of: $0) })
        // The same values JSON gives (dates to the millisecond as the manifest keeps them).
        let viaJSON = try ms.map { try VaultJSON.decode(Manifest.self, from: VaultJSON.encode(Vault.summary(of: $0)), what: "m") }
        #expect(back.summaries == viaJSON)
        #expect(try CatalogPack.decode(CatalogPack.encode(vaultId: "v", summaries: [])).summaries.isEmpty)
    }

    /// The pack encodes these fields one by one (CatalogIndex.swift). A field added to the
    /// manifest must be added to the pack encoding (and `CatalogPack.version` raised) before
    /// this list is updated: otherwise listings from packs would lose it.
    @Test func thePackEncodingKnowsEveryManifestField() throws {
        let vault = try Vault.create(storage: MemoryStorage())
        let m = manifest(vault, 1, rich: true)
        func labels(_ v: Any) -> [String] { Mirror(reflecting: v).children.compactMap(\.label) }
        #expect(labels(m) == ["format", "id", "vaultId", "jobId", "server", "pgDumpVersion", "pgVaultVersion", "startedAt",
                              "finishedAt", "status", "limits", "databases", "files", "stats", "retainUntil", "retention",
                              "tags", "onDemand"])
        #expect(labels(m.server) == ["name", "host", "port", "version", "versionNum"])
        #expect(labels(m.limits) == ["maxDatabaseSize", "maxByteaValue"])
        #expect(labels(m.databases[0]) == ["name", "outcome", "sizeBytes", "largestBytea", "largestByteaColumn", "dumpFile",
                                           "databaseSQLFile", "error", "startedAt", "finishedAt", "snapshot"])
        #expect(labels(m.databases[1].error as Any).isEmpty == false)
        #expect(labels(try #require(m.databases[1].error)) == ["code", "message", "cause", "location"])
        #expect(labels(m.files[0]) == ["path", "kind", "database", "size", "sha256", "chunks"])
        #expect(labels(m.stats) == ["logicalBytes", "storedBytes", "chunks", "newChunks"])
    }

    @Test func damagedOrForeignPacksDoNotDecode() throws {
        let vault = try Vault.create(storage: MemoryStorage())
        let good = try CatalogPack.encode(vaultId: vault.config.id, summaries: (0..<50).map { manifest(vault, $0, rich: $0 % 2 == 0) })
        #expect(throws: (any Error).self) { _ = try CatalogPack.decode(Data("garbage, not a pack".utf8)) }
        #expect(throws: (any Error).self) { _ = try CatalogPack.decode(good.prefix(good.count - 7)) }
        var flipped = good
        flipped[good.count / 2] ^= 0x20
        #expect(throws: (any Error).self) { _ = try CatalogPack.decode(flipped) }
        var huge = good
        for i in 8..<16 { huge[i] = 0xff }   // claims an absurd length
        #expect(throws: (any Error).self) { _ = try CatalogPack.decode(huge) }
        var newer = good
        newer[4] = 2   // a pack version this pgvault does not write
        #expect(throws: (any Error).self) { _ = try CatalogPack.decode(newer) }
    }

    @Test func aListingWritesAPackAndLaterListingsReadIt() throws {
        let (vault, storage, ms) = try vaultWithPoints(12)
        let index = CatalogIndex(vault: vault, packThreshold: 4)
        #expect(try index.packs().isEmpty)
        let first = try index.summaries()            // 12 loose entries > 4: writes a pack
        #expect(first == (try expected(vault)))
        #expect(first.count == ms.count)
        let packs = try index.packs()
        #expect(packs.map(\.seq) == [1])
        #expect(index.newestPack()?.count == 12)
        // The pack alone is enough: without loose entries nothing is read from manifests
        // (which would heal, i.e. write the loose entries again).
        for k in try looseKeys(storage) { try storage.delete(k) }
        #expect(try index.summaries() == first)
        #expect(try vault.summaries() == first)
        #expect(try looseKeys(storage).isEmpty)
    }

    @Test func aPointCommittedAfterThePackIsListed() throws {
        let (vault, storage, _) = try vaultWithPoints(6)
        let index = CatalogIndex(vault: vault, packThreshold: 2)
        _ = try index.summaries()
        #expect(try index.packs().count == 1)
        let newer = manifest(vault, 100, rich: true)
        try vault.commit(newer)                      // loose entry
        let other = manifest(vault, 101)
        try vault.commit(other)
        try storage.delete(Vault.catalogKey(other.id))   // no loose entry: read from its manifest
        let listed = try index.summaries()
        #expect(listed.count == 8)
        #expect(listed.prefix(2).map(\.id) == [other.id, newer.id])
        #expect(listed == (try expected(vault)))
        #expect(try storage.exists(Vault.catalogKey(other.id)))   // healed
        #expect(try index.packs().count == 1)                     // 2 outside the pack: no new pack yet
    }

    @Test func aPointWhoseManifestIsGoneDisappearsThoughThePackHasIt() throws {
        let (vault, storage, ms) = try vaultWithPoints(6)
        let index = CatalogIndex(vault: vault, packThreshold: 2)
        _ = try index.summaries()
        try storage.delete(Vault.pointKey(ms[2].id))
        let listed = try index.summaries()
        #expect(index.newestPack()?[ms[2].id] != nil)
        #expect(listed.count == 5)
        #expect(!listed.contains { $0.id == ms[2].id })
        #expect(listed == (try expected(vault)))
        // A hard delete through the vault's control works the same way.
        _ = try VaultControl(vault: vault).changeSettings(softDelete: .disabled)
        _ = try VaultControl(vault: vault).delete(ms[4].id, reason: "test")
        #expect(try !index.summaries().contains { $0.id == ms[4].id })
        #expect(try VaultControl(vault: vault).pointViews().count == 4)
    }

    @Test(arguments: ["garbage", "truncated", "other-vault"])
    func aBadPackIsIgnoredAndTheListingStaysComplete(kind: String) throws {
        let (vault, storage, _) = try vaultWithPoints(9)
        let index = CatalogIndex(vault: vault, packThreshold: 1_000)   // this test writes its packs itself
        let right = try expected(vault)
        let good = try CatalogPack.encode(vaultId: vault.config.id, summaries: right)
        let bad: Data = switch kind {
        case "garbage": Data((0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        case "truncated": good.prefix(good.count / 2)
        default: try CatalogPack.encode(vaultId: "vault-0000000000000000", summaries: right.map { var m = $0; m.jobId = "forged"; return m })
        }
        // The bad pack is the newest; the loose entries are gone: manifests fill in.
        try storage.put(CatalogIndex.packKey(7), bad, mode: .createOnly)
        for k in try looseKeys(storage) { try storage.delete(k) }
        #expect(index.newestPack() == nil)
        #expect(try index.summaries() == right)
        #expect(try looseKeys(storage).count == 9)   // healed from the manifests
        // Beside an older good pack, the good one is used.
        try storage.put(CatalogIndex.packKey(3), good, mode: .createOnly)
        #expect(index.newestPack()?.seq == 3)
        #expect(try index.summaries() == right)
    }

    @Test func rebuildWritesOnePackEqualToTheManifestsAndRemovesTheOldOnes() throws {
        let (vault, storage, ms) = try vaultWithPoints(10)
        let index = CatalogIndex(vault: vault)
        // Stale derived data: an old pack with a wrong entry and one of a point that is gone.
        var wrong = Vault.summary(of: ms[0])
        wrong.status = .failed
        let ghost = manifest(vault, 999)
        try storage.put(CatalogIndex.packKey(1), try CatalogPack.encode(vaultId: vault.config.id, summaries: [wrong, ghost]), mode: .createOnly)
        try storage.put(CatalogIndex.packKey(2), Data("junk".utf8), mode: .createOnly)
        let report = try index.rebuild()
        #expect(report.points == 10)
        #expect(report.pack == CatalogIndex.packKey(3))
        #expect(report.packsRemoved == 2)
        #expect(try index.packs().map(\.seq) == [3])
        let pack = try #require(index.newestPack())
        #expect(pack.count == 10)
        #expect(pack[ms[0].id]?.status == ms[0].status)
        #expect(pack[ghost.id] == nil)
        let byId = Dictionary(uniqueKeysWithValues: try expected(vault).map { ($0.id, $0) })
        #expect(Dictionary(uniqueKeysWithValues: pack.summaries.map { ($0.id, $0) }) == byId)
        #expect(try index.summaries() == (try expected(vault)))
    }

    @Test func packsThatCannotBeDeletedStayAndListingsAreStillRight() throws {
        let memory = MemoryStorage()
        let (_, _, _) = try vaultWithPoints(5, storage: memory)
        let vault = try Vault.open(storage: NoCatalogDeletes(memory))
        let index = CatalogIndex(vault: vault, packThreshold: 2)
        _ = try index.summaries()                    // pack 1
        for i in 0..<3 { try vault.commit(manifest(vault, 50 + i)) }
        let listed = try index.summaries()           // 3 outside: pack 2; pack 1 cannot be removed
        #expect(try index.packs().map(\.seq) == [2, 1])
        #expect(listed.count == 8)
        #expect(listed == (try expected(vault)))
        let report = try index.rebuild()
        #expect(report.packsRemoved == 0 && report.packsLeft == 2)
        #expect(try index.summaries() == (try expected(vault)))
    }

    @Test func softDeleteAndHoldStateShowOverAPack() throws {
        let (vault, _, ms) = try vaultWithPoints(6)
        _ = try CatalogIndex(vault: vault).rebuild()
        let control = VaultControl(vault: vault)
        _ = try control.delete(ms[1].id, reason: "superseded")
        _ = try control.setHold(ms[3].id, reason: "case 42")
        let views = try control.pointViews()
        #expect(views.count == 6)
        let deleted = try #require(views.first { $0.id == ms[1].id })
        #expect(deleted.state.isSoftDeleted && deleted.state.deleteReason == "superseded")
        let held = try #require(views.first { $0.id == ms[3].id })
        #expect(held.state.isHeld && held.state.hold?.reason == "case 42")
        let json = try JSONSerialization.jsonObject(with: PointSummary.jsonArray(views.map(PointSummary.init))) as? [[String: Any]]
        let rows = try #require(json)
        #expect(rows.first { $0["id"] as? String == ms[1].id }?["state"] as? String == "soft-deleted")
        #expect(rows.first { $0["id"] as? String == ms[3].id }?["held"] as? Bool == true)
        #expect(rows.first { $0["id"] as? String == ms[3].id }?["holdReason"] as? String == "case 42")
        #expect(rows.filter { $0["state"] as? String == "active" }.count == 5)
    }

    @Test func pointsJSONIsByteForByteWhatJSONEncoderWrites() throws {
        let (vault, _, ms) = try vaultWithPoints(7)
        let control = VaultControl(vault: vault)
        _ = try control.delete(ms[2].id, reason: "a \"quoted\" reason\nwith\u{7f} ünï/\u{0}")
        _ = try control.setHold(ms[4].id, reason: "hold\\back\r\u{1f}")
        let summaries = try control.pointViews().map(PointSummary.init)
        #expect(PointSummary.jsonArray(summaries) == (try VaultJSON.encode(summaries)))
        #expect(PointSummary.jsonArray([]) == (try VaultJSON.encode([PointSummary]())))
        #expect(PointSummary.jsonArray(Array(summaries.prefix(1))) == (try VaultJSON.encode(Array(summaries.prefix(1)))))
    }

    /// The streaming listing (`points --json`) gives, byte for byte, the JSON of the views:
    /// straight from an exact pack, with loose entries and manifest-only points beside a pack,
    /// with state records, when a listing repacks, and without any pack.
    @Test func streamedSummariesEqualTheViews() throws {
        let (vault, storage, ms) = try vaultWithPoints(9)
        let control = VaultControl(vault: vault)
        func streamed() throws -> [PointSummary] {
            var out: [PointSummary] = []
            try control.forEachPointSummary { out.append($0) }
            return out
        }
        func views() throws -> Data { PointSummary.jsonArray(try control.pointViews().map(PointSummary.init)) }
        #expect(PointSummary.jsonArray(try streamed()) == (try views()))            // loose entries, no pack
        _ = try CatalogIndex(vault: vault).rebuild()
        _ = try control.delete(ms[1].id, reason: "gone\t\"soon\"")
        _ = try control.setHold(ms[3].id, reason: "case 42")
        _ = try control.retain(ms[5].id, until: t0.addingTimeInterval(86400 * 900))
        #expect(PointSummary.jsonArray(try streamed()) == (try views()))            // exactly the pack
        let newer = manifest(vault, 200, rich: true)
        try vault.commit(newer)
        let other = manifest(vault, 201)
        try vault.commit(other)
        try storage.delete(Vault.catalogKey(other.id))                             // only its manifest
        try storage.delete(Vault.pointKey(ms[6].id))                               // in the pack, gone
        let listed = try streamed()
        #expect(listed.count == 10)
        #expect(listed.prefix(2).map(\.id) == [other.id, newer.id])
        #expect(PointSummary.jsonArray(listed) == (try views()))
        #expect(try storage.exists(Vault.catalogKey(other.id)))                    // healed
        // More points outside the pack than the threshold: the listing writes a pack.
        for i in 0..<(CatalogIndex.defaultPackThreshold + 1) { try vault.commit(manifest(vault, 300 + i)) }
        let packsBefore = try CatalogIndex(vault: vault).packs().map(\.seq)
        #expect(PointSummary.jsonArray(try streamed()) == (try views()))
        #expect(try CatalogIndex(vault: vault).packs().map(\.seq) != packsBefore)
        #expect(PointSummary.jsonArray(try streamed()) == (try views()))
    }

    /// Start times out of id order (a point started later within the same second, or a clock
    /// that went back): the listing orders by start time like `summaries()`.
    @Test func streamedSummariesFollowStartTimesNotIds() throws {
        let storage = MemoryStorage()
        let vault = try Vault.create(storage: storage, now: t0)
        var ms: [Manifest] = []
        for i in 0..<6 {
            var m = manifest(vault, i)
            m.startedAt = t0.addingTimeInterval(Double([5, 1, 4, 1, 3, 2][i]) * 60)
            try vault.commit(m)
            ms.append(m)
        }
        _ = try CatalogIndex(vault: vault).rebuild()
        let control = VaultControl(vault: vault)
        var ids: [String] = []
        try control.forEachPointSummary { ids.append($0.id) }
        #expect(ids == (try control.pointViews().map(\.id)))
        #expect(ids.first == ms[0].id)
    }
}
