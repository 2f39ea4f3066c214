import Foundation
import Testing
import VaultCore
import VaultTestSupport

/// Starts `pgvault backup` in the background and returns once it has stored some chunks.
private func startBackupAndWaitForChunks(_ cli: CLI, db: String) throws -> Process {
    try waitForChunks(cli, try cli.spawn(["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--quiet"]))
}

/// Returns `p` once the vault holds some chunks (a backup it runs is under way).
private func waitForChunks(_ cli: CLI, _ p: Process) throws -> Process {
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
        let chunks = (try? FileManager.default.subpathsOfDirectory(atPath: cli.vault + "/chunks"))?
            .filter { $0.count > 60 && !$0.contains(".tmp-") } ?? []
        if chunks.count >= 2 { return p }
        if !p.isRunning { break }
        Thread.sleep(forTimeInterval: 0.02)
    }
    p.terminate()
    throw ShellError(description: "backup finished or stalled before it stored two chunks; make the test database bigger")
}

/// Runs `body` with a tmpfs of `megabytes` MiB mounted in the test's directory, unmounted
/// after (mounting needs root: the tests run as root in CI, see scripts/test.sh).
private func withSmallTmpfs(_ cli: CLI, megabytes: Int, _ body: (URL) throws -> Void) throws {
    let mnt = cli.dir.appendingPathComponent("small")
    try FileManager.default.createDirectory(at: mnt, withIntermediateDirectories: true)
    let m = try Shell.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mnt.path])
    try #require(m.status == 0, "mounting a small tmpfs needs root: \(m.stderr)")
    defer { _ = try? Shell.run("/usr/bin/umount", ["-l", mnt.path]) }
    try body(mnt)
}

private func pointFiles(_ cli: CLI) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: cli.vault + "/points")) ?? []).filter { $0.hasSuffix(".json") }
}

@Suite("Interrupted backups", .serialized)
struct CrashTests {
    @Test func sigkillMidBackupLeavesNoPointAndTheNextBackupSucceeds() throws {
        let cli = try CLI("kill9")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("k9"))
        defer { cli.drop(db) }
        try loadBulkData(cli, db, mb: 60)
        try cli.initVault()
        let p = try startBackupAndWaitForChunks(cli, db: db)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        #expect(pointFiles(cli).isEmpty, "a killed backup must not leave a manifest")
        let points = try #require(try cli.json(try cli.expect(0, ["points", "--vault", cli.vault, "--json"])) as? [Any])
        #expect(points.isEmpty)
        // The job shows as abandoned, not as running or ok.
        let jobs = try #require(try cli.json(try cli.expect(0, ["jobs", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(jobs.count == 1 && jobs[0]["status"] as? String == "abandoned", "\(jobs)")
        // pg_dump did not outlive its reader for long (SIGPIPE), so the database can be dropped.
        Thread.sleep(forTimeInterval: 0.5)

        try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db])
        #expect(pointFiles(cli).count == 1)
        let out = cli.dir.appendingPathComponent("o").path
        try cli.expect(0, ["restore", "--vault", cli.vault, "latest", "--to", out])
        let check = try Shell.run("/usr/bin/sha256sum", ["-c", "--quiet", "SHA256SUMS"], cwd: URL(fileURLWithPath: out))
        #expect(check.status == 0)
    }

    @Test func sigtermMidBackupExits130WithoutAPoint() throws {
        let cli = try CLI("term")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("tm"))
        defer { cli.drop(db) }
        try loadBulkData(cli, db, mb: 60)
        try cli.initVault()
        let p = try startBackupAndWaitForChunks(cli, db: db)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(pointFiles(cli).isEmpty)
        let jobs = try #require(try cli.json(try cli.expect(0, ["jobs", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(jobs.first?["status"] as? String == "interrupted", "\(jobs)")
    }

    @Test func sigtermToServeMidBackupStopsTheDumpAndLeavesNoPoint() throws {
        let cli = try CLI("serve-term")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("st"))
        defer { cli.drop(db) }
        try loadBulkData(cli, db, mb: 60)
        try cli.initVault()
        let policy = try writePolicy(cli, database: db)
        let tokens = cli.dir.appendingPathComponent("tokens").path
        try Data("viewer reader reader-\(UUID().uuidString)\n".utf8).write(to: URL(fileURLWithPath: tokens))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokens)
        // The scheduler's first pass starts the week's backup at once.
        let p = try waitForChunks(cli, try cli.spawn(["serve", "--policy", policy, "--tokens", tokens,
                                                       "--listen", "127.0.0.1:0", "--interval", "3600"]))
        defer { if p.isRunning { p.terminate() } }
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!p.isRunning, "serve did not stop within 30 s of SIGTERM")
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 0)
        #expect(pointFiles(cli).isEmpty, "an interrupted backup must not leave a manifest")
        let jobs = try #require(try cli.json(try cli.expect(0, ["jobs", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(jobs.count == 1 && jobs.first?["status"] as? String == "interrupted", "\(jobs)")
        // pg_dump is gone (the database can be dropped, below) and the vault takes the next backup.
        try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--quiet"])
        #expect(pointFiles(cli).count == 1)
        try cli.expect(0, ["verify", "--vault", cli.vault, "--all", "--quiet"])
    }

    @Test func diskFullFailsClearlyAndLeavesNoPoint() throws {
        let cli = try CLI("full")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("df"))
        defer { cli.drop(db) }
        try loadBulkData(cli, db, mb: 12)
        // A 3 MiB tmpfs holds the vault.
        try withSmallTmpfs(cli, megabytes: 3) { mnt in
            let vault = mnt.appendingPathComponent("vault").path
            try cli.expect(0, ["init", vault])
            let r = try cli.expect(1, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db])
            #expect(r.stderr.contains("disk-full") && r.stderr.contains("is full"), "\(r.stderr)")
            let points = (try? FileManager.default.contentsOfDirectory(atPath: vault + "/points")) ?? []
            #expect(points.isEmpty)
        }
    }

    @Test func aRestoreOntoAFullDiskFailsClearlyAndLeavesNoPartialFile() throws {
        let cli = try CLI("rfull")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("rf"))
        defer { cli.drop(db) }
        try loadBulkData(cli, db, mb: 6)
        try cli.initVault()
        try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--quiet"])
        // A 2 MiB tmpfs takes the small files, not the dump.
        try withSmallTmpfs(cli, megabytes: 2) { mnt in
            let dir = mnt.appendingPathComponent("out").path
            let r = try cli.expect(1, ["restore", "latest", "--vault", cli.vault, "--to", dir])
            #expect(r.stderr.contains("disk-full") && r.stderr.contains("is full"), "\(r.stderr)")
            let left = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            #expect(!left.contains { $0.hasSuffix(".partial") || $0.hasSuffix(".dump") }, "\(left)")
            #expect(!left.contains("SHA256SUMS") && !left.contains("RESTORE.md"), "an incomplete restore must not look complete: \(left)")
            let tar = mnt.appendingPathComponent("out.tar").path
            let t = try cli.expect(1, ["restore", "latest", "--vault", cli.vault, "--tar", tar])
            #expect(t.stderr.contains("disk-full"), "\(t.stderr)")
            let afterTar = (try? FileManager.default.contentsOfDirectory(atPath: mnt.path)) ?? []
            #expect(!afterTar.contains { $0.hasPrefix("out.tar") || $0.hasPrefix(".out.tar") }, "no partial archive: \(afterTar)")
        }
        // The job records say why.
        let jobs = try #require(try cli.json(try cli.expect(0, ["jobs", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        let failed = jobs.filter { $0["kind"] as? String == "restore" && $0["status"] as? String == "failed" }
        #expect(failed.count == 2, "\(jobs)")
    }
}

@Suite("Interrupting the preflight")
struct PreflightInterruptTests {
    @Test func sigtermCancelsALimitScanThatWaitsOnALock() throws {
        let cli = try CLI("preflight")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("pf"))
        defer { cli.drop(db) }
        _ = try cli.psql(db, "CREATE TABLE blobs(id int, data bytea); INSERT INTO blobs VALUES (1, '\\x00')")
        try cli.initVault()
        // Another session holds the table: the bytea scan (inside the backup's snapshot) waits.
        let locker = Process()
        locker.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        locker.arguments = ["-X", "-q", "-d", cli.conninfo(db), "-c", "BEGIN; LOCK TABLE blobs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);"]
        locker.standardOutput = FileHandle.nullDevice
        locker.standardError = FileHandle.nullDevice
        try locker.run()
        defer { locker.terminate(); _ = try? Shell.psql(cli.base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%LOCK TABLE blobs%' AND pid <> pg_backend_pid()") }
        Thread.sleep(forTimeInterval: 0.5)

        let p = try cli.spawn(["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--quiet"])
        var waiting = false
        for _ in 0..<100 {
            // This backup's session (the database is this test's own; other tests run pgvault too).
            let n = try Shell.psql(cli.base, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgvault' AND wait_event_type = 'Lock' AND datname = '\(db)'")
            if n.trimmingCharacters(in: .whitespacesAndNewlines) != "0" { waiting = true; break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try #require(waiting, "the backup's limit scan never waited on the lock")
        let sent = Date()
        kill(p.processIdentifier, SIGTERM)
        while p.isRunning && Date().timeIntervalSince(sent) < 15 { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!p.isRunning, "pgvault kept waiting for the scan after SIGTERM")
        if p.isRunning { p.terminate(); p.waitUntilExit() }
        #expect(p.terminationStatus == 130)
        #expect(Date().timeIntervalSince(sent) < 5)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cli.vault + "/points")) ?? []).isEmpty)
    }
}
