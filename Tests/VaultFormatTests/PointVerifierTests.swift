import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultStorage
import VaultTestSupport

/// A memory storage with injected faults: `get` of a key in `unreachable` fails with a storage
/// error (not damage), and chunk writes after the first `chunkPutsAllowed` fail with a full disk.
final class FaultStorage: Storage, @unchecked Sendable {
    let inner = MemoryStorage()
    let unreachable: Locked<Set<String>> = Locked([])
    let chunkPutsAllowed: Int
    let chunkPuts = Locked(0)
    init(chunkPutsAllowed: Int = .max) { self.chunkPutsAllowed = chunkPutsAllowed }
    var location: String { inner.location }
    func put(_ key: String, _ data: Data, mode: PutMode) throws {
        if key.hasPrefix("chunks/") {
            try chunkPuts.withLock { n in
                guard n < chunkPutsAllowed else { throw VaultError(.diskFull, "no space left on device", location: key) }
                n += 1
            }
        }
        try inner.put(key, data, mode: mode)
    }
    func get(_ key: String) throws -> Data {
        if unreachable.withLock({ $0.contains(key) }) {
            throw VaultError(.storage, "S3 endpoint unreachable after 3 tries", location: key)
        }
        return try inner.get(key)
    }
    func exists(_ key: String) throws -> Bool { try inner.exists(key) }
    func list(prefix: String) throws -> [ObjectInfo] { try inner.list(prefix: prefix) }
    func delete(_ key: String) throws { try inner.delete(key) }
    func sync() throws {}
}

@Suite("Point verifier")
struct PointVerifierTests {
    /// A vault with one committed point of two files; returns it and the manifest.
    func makePoint(_ storage: any Storage, id: String = "20260101T000000Z-00000001",
                   startedAt: Date = Date(timeIntervalSince1970: 1_800_000_000)) throws -> (Vault, Manifest) {
        let vault: Vault
        if let existing = try? Vault.open(storage: storage) { vault = existing } else { vault = try Vault.create(storage: storage) }
        let store = ChunkStore(storage: storage)
        func write(_ name: String, _ bytes: [UInt8]) throws -> FileEntry { try writeFile(store, bytes, path: name, database: name) }
        let files = [try write("a.dump", dumpLike(200_000, seed: 1)), try write("b.dump", dumpLike(150_000, seed: 2))]
        let m = Manifest(id: id, vaultId: vault.config.id, jobId: "j",
                         server: ServerInfo(name: "s", host: nil, port: nil, version: "15.1", versionNum: 150001),
                         pgDumpVersion: "15.1", pgVaultVersion: pgVaultVersion, startedAt: startedAt, finishedAt: startedAt,
                         status: .ok, limits: Limits(), databases: [], files: files, stats: PointStats())
        try vault.commit(m)
        return (vault, m)
    }

    @Test func anIntactPointVerifiesEveryFileAndByte() throws {
        let (vault, m) = try makePoint(MemoryStorage())
        var events: [String] = []
        let check = PointVerifier(vault: vault).verify(try PointVerifier(vault: vault).target("latest", includeDeleted: false)) { e in
            if case .fileOK(let f, _, _) = e { events.append(f) }
        }
        #expect(check.status == .ok && check.failures.isEmpty)
        #expect(check.filesChecked == 2 && check.files == 2)
        #expect(check.bytesVerified == m.files.reduce(0) { $0 + $1.size })
        #expect(events == ["a.dump", "b.dump"])
        #expect(check.manifestSha256 == (try vault.manifestData(m.id)).withUnsafeBytes { ChunkCodec.sha256Hex($0) })
    }

    @Test func damageInOneFileAndAStorageErrorInAnotherAreBothReported() throws {
        let storage = FaultStorage()
        let (vault, m) = try makePoint(storage)
        let verifier = PointVerifier(vault: vault)

        // A storage error alone: unreadable, not damaged.
        let unreachable = ChunkCodec.key(for: m.files[1].chunks[0].id)
        _ = storage.unreachable.withLock { $0.insert(unreachable) }
        let flaky = verifier.verify(id: m.id, state: "active")
        #expect(flaky.status == .unreadable)
        #expect(flaky.failures.map(\.file) == ["b.dump"] && flaky.failures.first?.isDamage == false)
        #expect(flaky.bytesVerified == m.files[0].size)

        // Plus a damaged chunk in the first file: damaged, both failures listed in file order.
        let victim = m.files[0].chunks[1].id
        storage.inner.tamper(ChunkCodec.key(for: victim)) { $0[$0.count - 2] ^= 1 }
        let both = verifier.verify(id: m.id, state: "active")
        #expect(both.status == .damaged)
        #expect(both.failures.map(\.file) == ["a.dump", "b.dump"])
        #expect(both.failures[0].message.contains(victim) && both.failures[0].object == ChunkCodec.key(for: victim))
        #expect(both.filesChecked == 2 && both.bytesVerified == 0)
    }

    @Test func aManifestUnderAnotherPointsNameIsDamage() throws {
        let storage = MemoryStorage()
        let (vault, m) = try makePoint(storage)
        let other = "20260101T000000Z-00000002"
        try storage.put(Vault.pointKey(other), try vault.manifestData(m.id), mode: .createOnly)
        let check = PointVerifier(vault: vault).verify(id: other, state: "active")
        #expect(check.status == .damaged && check.files == 0)
        #expect(check.failures.first?.object == Vault.pointKey(other))
        #expect(check.failures.first?.message.contains(m.id) == true)
        // A missing manifest is damage named by its key too.
        let gone = PointVerifier(vault: vault).verify(id: "20260101T000000Z-00000003", state: "active")
        #expect(gone.status == .damaged && gone.failures.first?.object == "points/20260101T000000Z-00000003.json")
    }

    @Test func allIsNewestFirstByStartTimeWithinTheSameSecond() throws {
        let storage = MemoryStorage()
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        let second = Timestamp.compact(t)
        let (vault, _) = try makePoint(storage, id: "\(second)-ffff0000", startedAt: t.addingTimeInterval(0.1))
        _ = try makePoint(storage, id: "\(second)-0000ffff", startedAt: t.addingTimeInterval(0.7))
        _ = try makePoint(storage, id: "\(Timestamp.compact(t.addingTimeInterval(-60)))-12345678", startedAt: t.addingTimeInterval(-60))
        let verifier = PointVerifier(vault: vault)
        let checks = try verifier.allTargets(includeDeleted: false).map { verifier.verify($0) }
        #expect(PointVerifier.newestFirst(checks).map(\.id)
                == ["\(second)-0000ffff", "\(second)-ffff0000", "\(Timestamp.compact(t.addingTimeInterval(-60)))-12345678"])
    }
}
