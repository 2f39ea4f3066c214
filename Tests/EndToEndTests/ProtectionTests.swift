import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultTestSupport

// End-to-end tests of issue 4 (protection) with the real `pgvault` binary against the real
// PostgreSQL: a locked vault refuses and stays byte-for-byte unchanged, soft delete and
// undelete, a hand-edited audit record, a backup and a purge at once, SIGKILL during purge.

/// Every file and directory under `root`: relative path -> mode and (files) SHA-256.
private func vaultTree(_ root: String) throws -> [String: String] {
    var out: [String: String] = [:]
    let fm = FileManager.default
    guard let e = fm.enumerator(atPath: root) else { throw ShellError(description: "cannot list \(root)") }
    for case let rel as String in e {
        let path = root + "/" + rel
        var st = stat()
        guard lstat(path, &st) == 0 else { throw ShellError(description: "lstat \(path) failed") }
        let mode = String(st.st_mode & 0o7777, radix: 8)
        if (st.st_mode & S_IFMT) == S_IFDIR {
            out[rel] = "dir \(mode)"
        } else {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            out[rel] = "file \(mode) \(data.count) " + data.withUnsafeBytes { ChunkCodec.sha256Hex($0) }
        }
    }
    return out
}

private func describeDiff(_ a: [String: String], _ b: [String: String]) -> String {
    let keys = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    return keys.prefix(10).map { "\($0): \(a[$0] ?? "absent") -> \(b[$0] ?? "absent")" }.joined(separator: "\n")
}

/// Chunk object keys (`chunks/ab/abcd...`) present in the vault.
private func chunkKeys(_ vault: String) -> Set<String> {
    let base = vault + "/chunks"
    var out = Set<String>()
    for sub in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where !sub.hasPrefix(".") {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base + "/" + sub)) ?? [] where !name.hasPrefix(".tmp-") {
            out.insert("chunks/\(sub)/\(name)")
        }
    }
    return out
}

/// Chunk keys every remaining manifest in points/ references.
private func referencedChunkKeys(_ vault: String) throws -> Set<String> {
    var out = Set<String>()
    for name in (try? FileManager.default.contentsOfDirectory(atPath: vault + "/points")) ?? [] where name.hasSuffix(".json") {
        let data = try ManifestCodec.json(Data(contentsOf: URL(fileURLWithPath: vault + "/points/" + name)), what: name)
        let m = try VaultJSON.decode(Manifest.self, from: data, what: name)
        for f in m.files { for c in f.chunks { for id in c.objectIds { out.insert(ChunkCodec.key(for: id)) } } }  // bases too
    }
    return out
}

private func manifest(_ vault: String, _ id: String) throws -> Manifest {
    try VaultJSON.decode(Manifest.self, from: storedManifestJSON(vault, id), what: id)
}

/// Bulk rows whose content depends on `offset`, so two databases share no chunk.
private func loadDistinctBulk(_ cli: CLI, _ db: String, mb: Int, offset: Int) throws {
    _ = try cli.psql(db, """
        CREATE TABLE bulk(id int, payload text);
        INSERT INTO bulk SELECT g, md5((g + \(offset))::text) || md5(((g + \(offset)) * 7)::text) || md5(((g + \(offset)) * 13)::text) || md5(((g + \(offset)) * 17)::text)
        FROM generate_series(1, \(mb * 7000)) g;
        """)
}

extension CLI {
    /// Runs a backup of `db` and returns the new point's id.
    func backupPoint(_ db: String, _ extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try expect(0, ["backup", "--vault", vault, "--conninfo", base, "--database", db, "--json"] + extra,
                           sourceLocation: sourceLocation)
        let summary = try #require(try json(r) as? [String: Any], sourceLocation: sourceLocation)
        return try #require(summary["point"] as? String, sourceLocation: sourceLocation)
    }

    /// Restores `point` into a new directory, checks `sha256sum -c SHA256SUMS` there, returns the directory.
    @discardableResult
    func restoreAndVerify(_ point: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let out = dir.appendingPathComponent("restore-\(UUID().uuidString.prefix(6))").path
        try expect(0, ["restore", "--vault", vault, point, "--to", out, "--quiet"], sourceLocation: sourceLocation)
        let check = try Shell.run("/usr/bin/sha256sum", ["-c", "--strict", "SHA256SUMS"], cwd: URL(fileURLWithPath: out))
        #expect(check.status == 0, "sha256sum -c: \(check.stdout) \(check.stderr)", sourceLocation: sourceLocation)
        #expect(check.stdout.contains(": OK"), sourceLocation: sourceLocation)
        return out
    }

    func vaultId() throws -> String {
        let r = try expect(0, ["vault", "show", "--vault", vault, "--json"])
        return try #require((try json(r) as? [String: Any])?["id"] as? String)
    }
}

private func sha256File(_ path: String) throws -> String {
    try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { ChunkCodec.sha256Hex($0) }
}

@Suite("Protection end to end (ProtectionTests)")
struct ProtectionTests {

    @Test func lockedVaultRefusesEveryShortcutAndItsTreeStaysByteForByte() throws {
        let cli = try CLI("prot-lock")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("pl"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db, rows: 500)
        try cli.initVault()
        let point = try cli.backupPoint(db, ["--retain", "30d"])
        let m = try manifest(cli.vault, point)
        #expect(m.retention == "30d")
        let retainUntil = try #require(m.retainUntil)
        #expect(abs(retainUntil.timeIntervalSince(m.startedAt) - 30 * 86400) < 1)

        try cli.expect(0, ["vault", "set", "--vault", cli.vault, "--immutability", "unlocked", "--soft-delete", "always-on"])
        let id = try cli.vaultId()
        let noConfirm = try cli.expect(2, ["vault", "lock", "--vault", cli.vault])
        #expect(noConfirm.stderr.contains("--confirm \(id)"), "\(noConfirm.stderr)")
        #expect(noConfirm.stderr.contains("irreversible"))
        let wrong = try cli.expect(2, ["vault", "lock", "--vault", cli.vault, "--confirm", "vault-0123456789abcdef"])
        #expect(wrong.stderr.contains(id))
        let show0 = try #require(try cli.json(try cli.expect(0, ["vault", "show", "--vault", cli.vault, "--json"])) as? [String: Any])
        #expect((show0["settings"] as? [String: Any])?["immutability"] as? String == "unlocked", "refused lock changed nothing")

        let locked = try cli.expect(0, ["vault", "lock", "--vault", cli.vault, "--confirm", id])
        #expect(locked.stdout.contains("LOCKED"))
        let show = try cli.expect(0, ["vault", "show", "--vault", cli.vault])
        #expect(show.stdout.contains("immutability:      locked (locked at"), "\(show.stdout)")

        let before = try vaultTree(cli.vault)
        #expect(before.keys.contains("points/\(point).json"))
        #expect(before["points/\(point).json"]?.hasPrefix("file 400 ") == true, "manifests are read-only: \(before["points/\(point).json"] ?? "")")
        #expect(before.filter { $0.value.hasPrefix("dir ") }.allSatisfy { $0.value == "dir 700" }, "directories are 0700")

        func refused(_ args: [String], _ phrases: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
            let r = try cli.expect(11, args + ["--vault", cli.vault], sourceLocation: sourceLocation)
            #expect(r.stderr.contains("Refused:"), "\(r.stderr)", sourceLocation: sourceLocation)
            for p in phrases { #expect(r.stderr.contains(p), "pgvault \(args.joined(separator: " ")): no \"\(p)\" in \(r.stderr)", sourceLocation: sourceLocation) }
            let after = try vaultTree(cli.vault)
            #expect(after == before, "pgvault \(args.joined(separator: " ")) changed the vault:\n\(describeDiff(before, after))",
                    sourceLocation: sourceLocation)
        }
        try refused(["delete", point, "--reason", "make room"],
                    ["retained until \(Timestamp.rfc3339(retainUntil))", "immutability is locked", "Allowed from \(Timestamp.rfc3339(retainUntil))"])
        let earlier = String(Timestamp.rfc3339(Date().addingTimeInterval(2 * 86400)).prefix(10))
        try refused(["retain", point, "--until", earlier], ["retention can only grow while immutability is locked", "never be allowed"])
        try refused(["vault", "set", "--immutability", "disabled"], ["immutability is locked", "never be unlocked or disabled"])
        try refused(["vault", "set", "--immutability", "unlocked"], ["immutability is locked"])
        try refused(["vault", "set", "--soft-delete", "disabled"], ["soft delete is always-on and can never be turned off"])
        try refused(["vault", "set", "--soft-delete-days", "20", "--default-retention", "7d"], ["default retention can only grow"])
        try refused(["vault", "lock", "--confirm", id], ["already locked"])

        // Purge with nothing due: exit 0, and it leaves no trace.
        let purge = try cli.expect(0, ["purge", "--vault", cli.vault, "--gc-grace", "0s"])
        #expect(purge.stdout.contains("removed 0 unreferenced chunks"), "\(purge.stdout)")
        let afterPurge = try vaultTree(cli.vault)
        #expect(afterPurge == before, "purge changed the vault:\n\(describeDiff(before, afterPurge))")

        // Extending is still allowed, and audited; the chain verifies.
        let later = String(Timestamp.rfc3339(retainUntil.addingTimeInterval(400 * 86400)).prefix(10))
        try cli.expect(0, ["retain", point, "--until", later, "--vault", cli.vault])
        let audit = try #require(try cli.json(try cli.expect(0, ["audit", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(audit.compactMap { $0["operation"] as? String } == ["vault.init", "point.create", "settings.change", "vault.lock", "point.retain"])
        let verify = try cli.expect(0, ["audit", "--verify", "--vault", cli.vault])
        #expect(verify.stdout.contains("verifies: 5 records"), "\(verify.stdout)")
        try cli.restoreAndVerify(point)
    }

    @Test func softDeletedPointIsHiddenThenUndeletedAndRestoresByteIdentical() throws {
        let cli = try CLI("prot-undel")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("pu"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db, rows: 1000)
        try cli.initVault()
        let point = try cli.backupPoint(db)

        let del = try cli.expect(0, ["delete", point, "--reason", "looks unneeded", "--vault", cli.vault])
        #expect(del.stdout.contains("soft-deleted") && del.stdout.contains("pgvault undelete \(point)"), "\(del.stdout)")

        let active = try #require(try cli.json(try cli.expect(0, ["points", "--vault", cli.vault, "--json"])) as? [Any])
        #expect(active.isEmpty, "points hides a soft-deleted point")
        #expect(try cli.expect(0, ["points", "--vault", cli.vault]).stdout.contains("No recovery points"))
        let deleted = try #require(try cli.json(try cli.expect(0, ["points", "--state", "soft-deleted", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(deleted.count == 1)
        let d = try #require(deleted.first)
        #expect(d["id"] as? String == point && d["state"] as? String == "soft-deleted")
        #expect(d["deleteReason"] as? String == "looks unneeded")
        let deletedAt = try #require((d["softDeletedAt"] as? String).flatMap(Timestamp.parse))
        let purgeAfter = try #require((d["purgeAfter"] as? String).flatMap(Timestamp.parse))
        #expect(abs(purgeAfter.timeIntervalSince(deletedAt) - 14 * 86400) < 0.01)
        let text = try cli.expect(0, ["points", "--state", "soft-deleted", "--vault", cli.vault])
        let shortPurge = Timestamp.rfc3339(purgeAfter).prefix(19).replacingOccurrences(of: "T", with: " ")
        #expect(text.stdout.contains(point) && text.stdout.contains("purge from \(shortPurge)"), "\(text.stdout)")
        // `latest` skips it; a purge now keeps it and says until when.
        #expect(try cli.run(["restore", "--vault", cli.vault, "latest", "--to", cli.dir.appendingPathComponent("none").path]).status != 0)
        let purge = try cli.expect(0, ["purge", "--vault", cli.vault, "--gc-grace", "0s"])
        #expect(purge.stdout.contains("kept point \(point)") && purge.stdout.contains(Timestamp.rfc3339(purgeAfter)), "\(purge.stdout)")
        #expect(purge.stdout.contains("removed 0 unreferenced chunks"))

        let und = try cli.expect(0, ["undelete", point, "--vault", cli.vault])
        #expect(und.stdout.contains("active again"))
        let back = try #require(try cli.json(try cli.expect(0, ["points", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(back.count == 1 && back.first?["id"] as? String == point && back.first?["state"] as? String == "active")

        let out = try cli.restoreAndVerify("latest")
        let m = try manifest(cli.vault, point)
        let dump = try #require(m.files.first { $0.kind == .dump })
        #expect(try sha256File(out + "/" + dump.path) == dump.sha256, "the dump is byte-identical to the one backed up")
        let restoredManifest = try Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))
        #expect(restoredManifest == (try storedManifestJSON(cli.vault, point)), "manifest.json is the manifest the backup wrote")
        let audit = try #require(try cli.json(try cli.expect(0, ["audit", "--point", point, "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(audit.compactMap { $0["operation"] as? String } == ["point.create", "point.delete", "point.undelete"])
    }

    @Test func aHandEditedAuditRecordIsDetected() throws {
        let cli = try CLI("prot-audit")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("pa"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db, rows: 100)
        try cli.initVault()
        let point = try cli.backupPoint(db)
        try cli.expect(0, ["hold", "set", point, "--reason", "case 7", "--vault", cli.vault])
        let good = try cli.expect(0, ["audit", "--verify", "--vault", cli.vault])
        #expect(good.stdout.contains("audit chain verifies: 3 records"), "\(good.stdout)")
        let ev = try cli.expect(0, ["show", point, "--evidence", "--vault", cli.vault])
        #expect(ev.stdout.contains("verifies (3 records)") && ev.stdout.contains("case 7"), "\(ev.stdout)")
        // The head, kept outside the vault, checks later that nothing was cut from the end.
        let goodJSON = try #require(try cli.json(try cli.expect(0, ["audit", "--verify", "--json", "--vault", cli.vault])) as? [String: Any])
        let head = try #require(goodJSON["head"] as? String)
        #expect(head.hasPrefix("3:") && head.count == 66 && good.stdout.contains("head: " + head), "\(head)")
        #expect(ev.stdout.contains("audit head:       " + head), "\(ev.stdout)")
        let held = try cli.expect(0, ["audit", "--anchor", head, "--vault", cli.vault])
        #expect(held.stdout.contains("anchors hold: 3"), "\(held.stdout)")
        let typo = try cli.expect(2, ["audit", "--anchor", "3:" + head.dropFirst(3), "--vault", cli.vault])
        #expect(typo.stderr.contains("is not SEQ:SHA256"), "\(typo.stderr)")
        try cli.expect(0, ["hold", "clear", point, "--reason", "closed", "--vault", cli.vault])
        let latest = try #require(try cli.json(try cli.expect(0, ["audit", "--anchor", head, "--json", "--vault", cli.vault])) as? [String: Any])
        let head4 = try #require(latest["head"] as? String)
        #expect(head4.hasPrefix("4:") && latest["anchors"] as? [String] == [head], "\(latest)")
        let cutPath = cli.vault + "/audit/000000000004.json"
        let cutRecord = try Data(contentsOf: URL(fileURLWithPath: cutPath))
        try FileManager.default.removeItem(atPath: cutPath)
        try cli.expect(0, ["audit", "--verify", "--vault", cli.vault])   // the chain alone cannot tell
        let cut = try cli.expect(1, ["audit", "--anchor", head, "--anchor", head4, "--vault", cli.vault])
        #expect(cut.stdout.contains("BROKEN at record 4") && cut.stdout.contains("removed from its end"), "\(cut.stdout)")
        #expect(FileManager.default.createFile(atPath: cutPath, contents: cutRecord, attributes: [.posixPermissions: 0o400]))
        try cli.expect(0, ["audit", "--anchor", head4, "--vault", cli.vault])

        // Change one character in the body of record 2 (point.create).
        let path = cli.vault + "/audit/000000000002.json"
        #expect(chmod(path, 0o600) == 0)
        let original = try String(contentsOfFile: path, encoding: .utf8)
        #expect(original.contains("point.create"))
        try original.replacingOccurrences(of: "point.create", with: "point.creatE").write(toFile: path, atomically: false, encoding: .utf8)

        let bad = try cli.expect(1, ["audit", "--verify", "--vault", cli.vault])
        #expect(bad.stdout.contains("BROKEN at record 2"), "\(bad.stdout)")
        #expect(bad.stdout.contains("does not match its hash"))
        let badJSON = try #require(try cli.json(try cli.expect(1, ["audit", "--verify", "--json", "--vault", cli.vault])) as? [String: Any])
        #expect(badJSON["ok"] as? Bool == false && badJSON["firstBroken"] as? Int == 2)
        let evidence = try cli.expect(1, ["show", point, "--evidence", "--vault", cli.vault])
        #expect(evidence.stdout.contains("BROKEN at record 2"), "\(evidence.stdout)")

        // Putting the byte back makes it verify again (the check is the content, not the mtime).
        try original.write(toFile: path, atomically: false, encoding: .utf8)
        try cli.expect(0, ["audit", "--verify", "--vault", cli.vault])
        // Removing a middle record is named as a gap.
        try FileManager.default.removeItem(atPath: path)
        let gap = try cli.expect(1, ["audit", "--verify", "--vault", cli.vault])
        #expect(gap.stdout.contains("BROKEN at record 2") && gap.stdout.contains("missing"), "\(gap.stdout)")
    }

    @Test func aBackupAndAPurgeAtTheSameTimeLeaveTheNewPointRestorable() throws {
        let cli = try CLI("prot-race")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("pr"))
        defer { cli.drop(db) }
        try loadBulkData(cli, db, mb: 60)
        try cli.initVault()
        try cli.expect(0, ["vault", "set", "--soft-delete", "disabled", "--vault", cli.vault])
        let p1 = try cli.backupPoint(db)
        let del = try cli.expect(0, ["delete", p1, "--reason", "superseded", "--vault", cli.vault])
        #expect(del.stdout.contains("removed"), "\(del.stdout)")
        let orphans = chunkKeys(cli.vault)
        #expect(orphans.count >= 20, "P1's chunks are unreferenced now (\(orphans.count))")
        #expect(try referencedChunkKeys(cli.vault).isEmpty)

        // The same, unchanged database again: the new backup reuses P1's unreferenced chunks.
        let outPipe = Pipe()
        let p = try cli.spawn(["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--quiet", "--json"], stdout: outPipe)
        let deadline = Date().addingTimeInterval(60)
        var sawLease = false
        while Date() < deadline && p.isRunning {
            let locks = (try? FileManager.default.contentsOfDirectory(atPath: cli.vault + "/locks")) ?? []
            if locks.contains(where: { $0.hasPrefix("backup-") && $0.hasSuffix(".json") }) { sawLease = true; break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        #expect(sawLease, "the backup takes a locks/backup-*.json lease")
        let purge = try cli.expect(0, ["purge", "--vault", cli.vault, "--gc-grace", "0s"])
        let backupStillRunning = p.isRunning
        let backupOut = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        if backupStillRunning {
            // The backup held its lease for the whole purge: the sweep must have been skipped.
            #expect(purge.stdout.contains("chunk sweep skipped") && purge.stdout.contains("is running"), "\(purge.stdout)")
        }
        let summary = try #require(try JSONSerialization.jsonObject(with: backupOut) as? [String: Any])
        let p2 = try #require(summary["point"] as? String)

        let referenced = try referencedChunkKeys(cli.vault)
        #expect(referenced.isSubset(of: chunkKeys(cli.vault)), "every chunk of the new point exists")
        #expect(!referenced.intersection(orphans).isEmpty, "the new point reused chunks of the deleted one")
        try cli.restoreAndVerify("latest")

        // Then a purge with nothing running removes only what no point needs.
        let second = try cli.expect(0, ["purge", "--vault", cli.vault, "--gc-grace", "0s"])
        #expect(second.stdout.contains("unreferenced chunks"), "\(second.stdout)")
        #expect(chunkKeys(cli.vault) == referenced, "only P2's chunks remain")
        let out = try cli.restoreAndVerify(p2)
        let dump = try #require(try manifest(cli.vault, p2).files.first { $0.kind == .dump })
        #expect(try sha256File(out + "/" + dump.path) == dump.sha256)
        try cli.expect(0, ["audit", "--verify", "--vault", cli.vault])
    }

    @Test func sigkillDuringPurgeLeavesAConsistentVaultThatTheNextPurgeFinishes() throws {
        let cli = try CLI("prot-kill")
        defer { cli.cleanup() }
        let d1 = try cli.createDatabase(TestEnvironment.uniqueName("pk1"))
        let d2 = try cli.createDatabase(TestEnvironment.uniqueName("pk2"))
        defer { cli.drop(d1, d2) }
        try loadDistinctBulk(cli, d1, mb: 12, offset: 0)
        try loadDistinctBulk(cli, d2, mb: 24, offset: 50_000_000)
        try cli.initVault()
        // Small chunks (16 KiB average instead of 1 MiB) so the sweep has thousands of chunks to
        // remove and the kill lands in the middle of it. The chunker is a vault parameter.
        let configPath = cli.vault + "/vault.json"
        #expect(chmod(configPath, 0o600) == 0)
        var config = try VaultJSON.decode(VaultConfig.self, from: Data(contentsOf: URL(fileURLWithPath: configPath)), what: configPath)
        config.chunker = ChunkerParams(algorithm: config.chunker.algorithm, minSize: 4096, avgSize: 16384, maxSize: 65536,
                                       seed: config.chunker.seed)
        try VaultJSON.encode(config).write(to: URL(fileURLWithPath: configPath))
        #expect(chmod(configPath, 0o400) == 0)

        try cli.expect(0, ["vault", "set", "--soft-delete", "disabled", "--vault", cli.vault])
        let p1 = try cli.backupPoint(d1)
        let p2 = try cli.backupPoint(d2)
        _ = try cli.psql(d1, "INSERT INTO bulk SELECT g, 'changed' FROM generate_series(1, 500) g")
        let p3 = try cli.backupPoint(d1)
        try cli.expect(0, ["delete", p1, "--reason", "old", "--vault", cli.vault])
        try cli.expect(0, ["delete", p2, "--reason", "old", "--vault", cli.vault])

        let all = chunkKeys(cli.vault)
        let needed = try referencedChunkKeys(cli.vault)
        let unreferenced = all.subtracting(needed)
        #expect(unreferenced.count > 500, "\(unreferenced.count) unreferenced chunks")
        try #require(unreferenced.count > 100)
        // The sweep removes in key order: the first unreferenced key goes first.
        let first = try #require(unreferenced.min())

        let p = try cli.spawn(["purge", "--vault", cli.vault, "--gc-grace", "0s"])
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && p.isRunning && access(cli.vault + "/" + first, F_OK) == 0 { usleep(200) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal, "purge finished before it could be killed")

        let afterKill = chunkKeys(cli.vault)
        #expect(afterKill.count < all.count, "some chunks were removed before the kill")
        #expect(afterKill.count > needed.count, "the kill landed in the middle of the sweep (\(afterKill.count) left, \(needed.count) needed)")
        #expect(needed.isSubset(of: afterKill), "the killed purge removed no chunk a point needs")
        let points = try #require(try cli.json(try cli.expect(0, ["points", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(points.compactMap { $0["id"] as? String } == [p3])

        // A backup is not blocked by the killed purge's gc lease (its holder is dead).
        let d3 = try cli.createDatabase(TestEnvironment.uniqueName("pk3"))
        defer { cli.drop(d3) }
        try loadSampleData(cli, d3, rows: 100)
        let started = Date()
        let p4 = try cli.backupPoint(d3)
        #expect(Date().timeIntervalSince(started) < 30)
        let neededNow = try referencedChunkKeys(cli.vault)

        let again = try cli.expect(0, ["purge", "--vault", cli.vault, "--gc-grace", "0s"])
        let leftover = afterKill.subtracting(neededNow).count
        #expect(again.stdout.contains("removed \(leftover) unreferenced chunks"), "expected \(leftover): \(again.stdout)")
        #expect(chunkKeys(cli.vault) == neededNow)
        #expect(!FileManager.default.fileExists(atPath: cli.vault + "/locks/gc.json"))
        let out = try cli.restoreAndVerify(p3)
        let dump = try #require(try manifest(cli.vault, p3).files.first { $0.kind == .dump })
        #expect(try sha256File(out + "/" + dump.path) == dump.sha256)
        try cli.restoreAndVerify(p4)
        try cli.expect(0, ["audit", "--verify", "--vault", cli.vault])
        let third = try cli.expect(0, ["purge", "--vault", cli.vault, "--gc-grace", "0s"])
        #expect(third.stdout.contains("removed 0 unreferenced chunks"))
    }
}
