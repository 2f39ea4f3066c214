import Foundation
import Testing
import VaultCore
import VaultTestSupport

@Suite("Backup and restore against PostgreSQL")
struct BackupRestoreTests {
    @Test func backupRestorePgRestoreGivesIdenticalTables() throws {
        let cli = try CLI("roundtrip")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("rt"))
        let target = db + "_restored"
        defer { cli.drop(db, target) }
        try loadSampleData(cli, db)
        try cli.initVault()

        let backup = try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db,
                                        "--server-name", "test", "--json"])
        let summary = try #require(try cli.json(backup) as? [String: Any])
        #expect(summary["status"] as? String == "ok")
        let pointId = try #require(summary["point"] as? String)

        // points --json: the documented shape.
        let points = try #require(try cli.json(try cli.expect(0, ["points", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(points.count == 1)
        let p = points[0]
        #expect(p["id"] as? String == pointId)
        #expect(p["server"] as? String == "test")
        #expect(p["databases"] as? [String] == [db])
        for key in ["startedAt", "finishedAt", "status", "files"] { #expect(p[key] != nil, "points --json lacks \(key)") }
        let files = try #require(p["files"] as? [[String: Any]])
        #expect(Set(files.compactMap { $0["path"] as? String }) == ["roles.sql", "tablespaces.sql", "\(db).dump", "\(db).database.sql"])

        let out = cli.dir.appendingPathComponent("restore").path
        try cli.expect(0, ["restore", "--vault", cli.vault, String(pointId.prefix(22)), "--to", out])
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: out))
        #expect(names == ["roles.sql", "tablespaces.sql", "\(db).dump", "\(db).database.sql", "manifest.json", "SHA256SUMS", "RESTORE.md"])
        let check = try Shell.run("/usr/bin/sha256sum", ["-c", "SHA256SUMS"], cwd: URL(fileURLWithPath: out))
        #expect(check.status == 0, "sha256sum -c: \(check.stdout) \(check.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: out + "/\(db).dump")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        // The dump is byte-identical to what pg_dump produced: its SHA-256 is the manifest's
        // (checked above) and pg_restore loads it into a new database with equal contents.
        _ = try Shell.psql(cli.base, "CREATE DATABASE \(ident(target)) TEMPLATE template0")
        let restore = try Shell.run("/usr/bin/pg_restore", ["--exit-on-error", "--no-owner", "-d", cli.conninfo(target), out + "/\(db).dump"])
        #expect(restore.status == 0, "pg_restore: \(restore.stderr)")
        let a = try fingerprint(cli, db), b = try fingerprint(cli, target)
        #expect(a.count == 3)
        #expect(a == b)

        // RESTORE.md names the commands; the database SQL recreates the database.
        let guide = try String(contentsOfFile: out + "/RESTORE.md", encoding: .utf8)
        #expect(guide.contains("pg_restore") && guide.contains(pointId))
        let sql = try String(contentsOfFile: out + "/\(db).database.sql", encoding: .utf8)
        #expect(sql.contains("CREATE DATABASE"))
    }

    @Test func secondBackupOfUnchangedDatabaseStoresUnderFivePercentNew() throws {
        let cli = try CLI("dedup")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("dd"))
        defer { cli.drop(db) }
        // pg_dump's header and table of contents change on every run (timestamps), and the
        // chunk holding them is at least 512 KiB: the database must be big enough that one
        // changed chunk is under 5 % of it.
        try loadSampleData(cli, db, rows: 20000)
        try loadBulkData(cli, db, mb: 40)
        try cli.initVault()
        let first = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let second = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let s1 = try #require(first["stats"] as? [String: Any]), s2 = try #require(second["stats"] as? [String: Any])
        let stored1 = try #require(s1["storedBytes"] as? Int), stored2 = try #require(s2["storedBytes"] as? Int)
        let logical = try #require(s2["logicalBytes"] as? Int)
        #expect(logical > 8_000_000)
        #expect(stored1 > 0)
        #expect(Double(stored2) < 0.05 * Double(stored1), "second backup stored \(stored2) bytes against \(stored1)")
    }

    @Test func weirdDatabaseNamesRoundTrip() throws {
        let cli = try CLI("names")
        defer { cli.cleanup() }
        let tag = String(UUID().uuidString.prefix(6))
        let names = ["we\"ird 'q' \(tag)", "sp ace/slash \(tag)", "-dash\(tag)", "ünïcødé café \(tag)", "a=b \(tag)"]
        for n in names { _ = try cli.createDatabase(n) }
        defer { for n in names { cli.drop(n) } }
        for n in names { _ = try cli.psql(n, "CREATE TABLE t(v text); INSERT INTO t VALUES ('\(tag)')") }
        try cli.initVault()
        var args = ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--json"]
        for n in names { args.append("--database=\(n)") }  // "=" form: a name may start with "-"
        let summary = try #require(try cli.json(try cli.expect(0, args)) as? [String: Any])
        let dbs = try #require(summary["databases"] as? [[String: Any]])
        #expect(Set(dbs.compactMap { $0["name"] as? String }) == Set(names))

        let out = cli.dir.appendingPathComponent("r").path
        try cli.expect(0, ["restore", "--vault", cli.vault, "latest", "--to", out])
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: out))
        for n in names {
            let escaped = FileNames.escape(n)
            #expect(!escaped.contains("/") && !escaped.hasPrefix("-"))
            #expect(files.contains(escaped + ".dump"), "missing \(escaped).dump in \(files)")
            #expect(FileNames.unescape(escaped) == n)
        }
        // Load one back with stock tools.
        let target = "restored_" + tag.lowercased()
        _ = try Shell.psql(cli.base, "CREATE DATABASE \(target)")
        defer { cli.drop(target) }
        let r = try Shell.run("/usr/bin/pg_restore", ["-d", cli.conninfo(target), out + "/" + FileNames.escape(names[0]) + ".dump"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try cli.psql(target, "SELECT v FROM t") == tag + "\n")

        // Restricting restore to one weird database works by its real name.
        let out2 = cli.dir.appendingPathComponent("r2").path
        try cli.expect(0, ["restore", "--vault", cli.vault, "latest", "--to", out2, "--database=\(names[3])"])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out2)).contains(FileNames.escape(names[3]) + ".dump"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out2).filter { $0.hasSuffix(".dump") }.count == 1)
    }

    @Test func tarAndTarZstRestoresExtractToTheSameFiles() throws {
        let cli = try CLI("tar")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("tar"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        try cli.initVault()
        try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db])
        for ext in ["tar", "tar.zst"] {
            let archive = cli.dir.appendingPathComponent("out.\(ext)").path
            try cli.expect(0, ["restore", "--vault", cli.vault, "latest", "--tar", archive])
            let x = cli.dir.appendingPathComponent("x-\(ext)")
            try FileManager.default.createDirectory(at: x, withIntermediateDirectories: true)
            let un = try Shell.run("/usr/bin/tar", (ext == "tar" ? [] : ["--zstd"]) + ["-xf", archive, "-C", x.path])
            #expect(un.status == 0, "\(un.stderr)")
            let check = try Shell.run("/usr/bin/sha256sum", ["-c", "SHA256SUMS"], cwd: x)
            #expect(check.status == 0, "\(check.stdout + check.stderr)")
            #expect(check.stdout.contains("\(db).dump: OK"))
            // Never overwrites.
            let again = try cli.expect(1, ["restore", "--vault", cli.vault, "latest", "--tar", archive])
            #expect(again.stderr.contains("exists") || again.stderr.contains("overwrite"))
        }
    }

    @Test func jobsRecordBackupsAndRestores() throws {
        let cli = try CLI("jobs")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("jobs"))
        defer { cli.drop(db) }
        try cli.initVault()
        try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db])
        try cli.expect(0, ["restore", "--vault", cli.vault, "latest", "--to", cli.dir.appendingPathComponent("o").path])
        let jobs = try #require(try cli.json(try cli.expect(0, ["jobs", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(jobs.count == 2)
        #expect(Set(jobs.compactMap { $0["kind"] as? String }) == ["backup", "restore"])
        #expect(jobs.allSatisfy { $0["status"] as? String == "ok" && $0["finishedAt"] != nil && $0["bytes"] != nil })
        let text = try cli.expect(0, ["jobs", "--vault", cli.vault])
        #expect(text.stdout.contains("backup") && text.stdout.contains("restore"))
    }
}

@Suite("Delta chunks against the previous point")
struct DeltaTests {
    @Test func churnedDatabaseIsStoredAsDeltasThatSurviveTheBasePointsPurge() throws {
        let cli = try CLI("delta")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("dl"))
        defer { cli.drop(db) }
        try loadAccounts(cli, db, rows: 150000)
        try cli.initVault()
        try cli.expect(0, ["vault", "set", "--vault", cli.vault, "--soft-delete", "disabled"])
        let first = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        // 2 % of the rows change at random: every 1 MiB chunk holds some change, so exact
        // dedup finds almost nothing; deltas against the previous point's chunks do.
        _ = try cli.psql(db, "UPDATE acc SET balance = balance + 1 WHERE id % 50 = 7")
        let second = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let s1 = try #require((first["stats"] as? [String: Any])?["storedBytes"] as? Int)
        let s2 = try #require((second["stats"] as? [String: Any])?["storedBytes"] as? Int)
        // The rows the UPDATE moved to the end of the table are new bytes, and the first chunk holds
        // the table of contents: on 12 MB that bounds the saving near 4x (restic: none).
        #expect(Double(s2) < 0.35 * Double(s1), "second point stored \(s2) bytes against \(s1) for the first")
        let files = try #require(second["files"] as? [[String: Any]])
        let dump = try #require(files.first { $0["path"] as? String == "\(db).dump" })
        let chunks = try #require(dump["chunks"] as? [[String: Any]])
        #expect(chunks.contains { $0["base"] != nil }, "some chunks are deltas")

        // Remove the first point and collect garbage: its chunks that serve as bases stay.
        let firstId = try #require(first["point"] as? String)
        try cli.expect(0, ["delete", "--vault", cli.vault, firstId, "--reason", "test"])
        try cli.expect(0, ["purge", "--vault", cli.vault, "--gc-grace", "0s"])
        let target = db + "_r"
        defer { cli.drop(target) }
        let out = cli.dir.appendingPathComponent("r").path
        try cli.expect(0, ["restore", "--vault", cli.vault, "latest", "--to", out])
        #expect(try Shell.run("/usr/bin/sha256sum", ["-c", "--quiet", "SHA256SUMS"], cwd: URL(fileURLWithPath: out)).status == 0)
        _ = try Shell.psql(cli.base, "CREATE DATABASE \(ident(target)) TEMPLATE template0")
        let r = try Shell.run("/usr/bin/pg_restore", ["--no-owner", "-d", cli.conninfo(target), out + "/\(db).dump"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try fingerprint(cli, db) == fingerprint(cli, target))

        // A damaged base is reported by restore, naming the delta chunk and its base.
        let delta = try #require(chunks.first { $0["base"] != nil })
        let base = try #require(delta["base"] as? String)
        let path = cli.vault + "/chunks/\(base.prefix(2))/\(base)"
        #expect(chmod(path, 0o600) == 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 3] ^= 0x55
        try bytes.write(to: URL(fileURLWithPath: path))
        let bad = try cli.expect(1, ["restore", "--vault", cli.vault, "latest", "--to", cli.dir.appendingPathComponent("bad").path])
        #expect(bad.stderr.contains(base), "\(bad.stderr)")
    }

    @Test func chainsGrowPointByPointUpToTheVaultsDeltaDepth() throws {
        let cli = try CLI("depth")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("dd"))
        defer { cli.drop(db) }
        try loadAccounts(cli, db, rows: 60000)
        let deep = cli.dir.appendingPathComponent("deep").path, flat = cli.dir.appendingPathComponent("flat").path
        try cli.expect(0, ["init", deep])
        try cli.expect(0, ["init", flat, "--delta-depth", "1"])
        let shown = try #require(try cli.json(try cli.expect(0, ["vault", "show", "--vault", flat, "--json"])) as? [String: Any])
        #expect(shown["deltaDepth"] as? Int == 1)
        func dumpChunks(_ point: [String: Any]) throws -> [[String: Any]] {
            let files = try #require(point["files"] as? [[String: Any]])
            return try #require(files.first { $0["path"] as? String == "\(db).dump" }?["chunks"] as? [[String: Any]])
        }
        var last: [String: [String: Any]] = [:]
        for week in 1...3 {
            if week > 1 { _ = try cli.psql(db, "UPDATE acc SET balance = balance + \(week) WHERE id % 40 = \(week)") }
            for vault in [deep, flat] {
                last[vault] = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
            }
        }
        // Third point: with the default depth, chunks two steps deep (base and its base);
        // with depth 1, every delta is against a full chunk.
        let deepChunks = try dumpChunks(try #require(last[deep])), flatChunks = try dumpChunks(try #require(last[flat]))
        #expect(deepChunks.contains { ($0["chain"] as? [String])?.isEmpty == false }, "the default depth chains deltas")
        #expect(flatChunks.contains { $0["base"] != nil }, "depth 1 still stores deltas")
        #expect(!flatChunks.contains { $0["chain"] != nil || $0["levels"] != nil }, "depth 1 never chains")
        for vault in [deep, flat] {
            let out = cli.dir.appendingPathComponent("r-" + (vault as NSString).lastPathComponent).path
            try cli.expect(0, ["restore", "--vault", vault, "latest", "--to", out])
            #expect(try Shell.run("/usr/bin/sha256sum", ["-c", "--quiet", "SHA256SUMS"], cwd: URL(fileURLWithPath: out)).status == 0)
            try cli.expect(0, ["verify", "--vault", vault, "--all"])
        }
    }
}
