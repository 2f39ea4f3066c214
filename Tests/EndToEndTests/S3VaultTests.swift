import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultS3
import VaultStorage
import VaultTestSupport

/// The SeaweedFS server of scripts/test.sh (scripts/s3-server.sh). These tests *fail*, never
/// skip, when its variables are missing.
private struct S3Env: Sendable {
    var endpoint: String
    var accessKey: String
    var secretKey: String
    var region: String

    static func load() throws -> S3Env {
        let env = ProcessInfo.processInfo.environment
        guard let ep = env["PGVAULT_TEST_S3_ENDPOINT"], !ep.isEmpty,
              let ak = env["PGVAULT_TEST_S3_ACCESS_KEY"], !ak.isEmpty,
              let sk = env["PGVAULT_TEST_S3_SECRET_KEY"], !sk.isEmpty else {
            throw ShellError(description: "PGVAULT_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY are not set: the S3 vault tests need the SeaweedFS server that scripts/test.sh starts. Run scripts/test.sh, not bare `swift test`.")
        }
        return S3Env(endpoint: ep, accessKey: ak, secretKey: sk, region: env["PGVAULT_TEST_S3_REGION"] ?? "us-east-1")
    }

    /// What the pgvault process gets: credentials only from the environment.
    var processEnv: [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "PGVAULT_S3_ENDPOINT": endpoint,
         "AWS_REGION": region, "AWS_SESSION_TOKEN": "", "AWS_PROFILE": ""]
    }

    /// A raw client with the same credentials (the "attacker" / checker).
    func raw(_ url: String) throws -> S3Storage {
        try S3Storage(url: url, endpoint: endpoint, region: region,
                      credentials: S3Credentials(accessKeyId: accessKey, secretAccessKey: secretKey),
                      retry: S3RetryPolicy(attempts: 2, baseDelay: 0.1))
    }

    /// SeaweedFS allocates volumes per bucket: tests share one bucket of each kind per process.
    func bucket(objectLock: Bool) throws -> String {
        try Buckets.shared.get(objectLock: objectLock, env: self)
    }

    /// `s3://<bucket>/<label>-<random>`: a fresh prefix.
    func url(objectLock: Bool, _ label: String) throws -> String {
        "s3://\(try bucket(objectLock: objectLock))/\(label)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

private final class Buckets: @unchecked Sendable {
    static let shared = Buckets()
    private let lock = NSLock()
    private var names: [Bool: String] = [:]
    func get(objectLock: Bool, env: S3Env) throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let n = names[objectLock] { return n }
        let name = "pgv-e2e-\(objectLock ? "lock" : "plain")-\(UUID().uuidString.prefix(8).lowercased())"
        try env.raw("s3://\(name)").createBucket(objectLock: objectLock)
        names[objectLock] = name
        return name
    }
}

private extension CLI {
    @discardableResult
    func s3(_ status: Int32, _ args: [String], _ env: S3Env, extra: [String: String] = [:],
            sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
        try expect(status, args, env: env.processEnv.merging(extra) { $1 }, sourceLocation: sourceLocation)
    }

    func points(_ vault: String, _ env: S3Env) throws -> [[String: Any]] {
        try #require(try json(try s3(0, ["points", "--vault", vault, "--state", "all", "--json"], env)) as? [[String: Any]])
    }
}

private func pointIds(_ cli: CLI, _ vault: String, _ env: S3Env) throws -> [String] {
    try cli.points(vault, env).compactMap { $0["id"] as? String }
}

private func manifest(_ raw: S3Storage, _ id: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: ManifestCodec.json(raw.get("points/\(id).json"), what: id)) as? [String: Any])
}

private func chunkKeys(_ m: [String: Any]) -> Set<String> {
    var out = Set<String>()
    for f in (m["files"] as? [[String: Any]]) ?? [] {
        for c in (f["chunks"] as? [[String: Any]]) ?? [] {
            if let id = c["id"] as? String { out.insert("chunks/\(id.prefix(2))/\(id)") }
        }
    }
    return out
}

/// Every chunk object a point needs: its chunks and every link of their delta chains.
private func neededChunkKeys(_ m: [String: Any]) -> Set<String> {
    var out = chunkKeys(m)
    for f in (m["files"] as? [[String: Any]]) ?? [] {
        for c in (f["chunks"] as? [[String: Any]]) ?? [] {
            let links = [c["base"] as? String].compactMap { $0 } + ((c["chain"] as? [String]) ?? [])
            for id in links { out.insert("chunks/\(id.prefix(2))/\(id)") }
        }
    }
    return out
}

private func date(_ any: Any?) -> Date? { (any as? String).flatMap(Timestamp.parse) }

/// The one version of `key` (the current one).
private func currentVersion(_ raw: S3Storage, _ key: String) throws -> String {
    let v = try raw.listVersions(prefix: key).filter { $0.key == key && $0.isLatest && !$0.isDeleteMarker }
    return try #require(v.first?.versionId, "no current version of \(key)")
}

/// Runs `body`, which must fail; returns the error's text (what the server answered).
private func refusal(_ what: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    do {
        try body()
        Issue.record("\(what) succeeded, the server should have refused it", sourceLocation: sourceLocation)
        return ""
    } catch {
        return "\(error)"
    }
}

@Suite("S3Vault: vaults on S3 with Object Lock (SeaweedFS)")
struct S3VaultTests {
    // (a) On a locked vault the server itself refuses to delete versions or shorten retention.
    @Test func lockedVaultServerRefusesDeletionAndShortening() throws {
        let env = try S3Env.load()
        let cli = try CLI("s3lock")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("s3l"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        let vault = try env.url(objectLock: true, "locked")
        let raw = try env.raw(vault)
        try cli.s3(0, ["init", vault, "--immutability", "unlocked"], env)
        // P1 before the lock (GOVERNANCE objects), P2 after it (COMPLIANCE), kept longer.
        try cli.s3(0, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--quiet"], env)
        let show = try #require(try cli.json(try cli.s3(0, ["vault", "show", "--vault", vault, "--json"], env)) as? [String: Any])
        try cli.s3(0, ["vault", "lock", "--vault", vault, "--confirm", try #require(show["id"] as? String)], env)
        _ = try cli.psql(db, "INSERT INTO items(name, price, note) SELECT 'more ' || g, g, md5(g::text) FROM generate_series(1, 3000) g")
        try cli.s3(0, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--quiet", "--retain", "90d"], env)
        // Oldest first (`points` lists newest first by start time; two ids of the same second
        // do not sort by time).
        let ids = Array(try pointIds(cli, vault, env).reversed())
        try #require(ids.count == 2)
        let (p1, p2) = (ids[0], ids[1])
        let m1 = try manifest(raw, p1), m2 = try manifest(raw, p2)
        let until2 = try #require(date(m2["retainUntil"]))
        let until1 = try #require(date(m1["retainUntil"]))

        // Every object of P2 carries COMPLIANCE until P2's retain-until.
        let key2 = "points/\(p2).json"
        let lock2 = try raw.getObjectLock(key: key2)
        #expect(lock2.retention?.mode == .compliance)
        #expect(abs((lock2.retention?.retainUntil ?? .distantPast).timeIntervalSince(until2)) < 2)
        let newChunks = chunkKeys(m2).subtracting(chunkKeys(m1))
        let shared = chunkKeys(m2).intersection(chunkKeys(m1))
        let newChunk = try #require(newChunks.sorted().first)
        #expect(try raw.getObjectLock(key: newChunk).retention?.mode == .compliance)
        // A chunk P2 reuses was extended to P2's retain-until before P2's manifest was written
        // (it keeps the GOVERNANCE mode it was written with; see FORMAT.md "S3 vaults").
        let sharedChunk = try #require(shared.sorted().first, "P2 should reuse a chunk of P1")
        let sharedLock = try #require(try raw.getObjectLock(key: sharedChunk).retention)
        #expect(sharedLock.retainUntil >= until2.addingTimeInterval(-1) && sharedLock.retainUntil > until1.addingTimeInterval(1))
        // So was every object P2 needs: the dump's chunks it took over from P1 unchanged and the
        // delta bases of its changed chunks (written for P1, locked until P1's retain-until).
        let needed = neededChunkKeys(m2)
        #expect(needed.count > chunkKeys(m2).count, "P2 should hold a delta chunk whose base is P1's")
        for key in needed.sorted() {
            let r = try #require(try raw.getObjectLock(key: key).retention, "\(key) has no retention")
            #expect(r.retainUntil >= until2.addingTimeInterval(-1), "\(key) is locked only until \(r.retainUntil), P2 until \(until2)")
        }
        #expect(try raw.getObjectLock(key: "points/\(p1).json").retention?.mode == .governance)
        let audit = try #require(try raw.list(prefix: "audit/").last?.key)
        #expect(try raw.getObjectLock(key: audit).retention?.mode == .compliance)

        // The raw client, same credentials, tries to destroy versions and to shorten locks.
        var refusals: [String] = []
        for key in [key2, newChunk] {
            let v = try currentVersion(raw, key)
            refusals.append(refusal("delete version of \(key)") { try raw.deleteVersion(key, versionId: v, bypassGovernance: true) })
            refusals.append(refusal("shorten \(key)") {
                try raw.putObjectLock(key: key, mode: .compliance, retainUntil: Date().addingTimeInterval(86400), versionId: v,
                                      bypassGovernance: true)
            })
            refusals.append(refusal("downgrade \(key) to GOVERNANCE") {
                try raw.putObjectLock(key: key, mode: .governance, retainUntil: until2.addingTimeInterval(86400), versionId: v)
            })
        }
        // GOVERNANCE objects (written before the lock): refused without the bypass header too.
        let v1 = try currentVersion(raw, "points/\(p1).json")
        refusals.append(refusal("delete GOVERNANCE version") { try raw.deleteVersion("points/\(p1).json", versionId: v1) })
        refusals.append(refusal("shorten GOVERNANCE version") {
            try raw.putObjectLock(key: "points/\(p1).json", mode: .governance, retainUntil: Date().addingTimeInterval(3600), versionId: v1)
        })
        for r in refusals { #expect(r.contains("403"), "\(r)") }
        print("S3 refusals seen:\n" + refusals.map { "  " + ($0.split(separator: "\n").first { $0.contains("cause") }.map(String.init) ?? $0) }.joined(separator: "\n"))
        #expect(try raw.getObjectLock(key: key2).retention?.mode == .compliance)
        _ = try raw.get(key2, versionId: try currentVersion(raw, key2))

        // pgvault refuses too (exit 11), and a plain DELETE only hides the manifest: the locked
        // version stays and removing the delete marker brings the point back.
        try cli.s3(11, ["delete", p2, "--vault", vault, "--reason", "test"], env)
        try raw.delete(key2)
        #expect(try pointIds(cli, vault, env) == [p1])
        let marker = try #require(try raw.listVersions(prefix: key2).first { $0.isDeleteMarker })
        try raw.deleteVersion(key2, versionId: marker.versionId)
        #expect(Set(try pointIds(cli, vault, env)) == [p1, p2])

        // retain --extend moves the lock of the manifest, state and chunks; hold sets legal hold.
        try cli.s3(0, ["retain", p1, "--vault", vault, "--until", "2031-01-01"], env)
        let target = try #require(Timestamp.parse("2031-01-01T00:00:00Z"))
        for key in ["points/\(p1).json"] + chunkKeys(m1).sorted() {
            let r = try #require(try raw.retention(key: key), "\(key) has no retention")
            #expect(r.until >= target, "\(key): \(r)")
        }
        let state1 = try #require(try raw.list(prefix: "state/\(p1)/").last?.key)
        #expect(try raw.retention(key: state1)?.until ?? .distantPast >= target)
        try cli.s3(0, ["hold", "set", p2, "--vault", vault, "--reason", "case 7"], env)
        #expect(try raw.getObjectLock(key: key2).legalHold)
        #expect(try raw.getObjectLock(key: newChunk).legalHold)
        let state2 = try #require(try raw.list(prefix: "state/\(p2)/").last?.key)
        #expect(try raw.getObjectLock(key: state2).legalHold)
        // With P1 held too, clearing P2's hold leaves it on the chunks P1 still needs.
        try cli.s3(0, ["hold", "set", p1, "--vault", vault, "--reason", "case 8"], env)
        #expect(try raw.getObjectLock(key: sharedChunk).legalHold)
        try cli.s3(0, ["hold", "clear", p2, "--vault", vault, "--reason", "closed"], env)
        #expect(try !raw.getObjectLock(key: key2).legalHold)
        #expect(try !raw.getObjectLock(key: newChunk).legalHold, "a chunk only P2 needs is released")
        #expect(try raw.getObjectLock(key: sharedChunk).legalHold, "a chunk held P1 needs keeps its hold")
        #expect(try raw.getObjectLock(key: "points/\(p1).json").legalHold)
        try cli.s3(0, ["hold", "clear", p1, "--vault", vault, "--reason", "closed"], env)
        #expect(try !raw.getObjectLock(key: sharedChunk).legalHold)
    }

    // A plain DELETE (no version id) only hides an object behind a delete marker; `vault unhide`
    // brings back what someone else hid and leaves what pgvault removed itself.
    @Test func vaultUnhideBringsBackWhatAPlainDeleteHid() throws {
        let env = try S3Env.load()
        let cli = try CLI("s3unhide")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("s3u"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        let vault = try env.url(objectLock: true, "unhide")
        let raw = try env.raw(vault)
        try cli.s3(0, ["init", vault, "--immutability", "unlocked"], env)
        try cli.s3(0, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--quiet"], env)
        _ = try cli.psql(db, "INSERT INTO items(name, price, note) SELECT 'more ' || g, g, md5(g::text) FROM generate_series(1, 3000) g")
        try cli.s3(0, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--quiet"], env)
        let ids = Array(try pointIds(cli, vault, env).reversed())
        try #require(ids.count == 2)
        let (p1, p2) = (ids[0], ids[1])
        try cli.s3(0, ["hold", "set", p2, "--vault", vault, "--reason", "case 9"], env)
        let state2 = try #require(try raw.list(prefix: "state/\(p2)/").last?.key)
        let chunk2 = try #require(neededChunkKeys(try manifest(raw, p2)).subtracting(neededChunkKeys(try manifest(raw, p1))).sorted().first)
        let audit2 = "audit/000000000002.json"

        // Someone with the vault's credentials DELETEs four objects (no version id).
        let hidden: Set<String> = ["points/\(p2).json", state2, chunk2, audit2]
        for key in hidden { try raw.delete(key) }
        #expect(try pointIds(cli, vault, env) == [p1])
        let all = try cli.s3(4, ["verify", "--all", "--vault", vault], env)
        #expect(all.stdout.contains("records point \(p2) as written") && all.stdout.contains("vault unhide --dry-run"), "\(all.stdout)")
        let gone = try cli.s3(1, ["show", p2, "--vault", vault], env)
        #expect(gone.stderr.contains("No recovery point") && gone.stderr.contains("vault unhide --dry-run"), "\(gone.stderr)")
        let gap = try cli.s3(1, ["audit", "--verify", "--vault", vault], env)
        #expect(gap.stdout.contains("record 2 is missing") && gap.stdout.contains("pgvault vault unhide --dry-run"), "\(gap.stdout)")

        func keys(_ items: Any?) -> Set<String> { Set(((items as? [[String: Any]]) ?? []).compactMap { $0["key"] as? String }) }
        // A dry run lists them (the chunk only once the manifest that needs it is back) and changes nothing.
        let dry = try #require(try cli.json(try cli.s3(0, ["vault", "unhide", "--dry-run", "--json", "--vault", vault], env)) as? [String: Any])
        #expect(keys(dry["restored"]) == hidden.subtracting([chunk2]), "\(dry)")
        #expect(keys(dry["kept"]) == [chunk2], "\(dry)")
        let dryText = try cli.s3(0, ["vault", "unhide", "--dry-run", "--vault", vault], env)
        #expect(dryText.stdout.contains("Would bring back 3 hidden objects") && dryText.stdout.contains("points/\(p2).json")
                && dryText.stdout.contains("Left hidden: 1 chunk, no point present needs it"), "\(dryText.stdout)")
        #expect(try pointIds(cli, vault, env) == [p1])

        let run = try cli.s3(0, ["vault", "unhide", "--vault", vault], env)
        #expect(run.stdout.contains("Brought back 4 hidden objects") && run.stdout.contains("Points back: \(p2)"), "\(run.stdout)")
        #expect(Set(try pointIds(cli, vault, env)) == [p1, p2])
        try cli.s3(0, ["audit", "--verify", "--vault", vault], env)
        try cli.s3(0, ["verify", p2, "--vault", vault, "--quiet"], env)
        let audit = try #require(try cli.json(try cli.s3(0, ["audit", "--vault", vault, "--json"], env)) as? [[String: Any]])
        let last = try #require(audit.last)
        #expect(last["operation"] as? String == "vault.unhide", "\(last)")
        #expect((last["details"] as? [String: String]) == ["objects": "4", "points": p2], "\(last)")
        let evidence = try cli.s3(0, ["show", p2, "--evidence", "--vault", vault], env)
        #expect(evidence.stdout.contains("legal hold:       since") && evidence.stdout.contains("case 9"),
                "P2's state record (its legal hold) is back: \(evidence.stdout)")
        let again = try cli.s3(0, ["vault", "unhide", "--vault", vault], env)
        #expect(again.stdout.contains("Nothing hidden"), "\(again.stdout)")
        // A chunk P1 needs, hidden: verify names it and points to unhide, which brings it back.
        let chunk1 = try #require(neededChunkKeys(try manifest(raw, p1)).sorted().first)
        try raw.delete(chunk1)
        let damaged = try cli.s3(4, ["verify", p1, "--vault", vault], env)
        #expect(damaged.stdout.contains(String(chunk1.split(separator: "/").last ?? "")) && damaged.stdout.contains("vault unhide --dry-run"),
                "\(damaged.stdout)")
        let one = try #require(try cli.json(try cli.s3(0, ["vault", "unhide", "--json", "--vault", vault], env)) as? [String: Any])
        #expect(keys(one["restored"]) == [chunk1], "\(one)")
        try cli.s3(0, ["verify", p1, "--vault", vault, "--quiet"], env)

        // The newest audit record hidden: a change that would write its number is refused (it
        // would bury the record), and goes through once unhide brought it back.
        let newest = try #require(try raw.list(prefix: "audit/").last?.key)
        try raw.delete(newest)
        try cli.s3(0, ["audit", "--verify", "--vault", vault], env)   // the chain alone cannot tell
        let refused = try cli.s3(1, ["hold", "clear", p2, "--vault", vault, "--reason", "closed"], env)
        #expect(refused.stderr.contains("hidden behind a delete marker") && refused.stderr.contains("vault unhide"), "\(refused.stderr)")
        #expect(try raw.list(prefix: "audit/").last?.key != newest, "nothing was written in its place")
        let held = try cli.s3(0, ["show", p2, "--evidence", "--vault", vault], env)
        #expect(held.stdout.contains("case 9"), "the refused change changed nothing: \(held.stdout)")
        let back = try #require(try cli.json(try cli.s3(0, ["vault", "unhide", "--json", "--vault", vault], env)) as? [String: Any])
        #expect(keys(back["restored"]) == [newest], "\(back)")
        try cli.s3(0, ["hold", "clear", p2, "--vault", vault, "--reason", "closed"], env)
        try cli.s3(0, ["audit", "--verify", "--vault", vault], env)

        // The settings in force hidden: pgvault refuses to act on the ones before them.
        try cli.s3(0, ["vault", "set", "--vault", vault, "--soft-delete-days", "30"], env)
        let settingsKey = try #require(try raw.list(prefix: "settings/").last?.key)
        try raw.delete(settingsKey)
        let stale = try cli.s3(1, ["vault", "show", "--vault", vault], env)
        #expect(stale.stderr.contains("hidden behind a delete marker") && stale.stderr.contains("vault unhide"), "\(stale.stderr)")
        let settingsBack = try #require(try cli.json(try cli.s3(0, ["vault", "unhide", "--json", "--vault", vault], env)) as? [String: Any])
        #expect(keys(settingsBack["restored"]) == [settingsKey], "\(settingsBack)")
        let shown = try cli.s3(0, ["vault", "show", "--vault", vault], env)
        #expect(shown.stdout.contains("30 days"), "\(shown.stdout)")

        // What pgvault removed itself stays removed: a point deleted with soft delete off.
        let own = try env.url(objectLock: true, "unhide-own")
        try cli.s3(0, ["init", own, "--immutability", "disabled"], env)
        try cli.s3(0, ["vault", "set", "--vault", own, "--soft-delete", "disabled"], env)
        try cli.s3(0, ["backup", "--vault", own, "--conninfo", cli.base, "--database", db, "--quiet"], env)
        let removed = try #require(try pointIds(cli, own, env).first)
        try cli.s3(0, ["delete", removed, "--vault", own, "--reason", "not needed"], env)
        let ownRun = try #require(try cli.json(try cli.s3(0, ["vault", "unhide", "--json", "--vault", own], env)) as? [String: Any])
        #expect(keys(ownRun["restored"]).isEmpty, "\(ownRun)")
        #expect(keys(ownRun["kept"]).contains("points/\(removed).json"), "\(ownRun)")
        #expect(try pointIds(cli, own, env).isEmpty)
        // A filesystem vault has nothing hidden: the command says so (exit 2).
        try cli.initVault()
        let local = try cli.expect(2, ["vault", "unhide", "--vault", cli.vault])
        #expect(local.stderr.contains("keeps no object versions"), "\(local.stderr)")
    }

    // (b) backup -> restore-as-files through S3 is byte-identical, to a directory and to S3.
    @Test func backupRestoreThroughS3IsByteIdentical() throws {
        let env = try S3Env.load()
        let cli = try CLI("s3rt")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("s3r"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        try loadBulkData(cli, db, mb: 14)   // a dump over one 8 MiB part: multipart restore
        let vault = try env.url(objectLock: false, "rt")
        try cli.s3(0, ["init", vault], env)
        // Three points with changes in between: the last one's chunks are deltas two links deep,
        // read from S3 through their chains (links fetched ahead, several at a time).
        for week in 1...3 {
            if week > 1 { _ = try cli.psql(db, "UPDATE bulk SET payload = upper(payload) WHERE id % 97 = \(week)") }
            try cli.s3(0, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--quiet"], env)
        }
        let latest = try #require(try cli.json(try cli.s3(0, ["show", "latest", "--vault", vault, "--json"], env)) as? [String: Any])
        let latestId = try #require((latest["id"] ?? latest["point"]) as? String)
        let manifestData = try ManifestCodec.json(env.raw(vault).get("points/\(latestId).json"), what: latestId)
        let m = try #require(try JSONSerialization.jsonObject(with: manifestData) as? [String: Any])
        let dumpChunks = ((m["files"] as? [[String: Any]]) ?? []).flatMap { ($0["chunks"] as? [[String: Any]]) ?? [] }
        #expect(dumpChunks.contains { ($0["chain"] as? [String])?.isEmpty == false }, "the third point should hold two-link chains")
        let out = cli.dir.appendingPathComponent("out").path
        try cli.s3(0, ["restore", "latest", "--vault", vault, "--to", out], env)
        let check = try Shell.run("/usr/bin/sha256sum", ["-c", "SHA256SUMS"], cwd: URL(fileURLWithPath: out))
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files.contains("\(db).dump") && files.contains("SHA256SUMS"))

        // The same restore into an S3 prefix: the same set of files, byte for byte.
        let target = try env.url(objectLock: false, "restored")
        try cli.s3(0, ["restore", "latest", "--vault", vault, "--to", target], env)
        let raw = try env.raw(target)
        var objectNames = try raw.list(prefix: "").map(\.key).sorted()
        #expect(objectNames == files, "objects \(objectNames) vs files \(files)")
        for name in files where name != "RESTORE.md" {
            let local = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
            #expect(try raw.get(name) == local, "\(name) differs")
        }
        #expect(try raw.listIncompleteUploads().isEmpty)
        // Never overwrite: the prefix is not empty any more (exit 1); and never into the vault (exit 2).
        let again = try cli.s3(1, ["restore", "latest", "--vault", vault, "--to", target], env)
        #expect(again.stderr.contains("not empty"), "\(again.stderr)")
        try cli.s3(2, ["restore", "latest", "--vault", vault, "--to", vault + "/inside"], env)
        objectNames = try raw.list(prefix: "").map(\.key).sorted()
        #expect(objectNames == files)
    }

    // (c) SIGKILL mid-upload leaves no point; purge --gc-grace 0s removes the leftovers.
    @Test func sigkillLeavesNoPointAndGarbageCollectionCleansUp() throws {
        let env = try S3Env.load()
        let cli = try CLI("s3kill")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("s3k"))
        defer { cli.drop(db) }
        try loadBulkData(cli, db, mb: 60)
        let vault = try env.url(objectLock: true, "kill")
        let raw = try env.raw(vault)
        try cli.s3(0, ["init", vault], env)
        let p = try cli.spawn(["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--quiet"], env: env.processEnv)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, p.isRunning, (try raw.list(prefix: "chunks/").count) < 2 { Thread.sleep(forTimeInterval: 0.02) }
        try #require(p.isRunning, "the backup finished before it could be killed; make the database bigger")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        #expect(try raw.list(prefix: "points/").isEmpty, "a killed backup must not leave a manifest")
        #expect(try pointIds(cli, vault, env).isEmpty)
        let leftovers = try raw.list(prefix: "chunks/").count
        #expect(leftovers >= 2)
        // A multipart upload the killed process left unfinished (chunks are below the multipart
        // threshold, so make one the way a killed large upload leaves it).
        let upload = try raw.startUpload(key: "chunks/ff/leftover-upload")
        try upload.upload(Data(repeating: 7, count: 1024))
        #expect(try raw.listIncompleteUploads().count == 1)

        let r = try #require(try cli.json(try cli.s3(0, ["purge", "--vault", vault, "--gc-grace", "0s", "--json"], env)) as? [String: Any])
        #expect(r["chunksRemoved"] as? Int == leftovers, "\(r)")
        #expect(r["uploadsAborted"] as? Int == 1, "\(r)")
        #expect(try raw.list(prefix: "chunks/").isEmpty)
        #expect(try raw.listVersions(prefix: "chunks/").isEmpty, "versions and delete markers of swept chunks are removed too")
        #expect(try raw.listIncompleteUploads().isEmpty)
        // The vault still works.
        try cli.s3(0, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--quiet"], env)
        #expect(try pointIds(cli, vault, env).count == 1)
    }

    // (d) Each failure is a clear message and a documented exit code.
    @Test func failuresAreClearWithDocumentedExitCodes() throws {
        let env = try S3Env.load()
        let cli = try CLI("s3err")
        defer { cli.cleanup() }
        let vault = try env.url(objectLock: true, "err")
        try cli.s3(0, ["init", vault], env)

        let wrong = try cli.s3(1, ["points", "--vault", vault], env, extra: ["AWS_SECRET_ACCESS_KEY": "wrong-secret"])
        #expect(wrong.stderr.contains("refused the credentials") && wrong.stderr.contains("SignatureDoesNotMatch"), "\(wrong.stderr)")
        let badKey = try cli.s3(1, ["points", "--vault", vault], env, extra: ["AWS_ACCESS_KEY_ID": "NOSUCHKEY"])
        #expect(badKey.stderr.contains("refused the credentials"), "\(badKey.stderr)")
        let none = try cli.s3(2, ["points", "--vault", vault], env,
                              extra: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "HOME": cli.dir.path])
        #expect(none.stderr.contains("No S3 credentials"), "\(none.stderr)")

        let missing = "s3://pgv-missing-\(UUID().uuidString.prefix(8).lowercased())/v"
        let m = try cli.s3(1, ["points", "--vault", missing], env)
        #expect(m.stderr.contains("does not exist") && m.stderr.contains("--object-lock-enabled-for-bucket"), "\(m.stderr)")
        let mi = try cli.s3(1, ["init", missing], env)
        #expect(mi.stderr.contains("does not exist"), "\(mi.stderr)")
        #expect(try !env.raw(missing).bucketExists(), "init must not create the bucket by writing into it")

        let plain = try env.url(objectLock: false, "nolock")
        let nl = try cli.s3(1, ["init", plain, "--immutability", "unlocked"], env)
        #expect(nl.stderr.contains("Object Lock") && nl.stderr.contains("create-bucket"), "\(nl.stderr)")
        #expect(try env.raw(plain).list(prefix: "").isEmpty, "a refused init writes nothing")
        try cli.s3(0, ["init", plain], env)
        let set = try cli.s3(1, ["vault", "set", "--vault", plain, "--immutability", "unlocked"], env)
        #expect(set.stderr.contains("Object Lock"), "\(set.stderr)")

        let down = try cli.s3(1, ["points", "--vault", vault, "--s3-endpoint", "http://127.0.0.1:9"], env)
        #expect(down.stderr.contains("cannot reach S3 endpoint http://127.0.0.1:9"), "\(down.stderr)")

        let notVault = try env.url(objectLock: true, "empty")
        try cli.s3(10, ["points", "--vault", notVault], env)

        // --create-bucket makes a bucket with Object Lock.
        let fresh = "s3://pgv-new-\(UUID().uuidString.prefix(8).lowercased())/v"
        try cli.s3(0, ["init", fresh, "--create-bucket", "--immutability", "unlocked"], env)
        #expect(try env.raw(fresh).bucketObjectLockEnabled())
    }

    // (e) copy local -> S3 -> local keeps retain-until and holds and restores byte-identical.
    /// A manifest over the multipart threshold goes to S3 as it is encoded, in parts sent
    /// while the encoder still runs, and carries its Object Lock retention (its retain-until,
    /// known beforehand through `ObjectLock.forManifest`, not read back from its bytes).
    @Test func aLargeManifestIsSentInPartsAsItIsEncodedAndLocked() throws {
        let env = try S3Env.load()
        let url = try env.url(objectLock: true, "bigman")
        let endpoint = try #require(URL(string: env.endpoint))
        let small = S3Storage(location: try S3Location(url: url), endpoint: endpoint, region: env.region,
                              credentials: S3Credentials(accessKeyId: env.accessKey, secretAccessKey: env.secretKey),
                              multipartThreshold: 6 << 20, partSize: 5 << 20)
        let vault = try Vault.create(storage: small)
        try VaultControl(vault: vault).changeSettings(immutability: .unlocked)
        let raw = try env.raw(url)

        // The lock view streams: parts are on the server before the writer is done.
        let until = Date().addingTimeInterval(3 * 86400)
        var during = -1
        try ObjectLock.forManifest(vault.storage, until: until).put("points/probe.json", mode: .createOnly) { emit in
            try Data(count: 7 << 20).withUnsafeBytes { try emit($0) }
            during = try raw.listIncompleteUploads().count
            try Data(count: 3 << 20).withUnsafeBytes { try emit($0) }
        }
        #expect(during == 1, "the upload was under way while the manifest was being written")
        let probe = try raw.getObjectLock(key: "points/probe.json").retention
        #expect(probe?.mode == .governance && abs((probe?.retainUntil ?? .distantPast).timeIntervalSince(until)) < 2)
        try raw.deleteVersion("points/probe.json", versionId: try currentVersion(raw, "points/probe.json"), bypassGovernance: true)

        // A point whose stored manifest is over the threshold (random ids do not compress).
        var rng = SystemRandomNumberGenerator()
        func randomHex() -> String { (0..<4).map { _ in String(format: "%016llx", rng.next() as UInt64) }.joined() }
        let chunks = (0..<200_000).map { _ in ChunkRef(id: randomHex(), size: 1 << 20) }
        let t = Date()
        var m = Manifest(id: Identifier.make(at: t), vaultId: vault.config.id, jobId: "backup-big",
                         server: ServerInfo(name: "db1", host: nil, port: nil, version: "15.1", versionNum: 150001),
                         pgDumpVersion: "15.1", pgVaultVersion: "test", startedAt: t, finishedAt: t, status: .ok,
                         limits: Limits(), databases: [DatabaseRecord(name: "big", outcome: .ok)],
                         files: [FileEntry(path: "big.dump", kind: .dump, database: "big", size: Int64(chunks.count) << 20,
                                           sha256: randomHex(), chunks: chunks)],
                         stats: PointStats(logicalBytes: Int64(chunks.count) << 20, storedBytes: 1, chunks: chunks.count, newChunks: 0))
        m.retainUntil = t.addingTimeInterval(30 * 86400)
        _ = try vault.commit(m)
        let key = Vault.pointKey(m.id)
        let stored = try #require(try raw.list(prefix: key).first?.size)
        #expect(stored > 6 << 20, "the manifest (\(stored) bytes) should be over the 6 MiB threshold")
        let lock = try #require(try raw.getObjectLock(key: key).retention)
        #expect(lock.mode == .governance)
        #expect(abs(lock.retainUntil.timeIntervalSince(try #require(m.retainUntil))) < 2)
        #expect(try raw.listIncompleteUploads().isEmpty)
        let back = try Vault.open(storage: small).resolvePoint(m.id)
        #expect(back.files.first?.chunks.count == chunks.count)
        #expect(back.files.first?.chunks.last?.id == chunks.last?.id)
    }

    @Test func copyLocalToS3ToLocalKeepsRetentionAndHolds() throws {
        let env = try S3Env.load()
        let cli = try CLI("s3copy")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("s3c"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        let local = cli.vault
        try cli.s3(0, ["init", local, "--immutability", "unlocked"], env)
        try cli.s3(0, ["backup", "--vault", local, "--conninfo", cli.base, "--database", db, "--quiet", "--retain", "90d"], env)
        _ = try cli.psql(db, "INSERT INTO items(name) SELECT 'x' || g FROM generate_series(1, 500) g")
        try cli.s3(0, ["backup", "--vault", local, "--conninfo", cli.base, "--database", db, "--quiet"], env)
        let ids = Array(try pointIds(cli, local, env).reversed())   // oldest first
        try #require(ids.count == 2)
        try cli.s3(0, ["hold", "set", ids[0], "--vault", local, "--reason", "case 9"], env)
        try cli.s3(0, ["retain", ids[1], "--vault", local, "--until", "2030-06-01"], env)

        let s3 = try env.url(objectLock: true, "copy")
        try cli.s3(0, ["init", s3, "--immutability", "unlocked"], env)
        let c1 = try #require(try cli.json(try cli.s3(0, ["copy", "--from", local, "--to", s3, "--json"], env)) as? [String: Any])
        #expect((c1["copied"] as? [Any])?.count == 2, "\(c1)")
        let c2 = try #require(try cli.json(try cli.s3(0, ["copy", "--from", local, "--to", s3, "--json"], env)) as? [String: Any])
        #expect((c2["copied"] as? [Any])?.count == 0 && (c2["skipped"] as? [Any])?.count == 2, "idempotent: \(c2)")

        func summary(_ vault: String) throws -> [String: (String?, Bool)] {
            var out: [String: (String?, Bool)] = [:]
            for p in try cli.points(vault, env) {
                out[p["id"] as? String ?? ""] = (p["retainUntil"] as? String, p["held"] as? Bool ?? false)
            }
            return out
        }
        let src = try summary(local)
        let onS3 = try summary(s3)
        #expect(onS3.mapValues { "\($0)" } == src.mapValues { "\($0)" })
        #expect(onS3[ids[0]]?.1 == true && onS3[ids[1]]?.0?.hasPrefix("2030-06-01") == true)
        // The server enforces them on the S3 copy: legal hold and retain-until.
        let raw = try env.raw(s3)
        #expect(try raw.getObjectLock(key: "points/\(ids[0]).json").legalHold)
        let r1 = try #require(try raw.retention(key: "points/\(ids[1]).json"))
        #expect(r1.until >= Timestamp.parse("2030-06-01T00:00:00Z") ?? .distantFuture)
        let audit = try cli.s3(0, ["audit", "--vault", s3], env)
        #expect(audit.stdout.contains("point.copy"))

        let back = cli.dir.appendingPathComponent("back").path
        try cli.s3(0, ["init", back], env)
        try cli.s3(0, ["copy", "--from", s3, "--to", back], env)
        #expect(try summary(back).mapValues { "\($0)" } == src.mapValues { "\($0)" })
        for (i, id) in ids.enumerated() {
            let a = cli.dir.appendingPathComponent("a\(i)").path, b = cli.dir.appendingPathComponent("b\(i)").path
            try cli.s3(0, ["restore", id, "--vault", local, "--to", a], env)
            try cli.s3(0, ["restore", id, "--vault", back, "--to", b], env)
            #expect(try Shell.run("/usr/bin/sha256sum", ["-c", "--quiet", "SHA256SUMS"], cwd: URL(fileURLWithPath: b)).status == 0)
            let dump = "\(db).dump"
            #expect(FileManager.default.contentsEqual(atPath: a + "/" + dump, andPath: b + "/" + dump))
        }
        // Copying into itself is refused.
        try cli.s3(2, ["copy", "--from", s3, "--to", s3], env)
    }
}
