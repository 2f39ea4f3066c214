import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultStorage
import VaultTestSupport

// Library-level tests of VaultControl (issue 4): soft delete / undelete, purge and garbage
// collection with an injected clock, legal holds, immutability, the audit chain, leases and
// an interrupted purge. Every test runs over MemoryStorage and LocalStorage.

enum ControlStorageKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, local
    var testDescription: String { rawValue }
}

private let ctlChunker = ChunkerParams(algorithm: "gear-fastcdc-v1", minSize: 2048, avgSize: 8192, maxSize: 65536, seed: 7)
private let day: TimeInterval = 86400

/// Deterministic, incompressible-looking bytes; different seeds share no chunk.
private func ctlBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        out[i] = UInt8(truncatingIfNeeded: s >> 24)
    }
    return out
}

private func refusal(_ body: () throws -> Void) -> VaultError? {
    do { try body(); return nil } catch let e as VaultError { return e } catch { return VaultError(.internalError, "\(error)") }
}

/// A fresh vault over one kind of storage, with helpers to build points by hand.
private final class CtlFixture {
    let kind: ControlStorageKind
    let storage: any Storage
    let vault: Vault
    let dir: URL?
    let t0: Date
    let actor = "alice@ctl-test"

    init(_ kind: ControlStorageKind) throws {
        self.kind = kind
        t0 = Timestamp.millis(Date())
        switch kind {
        case .memory:
            storage = MemoryStorage(name: "ctl")
            dir = nil
        case .local:
            let d = try TestEnvironment.temporaryDirectory("ctl")
            let s = LocalStorage(root: d.appendingPathComponent("vault").path)
            try s.createRoot()
            storage = s
            dir = d
        }
        vault = try Vault.create(storage: storage, now: t0)
    }

    deinit { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func control(at offset: TimeInterval = 0) -> VaultControl {
        VaultControl(vault: vault, now: t0.addingTimeInterval(offset), actor: actor)
    }

    /// Writes the files' chunks, then commits a manifest (as a backup does) and audits it.
    @discardableResult
    func point(_ files: [(String, [UInt8])], startedAt offset: TimeInterval = 0, retainUntil: Date? = nil) throws -> (Manifest, Data) {
        let store = ChunkStore(storage: storage)
        var entries: [FileEntry] = []
        for (name, bytes) in files {
            let w = FileWriter(store: store, chunker: Chunker(ctlChunker), compressor: Compressor(level: 1))
            try w.append(Data(bytes))
            let r = try w.finish()
            entries.append(FileEntry(path: name, kind: .dump, database: name, size: r.size, sha256: r.sha256, chunks: r.chunks))
        }
        let started = t0.addingTimeInterval(offset)
        var m = Manifest(id: Identifier.make(at: started), vaultId: vault.config.id, jobId: "backup-test",
                         server: ServerInfo(name: "srv", host: nil, port: nil, version: "15.4", versionNum: 150004),
                         pgDumpVersion: "15.4", pgVaultVersion: pgVaultVersion, startedAt: started,
                         finishedAt: started.addingTimeInterval(1), status: .ok, limits: Limits(), databases: [],
                         files: entries, stats: PointStats())
        m.retainUntil = retainUntil.map(Timestamp.millis)
        m.retention = retainUntil == nil ? nil : "30d"
        let sha256 = try vault.commit(m)
        #expect(try vault.manifestData(m.id).withUnsafeBytes { ChunkCodec.sha256Hex($0) } == sha256)
        try AuditLog(storage: storage).append(operation: "point.create", target: m.id, actor: actor, now: started)
        return (m, try storage.get(Vault.pointKey(m.id)))   // the stored bytes, compressed or not
    }

    func read(_ file: FileEntry) throws -> [UInt8] {
        var out = Data()
        try FileReader(storage: storage).read(file) { out.append($0) }
        return Array(out)
    }

    func chunkIds(_ m: Manifest) -> Set<String> { Set(m.files.flatMap { $0.chunks.flatMap(\.objectIds) }) }

    /// key -> size of every chunk object.
    func chunkObjects() throws -> [String: Int64] {
        Dictionary(uniqueKeysWithValues: try storage.list(prefix: "chunks/").map { ($0.key, $0.size) })
    }

    /// key -> SHA-256 of the content of every object in the vault.
    func snapshot() throws -> [String: String] {
        var out: [String: String] = [:]
        for o in try storage.list(prefix: "") {
            out[o.key] = try storage.get(o.key).withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        }
        return out
    }

    /// Replaces an object behind the vault's back (LocalStorage files are read-only: chmod first).
    func overwrite(_ key: String, _ data: Data) throws {
        if let mem = storage as? MemoryStorage {
            mem.tamper(key) { $0 = data }
        } else {
            let path = (storage as! LocalStorage).root + "/" + key
            #expect(chmod(path, 0o600) == 0)
            try data.write(to: URL(fileURLWithPath: path))
            #expect(chmod(path, 0o400) == 0)
        }
    }

    func auditKey(_ seq: Int) -> String { "audit/" + String(format: "%012d", seq) + ".json" }

    /// Every remaining manifest's chunks exist.
    func assertConsistent(sourceLocation: SourceLocation = #_sourceLocation) throws {
        for m in try vault.points() {
            for id in chunkIds(m) {
                #expect(try storage.exists(ChunkCodec.key(for: id)), "point \(m.id) lost chunk \(id)", sourceLocation: sourceLocation)
            }
        }
    }
}

@Suite("VaultControl: delete, undelete, purge, holds, immutability, audit (ControlTests)")
struct ControlTests {

    // MARK: soft delete / undelete

    @Test(arguments: ControlStorageKind.allCases)
    func softDeleteHidesFromLatestAndUndeleteRestoresByteIdentical(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let oldBytes = ctlBytes(150_000, seed: 1)
        let newBytes = ctlBytes(200_000, seed: 2)
        let (old, _) = try fx.point([("old.dump", oldBytes)], startedAt: 0)
        let (new, newData) = try fx.point([("new.dump", newBytes)], startedAt: 60)
        #expect(try fx.vault.resolvePoint("latest").id == new.id)

        let c = fx.control(at: 120)
        let outcome = try c.delete(new.id, reason: "test point")
        #expect(outcome == .softDeleted(purgeAfter: c.now.addingTimeInterval(14 * day)))

        // Hidden from `latest`, still listed with its state, still resolvable by id.
        #expect(try fx.vault.resolvePoint("latest").id == old.id)
        let views = try c.pointViews()
        #expect(views.map(\.id) == [new.id, old.id])
        let v = try #require(views.first { $0.id == new.id })
        #expect(v.state.isSoftDeleted)
        #expect(v.state.softDeletedAt == c.now)
        #expect(v.state.softDeleteDays == 14)
        #expect(v.state.purgeAfter == c.now.addingTimeInterval(14 * day))
        #expect(v.state.deleteReason == "test point")
        #expect(views.first { $0.id == old.id }?.state.isSoftDeleted == false)
        #expect(try fx.vault.resolvePoint(new.id).id == new.id)
        #expect(try c.view(new.id).state.isSoftDeleted)
        // Deleting again is refused and says it is already soft-deleted.
        let again = refusal { _ = try c.delete(new.id, reason: "twice") }
        #expect(again?.code == .protected && again?.message.contains("already soft-deleted") == true, "\(String(describing: again))")
        // The manifest itself was never rewritten.
        #expect(try fx.storage.get(Vault.pointKey(new.id)) == newData)

        let back = try fx.control(at: 180).undelete(new.id)
        #expect(back.id == new.id && !back.state.isSoftDeleted)
        #expect(try fx.vault.resolvePoint("latest").id == new.id)
        #expect(try fx.control(at: 180).pointViews().allSatisfy { !$0.state.isSoftDeleted })
        #expect(try fx.storage.get(Vault.pointKey(new.id)) == newData, "undelete gives back the same manifest bytes")
        #expect(try fx.vault.resolvePoint("latest") == new)
        #expect(try fx.read(new.files[0]) == newBytes, "restorable byte-identical")
        // Undeleting an active point is refused.
        let notDeleted = refusal { _ = try fx.control(at: 200).undelete(new.id) }
        #expect(notDeleted?.code == .protected && notDeleted?.message.contains("not soft-deleted") == true)
    }

    // MARK: purge and garbage collection

    @Test(arguments: ControlStorageKind.allCases)
    func purgeWaitsForTheRecordedWindowThenFreesOnlyUnsharedChunks(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let shared = ctlBytes(120_000, seed: 10)
        let onlyA = ctlBytes(160_000, seed: 11)
        let onlyB = ctlBytes(90_000, seed: 12)
        let (a, _) = try fx.point([("a.dump", onlyA), ("shared.dump", shared)], startedAt: 0)
        let (b, _) = try fx.point([("shared.dump", shared), ("b.dump", onlyB)], startedAt: 10)
        let uniqueA = fx.chunkIds(a).subtracting(fx.chunkIds(b))
        try #require(uniqueA.count >= 5 && fx.chunkIds(a).intersection(fx.chunkIds(b)).count >= 5)

        let del = fx.control(at: 0)
        _ = try del.delete(a.id, reason: "no longer needed")
        let purgeAfter = del.now.addingTimeInterval(14 * day)
        // The window recorded at deletion applies even if the setting changes later.
        try fx.control(at: day).changeSettings(softDeleteDays: 30)
        #expect(try fx.control(at: day).settings().softDeleteDays == 30)

        // Before the window: kept, with the date from which it may go; nothing removed.
        let early = try fx.control(at: 13 * day).purge(dryRun: false, grace: 0)
        #expect(early.purged.isEmpty)
        #expect(early.kept.count == 1)
        #expect(early.kept.first?.point == a.id)
        #expect(early.kept.first?.allowedFrom == purgeAfter)
        #expect(early.kept.first?.reason.contains("14 days") == true, "\(early.kept)")
        #expect(early.chunksRemoved == 0 && early.bytesFreed == 0)
        #expect(try fx.storage.exists(Vault.pointKey(a.id)))
        #expect(try fx.control(at: 13 * day).view(a.id).state.isSoftDeleted)

        // After the window: dry run first, it changes nothing and reports the real figures.
        let objects = try fx.chunkObjects()
        let expectedBytes = uniqueA.reduce(Int64(0)) { $0 + (objects[ChunkCodec.key(for: $1)] ?? -1_000_000) }
        let before = try fx.snapshot()
        let dry = try fx.control(at: 15 * day).purge(dryRun: true, grace: 0)
        #expect(try fx.snapshot() == before, "a dry run writes nothing")
        #expect(dry.dryRun)
        #expect(dry.purged.map(\.point) == [a.id])
        #expect(dry.purged.first?.purgeAfter == purgeAfter)
        #expect(dry.chunksRemoved == uniqueA.count)
        #expect(dry.bytesFreed == expectedBytes)
        #expect(dry.chunksKept == fx.chunkIds(b).count)

        // A grace period longer than the chunks' age keeps them.
        let graced = try fx.control(at: 15 * day).purge(dryRun: true, grace: 30 * day)
        #expect(graced.purged.map(\.point) == [a.id])
        #expect(graced.chunksRemoved == 0 && graced.chunksKept == objects.count)

        let auditBefore = try AuditLog(storage: fx.storage).entries().count
        let real = try fx.control(at: 15 * day).purge(dryRun: false, grace: 0)
        #expect(!real.dryRun)
        #expect(real.purged.map(\.point) == dry.purged.map(\.point))
        #expect(real.chunksRemoved == dry.chunksRemoved)
        #expect(real.bytesFreed == dry.bytesFreed)
        #expect(real.chunksKept == dry.chunksKept)
        #expect(real.sweepDeferred == nil)
        #expect(real.orphanStateRecordsRemoved == 0)

        #expect(try !fx.storage.exists(Vault.pointKey(a.id)), "the manifest is gone")
        #expect(try fx.storage.list(prefix: "state/\(a.id)/").isEmpty, "its state records are gone")
        for id in uniqueA { #expect(try !fx.storage.exists(ChunkCodec.key(for: id)), "chunk only A used is removed") }
        for id in fx.chunkIds(b) { #expect(try fx.storage.exists(ChunkCodec.key(for: id)), "chunk B uses is kept") }
        #expect(try Set(fx.chunkObjects().keys) == Set(fx.chunkIds(b).map { ChunkCodec.key(for: $0) }))
        #expect(try fx.vault.points().map(\.id) == [b.id])
        #expect(try fx.read(b.files[0]) == shared)
        #expect(try fx.read(b.files[1]) == onlyB)
        #expect(throws: VaultError.self) { _ = try fx.vault.resolvePoint(a.id) }

        let log = try AuditLog(storage: fx.storage).entries()
        let added = Array(log.dropFirst(auditBefore))
        #expect(added.map(\.operation) == ["point.purge", "gc.sweep"])
        #expect(added.first?.target == a.id)
        #expect(added.last?.details["chunks"] == "\(uniqueA.count)" && added.last?.details["bytes"] == "\(expectedBytes)")
        #expect(added.allSatisfy { $0.actor == fx.actor && $0.time == fx.t0.addingTimeInterval(15 * day) })
        #expect(try AuditLog(storage: fx.storage).verify().ok)

        // Nothing left to do: a second purge removes nothing and writes nothing.
        let snap = try fx.snapshot()
        let second = try fx.control(at: 16 * day).purge(dryRun: false, grace: 0)
        #expect(second.purged.isEmpty && second.chunksRemoved == 0 && second.bytesFreed == 0)
        #expect(try fx.snapshot() == snap)
        try fx.assertConsistent()
    }

    @Test(arguments: ControlStorageKind.allCases)
    func aLongerWindowRecordedAtDeletionStillAppliesAfterTheSettingShrinks(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let (a, _) = try fx.point([("a.dump", ctlBytes(50_000, seed: 20))])
        try fx.control().changeSettings(softDeleteDays: 60)
        _ = try fx.control(at: 0).delete(a.id, reason: "r")
        try fx.control(at: day).changeSettings(softDeleteDays: 14)
        let r = try fx.control(at: 20 * day).purge(dryRun: false, grace: 0)
        #expect(r.purged.isEmpty)
        #expect(r.kept.first?.allowedFrom == fx.t0.addingTimeInterval(60 * day))
        #expect(r.chunksRemoved == 0)
        #expect(try fx.storage.exists(Vault.pointKey(a.id)))
        let later = try fx.control(at: 61 * day).purge(dryRun: false, grace: 0)
        #expect(later.purged.map(\.point) == [a.id])
        #expect(later.chunksRemoved == fx.chunkIds(a).count)
        #expect(try fx.chunkObjects().isEmpty)
    }

    // MARK: legal hold

    @Test(arguments: ControlStorageKind.allCases)
    func legalHoldBlocksDeleteAndPurgeWhateverRetainUntilAndImmutability(_ kind: ControlStorageKind) throws {
        for imm in ProtectionSettings.Immutability.allCases {
            let fx = try CtlFixture(kind)
            // retain-until already passed: only the hold stands in the way.
            let (p, _) = try fx.point([("p.dump", ctlBytes(40_000, seed: 30))], retainUntil: fx.t0.addingTimeInterval(-day))
            let (q, _) = try fx.point([("q.dump", ctlBytes(40_000, seed: 31))], startedAt: 5, retainUntil: fx.t0.addingTimeInterval(-day))
            let c = fx.control()
            if imm != .disabled { try c.changeSettings(immutability: .unlocked) }
            if imm == .locked { try c.lock(confirm: fx.vault.config.id) }
            #expect(try c.settings().immutability == imm)

            // q is soft-deleted first, then put on hold: purge must keep it.
            _ = try c.delete(q.id, reason: "cleanup")
            _ = try c.setHold(q.id, reason: "case 2026-114")
            _ = try c.setHold(p.id, reason: "case 2026-114")
            #expect(try c.pointViews().filter { $0.state.isHeld }.count == 2)

            let before = try fx.snapshot()
            let e = refusal { _ = try c.delete(p.id, reason: "try") }
            #expect(e?.code == .protected, "\(imm): \(String(describing: e))")
            #expect(e?.exitCode == .locked)
            #expect(e?.message.contains("legal hold") == true && e?.message.contains("case 2026-114") == true, "\(String(describing: e))")
            #expect(e?.message.contains("hold clear") == true)
            #expect(try fx.snapshot() == before, "a refusal writes nothing")

            let r = try fx.control(at: 400 * day).purge(dryRun: false, grace: 0)
            #expect(r.purged.isEmpty, "\(imm)")
            #expect(r.kept.map(\.point) == [q.id])
            #expect(r.kept.first?.reason.contains("legal hold") == true)
            #expect(r.chunksRemoved == 0)
            #expect(try fx.storage.exists(Vault.pointKey(q.id)))

            _ = try c.clearHold(p.id, reason: "case closed")
            #expect(try c.delete(p.id, reason: "now allowed") == .softDeleted(purgeAfter: c.now.addingTimeInterval(14 * day)))
            _ = try c.clearHold(q.id, reason: "case closed")
            let r2 = try fx.control(at: 400 * day).purge(dryRun: false, grace: 0)
            #expect(Set(r2.purged.map(\.point)) == [p.id, q.id], "\(imm)")
            #expect(try fx.vault.points().isEmpty)
            #expect(try fx.chunkObjects().isEmpty)
            let clearing = refusal { _ = try c.clearHold(p.id, reason: "gone") }
            #expect(clearing?.code == .pointNotFound)
        }
    }

    // MARK: immutability

    @Test(arguments: ControlStorageKind.allCases)
    func unlockedImmutabilityRefusesEarlyDeleteUntilAnAdminDisablesIt(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let until = fx.t0.addingTimeInterval(30 * day)
        let (p, pData) = try fx.point([("p.dump", ctlBytes(40_000, seed: 40))], retainUntil: until)
        let c = fx.control()
        try c.changeSettings(immutability: .unlocked)

        let before = try fx.snapshot()
        let e = refusal { _ = try c.delete(p.id, reason: "early") }
        #expect(e?.code == .protected && e?.exitCode == .locked)
        let msg = e?.message ?? ""
        #expect(msg.contains("retained until \(Timestamp.rfc3339(until))"), "\(msg)")
        #expect(msg.contains("immutability is unlocked"))
        #expect(msg.contains("Allowed from \(Timestamp.rfc3339(until))"))
        #expect(msg.contains("vault set --immutability disabled"))
        let shorten = refusal { _ = try c.retain(p.id, until: until.addingTimeInterval(-day)) }
        #expect(shorten?.code == .protected && shorten?.message.contains("can only grow") == true)
        #expect(try fx.snapshot() == before, "refusals write nothing")

        // Extending is allowed and lives in the state, not the manifest.
        let extended = until.addingTimeInterval(30 * day)
        #expect(try c.retain(p.id, until: extended).state.retainUntil == extended)
        #expect(try c.view(p.id).retainUntil == extended)
        #expect(try fx.storage.get(Vault.pointKey(p.id)) == pData)
        // Now the refusal names the extended date.
        #expect(refusal { _ = try c.delete(p.id, reason: "early") }?.message.contains(Timestamp.rfc3339(extended)) == true)

        // An admin disables immutability (audited), then the delete is allowed.
        try fx.control(at: 60).changeSettings(immutability: .disabled)
        let rec = try #require(try AuditLog(storage: fx.storage).entries().last)
        #expect(rec.operation == "settings.change" && rec.details["immutability"] == "unlocked -> disabled" && rec.actor == fx.actor)
        #expect(try fx.control(at: 120).delete(p.id, reason: "allowed now") == .softDeleted(purgeAfter: fx.t0.addingTimeInterval(120 + 14 * day)))
        // And retention may shrink while disabled.
        _ = try fx.control(at: 130).undelete(p.id)
        #expect(try fx.control(at: 130).retain(p.id, until: fx.t0.addingTimeInterval(day)).state.retainUntil == fx.t0.addingTimeInterval(day))
        // After retain-until, even an unlocked vault allows the delete.
        try fx.control(at: 140).changeSettings(immutability: .unlocked)
        #expect(try fx.control(at: 2 * day).delete(p.id, reason: "expired") == .softDeleted(purgeAfter: fx.t0.addingTimeInterval(16 * day)))
    }

    @Test(arguments: ControlStorageKind.allCases)
    func lockedImmutabilityOnlyEverGrows(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let until = fx.t0.addingTimeInterval(30 * day)
        let (p, _) = try fx.point([("p.dump", ctlBytes(40_000, seed: 50))], retainUntil: until)
        let c = fx.control()
        // Locking needs unlocked first, and the vault id as confirmation.
        let fromDisabled = refusal { try c.lock(confirm: fx.vault.config.id) }
        #expect(fromDisabled?.code == .protected && fromDisabled?.message.contains("only an unlocked vault") == true)
        try c.changeSettings(immutability: .unlocked, softDelete: .alwaysOn)
        let noConfirm = refusal { try c.lock(confirm: "") }
        #expect(noConfirm?.code == .invalidArgument && noConfirm?.message.contains(fx.vault.config.id) == true)
        let wrong = refusal { try c.lock(confirm: "vault-0000000000000000") }
        #expect(wrong?.code == .invalidArgument)
        #expect(try c.settings().immutability == .unlocked)

        let lockC = fx.control(at: 10)
        let locked = try lockC.lock(confirm: fx.vault.config.id)
        #expect(locked.immutability == .locked && locked.lockedAt == lockC.now)
        #expect(try AuditLog(storage: fx.storage).entries().last?.operation == "vault.lock")
        #expect(refusal { try lockC.lock(confirm: fx.vault.config.id) }?.message.contains("already locked") == true)

        let before = try fx.snapshot()
        let settingsBefore = try c.settings()
        let disable = refusal { try c.changeSettings(immutability: .disabled) }
        #expect(disable?.code == .protected && disable?.message.contains("locked") == true)
        #expect(disable?.message.contains("never be allowed") == true, "\(String(describing: disable))")
        #expect(refusal { try c.changeSettings(immutability: .unlocked) }?.code == .protected)
        let sd = refusal { try c.changeSettings(softDelete: .disabled) }
        #expect(sd?.code == .protected && sd?.message.contains("always-on") == true)
        #expect(refusal { try c.changeSettings(softDelete: .enabled) }?.code == .protected)
        let shorten = refusal { _ = try c.retain(p.id, until: until.addingTimeInterval(-day)) }
        #expect(shorten?.code == .protected && shorten?.message.contains("can only grow") == true)
        let del = refusal { _ = try c.delete(p.id, reason: "early") }
        #expect(del?.code == .protected && del?.message.contains("Allowed from \(Timestamp.rfc3339(until))") == true)
        #expect(del?.message.contains("immutability is locked") == true)
        #expect(del?.message.contains("--immutability disabled") == false, "a locked vault offers no way around")
        #expect(refusal { try c.changeSettings(softDeleteDays: 13) }?.code == .protected)
        // All or nothing: an allowed change next to a refused one is not applied either.
        let mixed = refusal { try c.changeSettings(softDeleteDays: 60, defaultRetention: RetentionPeriod(count: 7, unit: .days)) }
        #expect(mixed?.code == .protected && mixed?.message.contains("default retention can only grow") == true)
        #expect(try c.settings() == settingsBefore)
        #expect(try fx.snapshot() == before, "refusals write nothing")

        // Growing is allowed.
        #expect(try c.retain(p.id, until: until.addingTimeInterval(day)).state.retainUntil == until.addingTimeInterval(day))
        #expect(try c.changeSettings(softDeleteDays: 30).softDeleteDays == 30)
        #expect(refusal { try c.changeSettings(softDeleteDays: 20) }?.message.contains("can only grow") == true)
        #expect(try c.changeSettings(defaultRetention: RetentionPeriod(count: 60, unit: .days)).defaultRetention.description == "60d")
        #expect(refusal { try c.changeSettings(defaultRetention: RetentionPeriod(count: 30, unit: .days)) }?.code == .protected)
        #expect(try c.changeSettings(defaultRetention: RetentionPeriod(count: 1, unit: .years)).defaultRetention.description == "1y")
        #expect(try c.settings().immutability == .locked)
        #expect(try c.settings().lockedAt == lockC.now)

        // After retain-until, a locked vault lets the point go (soft delete, 30 days now).
        let after = fx.control(at: 32 * day)
        #expect(try after.delete(p.id, reason: "expired") == .softDeleted(purgeAfter: after.now.addingTimeInterval(30 * day)))
        #expect(try fx.control(at: 63 * day).purge(dryRun: false, grace: 0).purged.map(\.point) == [p.id])
    }

    @Test(arguments: ControlStorageKind.allCases)
    func aLockedVaultKeepsASoftDeletedPointUntilItsRetainUntil(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let until = fx.t0.addingTimeInterval(30 * day)
        let (p, _) = try fx.point([("p.dump", ctlBytes(40_000, seed: 55))], retainUntil: until)
        // Deleted while immutability was disabled, then the vault was locked.
        _ = try fx.control().delete(p.id, reason: "before the lock")
        try fx.control().changeSettings(immutability: .unlocked)
        try fx.control().lock(confirm: fx.vault.config.id)
        let r = try fx.control(at: 15 * day).purge(dryRun: false, grace: 0)
        #expect(r.purged.isEmpty)
        #expect(r.kept.first?.point == p.id)
        #expect(r.kept.first?.reason.contains("retained until \(Timestamp.rfc3339(until))") == true, "\(r.kept)")
        #expect(r.kept.first?.allowedFrom == until)
        #expect(r.chunksRemoved == 0)
        #expect(try fx.storage.exists(Vault.pointKey(p.id)))
        // Once retain-until has passed, purge removes it.
        let after = try fx.control(at: 31 * day).purge(dryRun: false, grace: 0)
        #expect(after.purged.map(\.point) == [p.id])
        #expect(try fx.chunkObjects().isEmpty)
    }

    // MARK: audit

    @Test(arguments: ControlStorageKind.allCases)
    func auditChainRecordsEveryChangeAndNamesTheBrokenRecord(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let (a, _) = try fx.point([("a.dump", ctlBytes(30_000, seed: 60))], startedAt: 0)
        let (b, _) = try fx.point([("b.dump", ctlBytes(30_000, seed: 61))], startedAt: 1)
        let c = fx.control(at: 2)
        try c.changeSettings(softDeleteDays: 30)
        _ = try c.retain(a.id, until: fx.t0.addingTimeInterval(90 * day))
        _ = try c.setHold(a.id, reason: "subpoena")
        _ = try c.clearHold(a.id, reason: "released")
        _ = try c.delete(b.id, reason: "mistake")
        _ = try c.undelete(b.id)
        _ = try c.delete(b.id, reason: "really")
        let purge = try fx.control(at: 31 * day).purge(dryRun: false, grace: 0)
        #expect(purge.purged.map(\.point) == [b.id])
        let late = fx.control(at: 32 * day)
        try late.changeSettings(immutability: .unlocked)
        try late.lock(confirm: fx.vault.config.id)

        let log = AuditLog(storage: fx.storage)
        let entries = try log.entries()
        #expect(entries.map(\.operation) == ["vault.init", "point.create", "point.create", "settings.change", "point.retain",
                                             "hold.set", "hold.clear", "point.delete", "point.undelete", "point.delete",
                                             "point.purge", "gc.sweep", "settings.change", "vault.lock"])
        #expect(entries.map(\.seq) == Array(1...14))
        #expect(entries.map(\.target) == ["vault", a.id, b.id, "vault", a.id, a.id, a.id, b.id, b.id, b.id, b.id, "vault", "vault", "vault"])
        #expect(entries[0].actor == Actor.current)
        #expect(entries.dropFirst().allSatisfy { $0.actor == fx.actor })
        #expect(entries[0].prevHash == AuditLog.genesis)
        #expect(Set(entries.map(\.prevHash)).count == 14, "each record chains to a different predecessor")
        #expect(entries[5].details["reason"] == "subpoena")
        #expect(entries[7].details["mode"] == "soft" && entries[7].details["reason"] == "mistake")
        #expect(entries[10].time == fx.t0.addingTimeInterval(31 * day))
        #expect(entries[12].details["immutability"] == "disabled -> unlocked")
        #expect(entries[3].details["softDeleteDays"] == "14 -> 30")
        let ok = try log.verify()
        #expect(ok.ok && ok.entries == 14)

        // 1. Edit one character of record 6's body: it no longer matches its hash.
        let key6 = fx.auditKey(6)
        let original6 = try fx.storage.get(key6)
        let text6 = String(decoding: original6, as: UTF8.self)
        #expect(text6.contains("subpoena"))
        try fx.overwrite(key6, Data(text6.replacingOccurrences(of: "subpoena", with: "subpoenA").utf8))
        let edited = try log.verify()
        #expect(edited.firstBroken?.seq == 6, "\(String(describing: edited.firstBroken))")
        #expect(edited.firstBroken?.reason.contains("does not match its hash") == true)

        // 2. A forger who also recomputes the record's hash breaks the link to record 7.
        let stored = try #require(try JSONSerialization.jsonObject(with: original6) as? [String: String])
        let forgedBody = try #require(stored["body"]).replacingOccurrences(of: "subpoena", with: "routine")
        let forgedHash = Data(forgedBody.utf8).withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        try fx.overwrite(key6, try JSONSerialization.data(withJSONObject: ["body": forgedBody, "hash": forgedHash]))
        #expect(try log.entries()[5].details["reason"] == "routine")
        let forged = try log.verify()
        #expect(forged.firstBroken?.seq == 7, "\(String(describing: forged.firstBroken))")
        #expect(forged.firstBroken?.reason.contains("previous-hash does not match record 6") == true)

        // Restored, the chain verifies again.
        try fx.overwrite(key6, original6)
        #expect(try log.verify().ok)

        // 3. Remove a middle record: the gap is named.
        try fx.storage.delete(fx.auditKey(9))
        let gap = try log.verify()
        #expect(gap.firstBroken?.seq == 9, "\(String(describing: gap.firstBroken))")
        #expect(gap.firstBroken?.reason.contains("record 9 is missing") == true)
    }

    @Test(arguments: ControlStorageKind.allCases)
    func verifyAllNamesAPointDeletedOutsidePgvaultButNotOnePgvaultRemoved(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let (a, _) = try fx.point([("a.dump", ctlBytes(20_000, seed: 66))], startedAt: 0)
        let (b, _) = try fx.point([("b.dump", ctlBytes(20_000, seed: 67))], startedAt: 1)
        let (c, _) = try fx.point([("c.dump", ctlBytes(20_000, seed: 68))], startedAt: 2)
        let verifier = PointVerifier(vault: fx.vault)
        #expect(try verifier.allTargets(includeDeleted: true).map(\.id) == [c.id, b.id, a.id])
        // b removed by pgvault (soft delete off: at once, audited), a's manifest deleted by hand.
        let ctl = fx.control(at: 3)
        try ctl.changeSettings(softDelete: .disabled)
        #expect(try ctl.delete(b.id, reason: "not needed") == .removed)
        try fx.storage.delete(Vault.pointKey(a.id))
        let targets = try verifier.allTargets(includeDeleted: true)
        #expect(targets.map(\.id) == [c.id, a.id], "\(targets.map(\.id))")
        let missing = try #require(targets.last)
        #expect(missing.state == "missing" && missing.manifestDamaged)
        let message = try #require(missing.failures.first?.message)
        #expect(message.contains("records point \(a.id) as written") && message.contains("deleted outside pgvault")
                && message.contains("pgvault copy"), "\(message)")
        let check = verifier.verify(missing)
        #expect(check.status == .damaged && check.failures.first?.object == Vault.pointKey(a.id), "\(check)")
    }

    @Test(arguments: ControlStorageKind.allCases)
    func anAnchorKeptOutsideShowsRecordsRemovedFromTheEndOrARebuiltLog(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let (a, _) = try fx.point([("a.dump", ctlBytes(20_000, seed: 64))], startedAt: 0)
        let c = fx.control(at: 1)
        _ = try c.setHold(a.id, reason: "case 12")
        let log = AuditLog(storage: fx.storage)
        let before = try log.verify()
        let anchor = try #require(before.head)
        #expect(before.ok && anchor.seq == 3 && before.entries == 3)
        #expect(AuditLog.Anchor(anchor.description) == anchor)
        #expect(AuditLog.Anchor("3:" + anchor.sha256.uppercased()) == anchor)
        for bad in ["", "3", "0:" + anchor.sha256, "x:" + anchor.sha256, "3:" + anchor.sha256.dropLast(), "3:" + anchor.sha256 + ":1",
                    "3:" + anchor.sha256.dropLast() + "\u{FF10}"] {
            #expect(AuditLog.Anchor(bad) == nil, "\(bad)")
        }
        _ = try c.clearHold(a.id, reason: "closed")
        let later = try log.verify(anchors: [anchor])
        #expect(later.ok && later.head?.seq == 4, "an anchor holds while records are only added")
        // The incremental check from the anchor (what `serve` runs) sees the same.
        let since = try log.verify(since: anchor)
        #expect(since.ok && since.head == later.head, "\(since)")

        // Records 3 and 4 removed from the end: the chain alone still verifies; the anchor does not.
        let hold = try fx.storage.get(fx.auditKey(3)), clear = try fx.storage.get(fx.auditKey(4))
        try fx.storage.delete(fx.auditKey(4))
        try fx.storage.delete(fx.auditKey(3))
        #expect(try log.verify().ok)
        #expect(try log.verify(since: anchor).firstBroken?.reason.contains("removed from its end") == true)
        let cut = try log.verify(anchors: [anchor])
        #expect(cut.firstBroken?.seq == 3 && cut.head == nil, "\(String(describing: cut.firstBroken))")
        #expect(cut.firstBroken?.reason.contains("log ends at record 2: records were removed from its end") == true)

        // A log rebuilt with a new record 3 (its hash recomputed, chained to record 2 as it
        // should be) verifies alone; the anchor names record 3.
        let stored = try #require(try JSONSerialization.jsonObject(with: hold) as? [String: String])
        let body = try #require(stored["body"]).replacingOccurrences(of: "case 12", with: "routine")
        let hash = Data(body.utf8).withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        try fx.storage.put(fx.auditKey(3), try JSONSerialization.data(withJSONObject: ["body": body, "hash": hash]), mode: .createOnly)
        #expect(try log.verify().ok)
        #expect(try log.verify(since: anchor).firstBroken?.reason.contains("is not the anchored one") == true)
        let rebuilt = try log.verify(anchors: [anchor])
        #expect(rebuilt.firstBroken?.seq == 3, "\(String(describing: rebuilt.firstBroken))")
        #expect(rebuilt.firstBroken?.reason.contains("is not the anchored one") == true)
        #expect(rebuilt.firstBroken?.reason.contains(hash) == true)

        // Put back as it was, every anchor taken holds again.
        try fx.overwrite(fx.auditKey(3), hold)
        try fx.storage.put(fx.auditKey(4), clear, mode: .createOnly)
        #expect(try log.verify(anchors: [anchor, try #require(later.head)]).ok)
        // A record after the anchor edited: named by the incremental check too.
        let text4 = String(decoding: clear, as: UTF8.self)
        try fx.overwrite(fx.auditKey(4), Data(text4.replacingOccurrences(of: "closed", with: "cl0sed").utf8))
        #expect(try log.verify(since: anchor).firstBroken?.seq == 4)
        try fx.overwrite(fx.auditKey(4), clear)
        #expect(try log.verify(since: anchor).ok)
    }

    // MARK: leases

    @Test(arguments: ControlStorageKind.allCases)
    func aLiveBackupLeaseDefersTheSweepAndStaleLeasesAreIgnored(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let (keep, _) = try fx.point([("k.dump", ctlBytes(30_000, seed: 70))], startedAt: 0)
        let (gone, _) = try fx.point([("g.dump", ctlBytes(80_000, seed: 71))], startedAt: 1)
        try fx.control().changeSettings(softDelete: .disabled)
        #expect(try fx.control(at: 5).delete(gone.id, reason: "hard") == .removed)
        #expect(try !fx.storage.exists(Vault.pointKey(gone.id)))
        let orphans = fx.chunkIds(gone)
        for id in orphans { #expect(try fx.storage.exists(ChunkCodec.key(for: id)), "a hard delete leaves chunks to gc") }

        // A backup holds its lease: the sweep is deferred, no chunk removed.
        let lease = try Lease.acquire("backup-20260101T000000Z-ctltest", storage: fx.storage)
        let chunksBefore = try fx.chunkObjects()
        let deferred = try fx.control(at: 10).purge(dryRun: false, grace: 0)
        #expect(deferred.sweepDeferred?.contains("20260101T000000Z-ctltest") == true, "\(String(describing: deferred.sweepDeferred))")
        #expect(deferred.chunksRemoved == 0 && deferred.bytesFreed == 0)
        #expect(try fx.chunkObjects() == chunksBefore)
        #expect(try !fx.storage.exists("locks/gc.json"), "the gc lease is released")
        lease.release()
        #expect(try fx.storage.list(prefix: "locks/").isEmpty)

        // A lease of another host that has not expired counts as live too.
        let host = ProcessInfo.processInfo.hostName
        func writeLease(_ name: String, host: String, pid: Int32, expires: Date) throws {
            let json = """
                {"acquiredAt":"\(Timestamp.rfc3339(expires.addingTimeInterval(-600)))","expiresAt":"\(Timestamp.rfc3339(expires))",\
                "holder":"bob@elsewhere","host":"\(host)","name":"\(name)","pid":\(pid)}
                """
            try fx.storage.put("locks/\(name).json", Data(json.utf8), mode: .createOnly)
        }
        try writeLease("backup-remote", host: "some-other-host.invalid", pid: 1, expires: Date().addingTimeInterval(300))
        let remote = try fx.control(at: 10).purge(dryRun: false, grace: 0)
        #expect(remote.sweepDeferred?.contains("bob@elsewhere") == true)
        #expect(try fx.chunkObjects() == chunksBefore)
        try fx.storage.delete("locks/backup-remote.json")

        // Expired (written by hand with expiresAt in the past) and dead-pid leases are ignored.
        try writeLease("backup-expired", host: host, pid: getpid(), expires: Date().addingTimeInterval(-60))
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        try writeLease("backup-deadpid", host: host, pid: dead.processIdentifier, expires: Date().addingTimeInterval(300))
        let swept = try fx.control(at: 10).purge(dryRun: false, grace: 0)
        #expect(swept.sweepDeferred == nil, "\(String(describing: swept.sweepDeferred))")
        #expect(swept.chunksRemoved == orphans.subtracting(fx.chunkIds(keep)).count)
        #expect(try Set(fx.chunkObjects().keys) == Set(fx.chunkIds(keep).map { ChunkCodec.key(for: $0) }))
        #expect(try fx.read(keep.files[0]) == ctlBytes(30_000, seed: 70))
        try fx.assertConsistent()
    }

    // MARK: interrupted purge

    @Test(arguments: ControlStorageKind.allCases)
    func aPurgeKilledAfterRemovingTheManifestIsFinishedByTheNextOne(_ kind: ControlStorageKind) throws {
        let fx = try CtlFixture(kind)
        let shared = ctlBytes(60_000, seed: 80)
        let (a, _) = try fx.point([("a.dump", ctlBytes(120_000, seed: 81)), ("s.dump", shared)], startedAt: 0)
        let (b, _) = try fx.point([("s.dump", shared)], startedAt: 1)
        _ = try fx.control(at: 0).delete(a.id, reason: "r")
        _ = try fx.control(at: 1).retain(a.id, until: fx.t0.addingTimeInterval(2 * day))   // a second state record
        let stateRecords = try fx.storage.list(prefix: "state/\(a.id)/").count
        #expect(stateRecords == 2)
        let uniqueA = fx.chunkIds(a).subtracting(fx.chunkIds(b))

        // What a purge killed inside removePoint leaves: audit record written, manifest gone,
        // state records still there, and (killed mid-sweep) some chunks removed.
        try AuditLog(storage: fx.storage).append(operation: "point.purge", target: a.id, actor: fx.actor, now: fx.t0.addingTimeInterval(15 * day))
        try fx.storage.delete(Vault.pointKey(a.id))
        for id in uniqueA.sorted().prefix(uniqueA.count / 2) { try fx.storage.delete(ChunkCodec.key(for: id)) }
        try fx.assertConsistent()

        let r = try fx.control(at: 15 * day).purge(dryRun: false, grace: 0)
        #expect(r.purged.isEmpty)
        #expect(r.orphanStateRecordsRemoved == stateRecords)
        #expect(r.chunksRemoved == uniqueA.count - uniqueA.count / 2)
        #expect(try fx.storage.list(prefix: "state/").isEmpty)
        #expect(try Set(fx.chunkObjects().keys) == Set(fx.chunkIds(b).map { ChunkCodec.key(for: $0) }))
        #expect(try fx.control(at: 15 * day).pointViews().map(\.id) == [b.id])
        try fx.assertConsistent()
        #expect(try fx.read(b.files[0]) == shared)
        #expect(try AuditLog(storage: fx.storage).verify().ok)
        let again = try fx.control(at: 16 * day).purge(dryRun: false, grace: 0)
        #expect(again.chunksRemoved == 0 && again.orphanStateRecordsRemoved == 0)
    }
}
