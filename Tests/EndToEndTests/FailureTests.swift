import Foundation
import Testing
import VaultCore
import VaultTestSupport

@Suite("Bad input and failures")
struct FailureTests {
    @Test func byteaLimitRefusesOnlyThatDatabaseAndNamesTheColumn() throws {
        let cli = try CLI("bytea")
        defer { cli.cleanup() }
        let big = try cli.createDatabase(TestEnvironment.uniqueName("big"))
        let fine = try cli.createDatabase(TestEnvironment.uniqueName("fine"))
        defer { cli.drop(big, fine) }
        try loadSampleData(cli, big)    // images.data values are 2048 bytes
        _ = try cli.psql(fine, "CREATE TABLE s(b bytea); INSERT INTO s VALUES ('\\x0102')")
        try cli.initVault()

        let check = try cli.expect(3, ["check", "--vault", cli.vault, "--conninfo", cli.base, "--database", big, "--database", fine,
                                       "--max-bytea-value", "1KiB"])
        #expect(check.stdout.contains("public.images.data"))
        #expect(check.stdout.contains("REFUSED"))

        let r = try cli.expect(3, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", big, "--database", fine,
                                   "--max-bytea-value", "1KiB", "--json"])
        let s = try #require(try cli.json(r) as? [String: Any])
        #expect(s["status"] as? String == "partial")
        let dbs = try #require(s["databases"] as? [[String: Any]])
        let bigRec = try #require(dbs.first { $0["name"] as? String == big })
        #expect(bigRec["outcome"] as? String == "refused")
        let err = try #require(bigRec["error"] as? [String: Any])
        let message = try #require(err["message"] as? String)
        #expect(message.contains(big) && message.contains("public.images.data") && message.contains("2048") && message.contains("1 KiB"),
                "message: \(message)")
        #expect(dbs.first { $0["name"] as? String == fine }?["outcome"] as? String == "ok")
        let files = try #require(s["files"] as? [[String: Any]])
        #expect(!files.contains { ($0["path"] as? String) == "\(big).dump" }, "a refused database is not dumped")
        #expect(files.contains { ($0["path"] as? String) == "\(fine).dump" })

        // The domain-over-bytea column is checked too: 16-byte thumbs over a 10-byte limit.
        _ = try cli.psql(big, "UPDATE images SET data = NULL")
        let dom2 = try cli.expect(3, ["check", "--conninfo", cli.base, "--database", big, "--max-bytea-value", "10"])
        #expect(dom2.stdout.contains("public.images.thumb"), "\(dom2.stdout)")

        // Within the limits the same database passes.
        try cli.expect(0, ["check", "--conninfo", cli.base, "--database", big])
    }

    @Test func databaseSizeLimitRefusesBeforeDumping() throws {
        let cli = try CLI("dbsize")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("sz"))
        defer { cli.drop(db) }
        try cli.initVault()
        let r = try cli.expect(3, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--max-database-size", "1MB"])
        #expect(r.stdout.contains("refused") && r.stdout.contains("--max-database-size"), "\(r.stdout)")
    }

    @Test func wrongConninfoSaysWhatToDoAndNeverShowsThePassword() throws {
        let cli = try CLI("conn")
        defer { cli.cleanup() }
        try cli.initVault()
        let r = try cli.expect(1, ["backup", "--vault", cli.vault, "--conninfo", "host=127.0.0.1 port=1 user=nobody password=Sup3rSecretPw connect_timeout=3"])
        #expect(r.stderr.contains("Cannot connect"), "\(r.stderr)")
        #expect(!r.stderr.contains("Sup3rSecretPw") && !r.stdout.contains("Sup3rSecretPw"))
        let bad = try cli.expect(2, ["check", "--conninfo", "host=127.0.0.1 port= = broken password=Sup3rSecretPw"])
        #expect(!bad.stderr.contains("Sup3rSecretPw"), "\(bad.stderr)")
        // The failed attempt is recorded as a job with its reason.
        let jobs = try #require(try cli.json(try cli.expect(0, ["jobs", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(jobs.first?["status"] as? String == "failed")
    }

    @Test func missingPgDumpNamesThePackageToInstall() throws {
        let cli = try CLI("nopgdump")
        defer { cli.cleanup() }
        try cli.initVault()
        let empty = cli.dir.appendingPathComponent("emptybin").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let r = try cli.expect(1, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--pg-bin", empty])
        #expect(r.stderr.contains("postgresql-client-15"), "\(r.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cli.vault + "/points")) ?? []).isEmpty)
    }

    @Test func missingVaultExits10() throws {
        let cli = try CLI("novault")
        defer { cli.cleanup() }
        for args in [["points", "--vault", cli.vault], ["backup", "--vault", cli.vault, "--conninfo", cli.base],
                     ["restore", "--vault", cli.vault, "latest", "--to", cli.dir.appendingPathComponent("o").path]] {
            let r = try cli.expect(10, args)
            #expect(r.stderr.contains("not a pgvault vault") && r.stderr.contains("pgvault init"), "\(r.stderr)")
        }
        let env = try Shell.run(cli.binary, ["points"], removing: ["PGVAULT_VAULT"])
        #expect(env.status == 2 && env.stderr.contains("PGVAULT_VAULT"))
        let viaEnv = try Shell.run(cli.binary, ["points"], environment: ["PGVAULT_VAULT": cli.vault])
        #expect(viaEnv.status == 10)
    }

    @Test func corruptedChunkStopsRestoreNamingFileAndChunkAndLeavesNoCompleteFile() throws {
        let cli = try CLI("corrupt")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("cor"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        try cli.initVault()
        let s = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let files = try #require(s["files"] as? [[String: Any]])
        let dump = try #require(files.first { $0["path"] as? String == "\(db).dump" })
        let chunk = try #require((dump["chunks"] as? [[String: Any]])?.first?["id"] as? String)
        let path = cli.vault + "/chunks/\(chunk.prefix(2))/\(chunk)"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 5] ^= 0xff
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        try bytes.write(to: URL(fileURLWithPath: path))

        let out = cli.dir.appendingPathComponent("o").path
        let r = try cli.expect(1, ["restore", "--vault", cli.vault, "latest", "--to", out])
        #expect(r.stderr.contains("\(db).dump") && r.stderr.contains(chunk), "\(r.stderr)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        #expect(!left.contains("\(db).dump") && !left.contains("SHA256SUMS") && !left.contains { $0.hasSuffix(".partial") }, "\(left)")
    }

    @Test func restoreNeverOverwrites() throws {
        let cli = try CLI("noover")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("no"))
        defer { cli.drop(db) }
        try cli.initVault()
        try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db])
        let out = cli.dir.appendingPathComponent("busy")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: out.appendingPathComponent("\(db).dump"))
        let r = try cli.expect(1, ["restore", "--vault", cli.vault, "latest", "--to", out.path])
        #expect(r.stderr.contains("overwrite"), "\(r.stderr)")
        #expect(try Data(contentsOf: out.appendingPathComponent("\(db).dump")) == Data("mine".utf8))
        try cli.expect(2, ["restore", "--vault", cli.vault, "latest"])
        try cli.expect(1, ["restore", "--vault", cli.vault, "nosuchpoint", "--to", cli.dir.appendingPathComponent("n").path])
        try cli.expect(2, ["restore", "--vault", cli.vault, "latest", "--to", cli.dir.appendingPathComponent("m").path, "--database", "absent"])
    }

    @Test func passwordNeverReachesPgDumpCommandLineOrTheVault() throws {
        let cli = try CLI("secret")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("pw"))
        defer { cli.drop(db) }
        try cli.initVault()
        // A pg_dump / pg_dumpall wrapper that records its argv and whether the password reached
        // it through its environment, then runs the real one.
        let bin = cli.dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let log = cli.dir.appendingPathComponent("argv.log").path
        let secret = "pw'with:colon\\and space"
        for tool in ["pg_dump", "pg_dumpall"] {
            let script = """
            #!/bin/sh
            echo "ARGS: $*" >> \(log)
            if [ "$PGPASSWORD" = '\(secret.replacingOccurrences(of: "'", with: "'\\''"))' ]; then echo "ENV-PASSWORD: yes" >> \(log); fi
            if [ -n "$PGPASSFILE" ]; then echo "PASSFILE: $PGPASSFILE" >> \(log); fi
            exec /usr/lib/postgresql/15/bin/\(tool) "$@"
            """
            let p = bin.appendingPathComponent(tool).path
            try Data(script.utf8).write(to: URL(fileURLWithPath: p))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: p)
        }
        let conninfo = cli.base + " password='\(secret.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'"))'"
        let r = try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", conninfo, "--database", db, "--pg-bin", bin.path],
                               env: ["PGVAULT_LOG": "debug"])
        let logged = try String(contentsOfFile: log, encoding: .utf8)
        let argLines = logged.split(separator: "\n").filter { $0.hasPrefix("ARGS:") && !$0.contains("--version") }
        #expect(argLines.count == 3, "\(logged)")
        #expect(!argLines.contains { $0.contains("pw'with") || $0.contains("password=") }, "\(logged)")
        #expect(logged.components(separatedBy: "ENV-PASSWORD: yes").count - 1 == 3, "every child got the password in its environment: \(logged)")
        #expect(!logged.contains("PASSFILE:"), "no password file is written: \(logged)")
        #expect(!r.stdout.contains("pw'with") && !r.stderr.contains("pw'with"))
        // sslpassword cannot be passed safely: refused with a way out.
        let ssl = try cli.expect(2, ["backup", "--vault", cli.vault, "--conninfo", cli.base + " sslpassword=Kp4ssphrase", "--database", db])
        #expect(ssl.stderr.contains("service=NAME") && !ssl.stderr.contains("Kp4ssphrase"), "\(ssl.stderr)")
        // Nothing in the vault holds it.
        let grep = try Shell.run("/usr/bin/grep", ["-r", "-l", "pw'with", cli.vault])
        #expect(grep.status == 1, "found in \(grep.stdout)")
        // Vault files are private.
        let find = try Shell.run("/usr/bin/find", [cli.vault, "(", "-type", "f", "-perm", "/077", ")", "-o", "(", "-type", "d", "-perm", "/077", ")"])
        #expect(find.stdout.isEmpty, "group/other-accessible: \(find.stdout)")
    }
}
