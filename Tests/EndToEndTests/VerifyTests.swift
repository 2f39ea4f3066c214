import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultTestSupport

/// `pgvault verify` against real backups, with chunks damaged and removed on disk.
@Suite("pgvault verify")
struct VerifyTests {
    /// The manifest of a point as stored (`points/<id>.json`).
    func manifest(_ cli: CLI, _ id: String) throws -> [String: Any] {
        return try #require(try JSONSerialization.jsonObject(with: storedManifestJSON(cli.vault, id)) as? [String: Any])
    }

    func chunkPath(_ cli: CLI, _ id: String) -> String { cli.vault + "/chunks/\(id.prefix(2))/\(id)" }

    func flipByte(_ path: String, from end: Int = 5) throws {
        #expect(chmod(path, 0o600) == 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - end] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    /// Runs `verify ARGS --json --quiet`, requires the exit status and returns the document.
    @discardableResult
    func verify(_ cli: CLI, _ status: Int32, _ args: [String],
                sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let r = try cli.expect(status, ["verify", "--vault", cli.vault, "--json", "--quiet"] + args, sourceLocation: sourceLocation)
        #expect(r.stderr.isEmpty, "--quiet: \(r.stderr)", sourceLocation: sourceLocation)
        return try #require(try cli.json(r) as? [String: Any], sourceLocation: sourceLocation)
    }

    func points(_ doc: [String: Any]) throws -> [[String: Any]] { try #require(doc["points"] as? [[String: Any]]) }
    func failures(_ point: [String: Any]) throws -> [[String: Any]] { try #require(point["failures"] as? [[String: Any]]) }

    @Test func aCleanPointVerifiesEveryByteOfTheManifest() throws {
        let cli = try CLI("verify-ok")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("vok"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        try cli.initVault()
        let first = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let id = try #require(first["point"] as? String)
        let files = try #require(try manifest(cli, id)["files"] as? [[String: Any]])
        let size = files.reduce(0) { $0 + (($1["size"] as? Int) ?? 0) }
        #expect(size > 0)

        // Default: latest.
        let doc = try verify(cli, 0, [])
        #expect(doc["status"] as? String == "ok")
        let p = try #require(try points(doc).first)
        #expect(try points(doc).count == 1)
        #expect(p["id"] as? String == id)
        #expect(p["status"] as? String == "ok")
        #expect(p["files"] as? Int == files.count && p["filesChecked"] as? Int == files.count)
        #expect(p["bytesVerified"] as? Int == size, "bytesVerified is the sum of the manifest's file sizes (\(size))")
        #expect(try failures(p).isEmpty)
        // The manifest hash is the one `show --evidence` gives an auditor.
        let evidence = try #require(try cli.json(try cli.expect(0, ["show", "--vault", cli.vault, id, "--evidence", "--json"])) as? [String: Any])
        #expect(p["manifestSha256"] as? String == evidence["manifestSHA256"] as? String && p["manifestSha256"] != nil)

        // Human form: a line per file on stderr, the summary on stdout.
        let text = try cli.expect(0, ["verify", "--vault", cli.vault, String(id.prefix(12))])
        #expect(text.stdout.contains(id) && text.stdout.contains("intact"), "\(text.stdout)")
        for f in files { #expect(text.stderr.contains(f["path"] as? String ?? "?"), "\(text.stderr)") }

        // --all is newest first and leaves soft-deleted points out unless asked; a point
        // named twice is verified once.
        let second = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let secondId = try #require(second["point"] as? String)
        #expect(try points(try verify(cli, 0, ["--all"])).compactMap { $0["id"] as? String } == [secondId, id])
        try cli.expect(0, ["delete", "--vault", cli.vault, id, "--reason", "test"])
        #expect(try points(try verify(cli, 0, ["--all"])).compactMap { $0["id"] as? String } == [secondId])
        let withDeleted = try points(try verify(cli, 0, ["--all", "--include-deleted"]))
        #expect(withDeleted.compactMap { $0["id"] as? String } == [secondId, id])
        #expect(withDeleted.last?["state"] as? String == "soft-deleted")
        #expect(try points(try verify(cli, 0, [id, id, "latest"])).compactMap { $0["id"] as? String } == [id, secondId])

        // Usage, unknown point, missing vault.
        try cli.expect(2, ["verify", "--vault", cli.vault, "--all", id])
        let unknown = try cli.expect(1, ["verify", "--vault", cli.vault, "19990101T0000"])
        #expect(unknown.stderr.contains("point-not-found"), "\(unknown.stderr)")
        try cli.expect(10, ["verify", "--vault", cli.dir.appendingPathComponent("nothing").path])
    }

    @Test func aFlippedByteAndAMissingChunkAreBothNamedWithTheirFiles() throws {
        let cli = try CLI("verify-bad")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("vbad"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        try cli.initVault()
        let backup = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let id = try #require(backup["point"] as? String)
        let files = try #require(try manifest(cli, id)["files"] as? [[String: Any]])
        func chunks(_ path: String) throws -> [String] {
            let f = try #require(files.first { $0["path"] as? String == path })
            return try #require(f["chunks"] as? [[String: Any]]).compactMap { $0["id"] as? String }
        }
        let flipped = try #require(try chunks("\(db).dump").first)
        let removed = try #require(try chunks("\(db).database.sql").first)
        #expect(flipped != removed)
        try flipByte(chunkPath(cli, flipped))

        // One damaged file: exit 4, the dump and its chunk named, the other files still checked.
        let one = try #require(try points(try verify(cli, 4, [id])).first)
        #expect(one["status"] as? String == "damaged")
        #expect(one["filesChecked"] as? Int == files.count, "verify goes on after a bad file")
        let f1 = try failures(one)
        #expect(f1.count == 1)
        #expect(f1.first?["file"] as? String == "\(db).dump")
        #expect(((f1.first?["message"] as? String) ?? "").contains(flipped), "\(f1)")
        #expect(f1.first?["object"] as? String == "chunks/\(flipped.prefix(2))/\(flipped)")

        // And a missing chunk in another file: both reported, the missing one as missing.
        try FileManager.default.removeItem(atPath: chunkPath(cli, removed))
        let two = try #require(try points(try verify(cli, 4, [])).first)
        let f2 = try failures(two)
        #expect(Set(f2.compactMap { $0["file"] as? String }) == ["\(db).dump", "\(db).database.sql"], "\(f2)")
        let missing = try #require(f2.first { $0["file"] as? String == "\(db).database.sql" })
        let message = missing["message"] as? String ?? ""
        #expect(message.contains(removed) && message.contains("missing"), "\(message)")
        #expect(missing["object"] as? String == "chunks/\(removed.prefix(2))/\(removed)")
        // Only the intact files count as verified bytes.
        let intact = files.filter { ![ "\(db).dump", "\(db).database.sql"].contains(($0["path"] as? String) ?? "") }
        #expect(two["bytesVerified"] as? Int == intact.reduce(0) { $0 + (($1["size"] as? Int) ?? 0) })

        // The human form names the point, both files and both chunks; progress on stderr.
        let text = try cli.expect(4, ["verify", "--vault", cli.vault])
        for s in [id, "\(db).dump", "\(db).database.sql", flipped, removed, "DAMAGE FOUND"] {
            #expect(text.stdout.contains(s), "\(s) not in: \(text.stdout)")
        }
        #expect(text.stderr.contains("DAMAGED"), "\(text.stderr)")

        // A manifest that no longer decodes is damage too, named by its object.
        let key = cli.vault + "/points/\(id).json"
        #expect(chmod(key, 0o600) == 0)
        try Data("{\"id\": ".utf8).write(to: URL(fileURLWithPath: key))
        let bad = try #require(try points(try verify(cli, 4, ["--all"])).first)
        #expect(bad["id"] as? String == id && bad["status"] as? String == "damaged")
        #expect(try failures(bad).first?["object"] as? String == "points/\(id).json")
    }

    @Test func aDeltaWhoseBaseIsDamagedOrMissingNamesTheBaseChunk() throws {
        let cli = try CLI("verify-delta")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("vdl"))
        defer { cli.drop(db) }
        try loadAccounts(cli, db, rows: 150000)
        try cli.initVault()
        try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db])
        // 2 % of the rows change: every chunk of the second dump differs a little from its
        // counterpart in the first, so it is stored as a delta against it.
        _ = try cli.psql(db, "UPDATE acc SET balance = balance + 1 WHERE id % 50 = 7")
        let second = try #require(try cli.json(try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let id = try #require(second["point"] as? String)
        try verify(cli, 0, ["--all"])

        let files = try #require(try manifest(cli, id)["files"] as? [[String: Any]])
        let dump = try #require(files.first { $0["path"] as? String == "\(db).dump" })
        let chunks = try #require(dump["chunks"] as? [[String: Any]])
        let delta = try #require(chunks.first { $0["base"] is String },
                                 "the second backup stored no delta chunk: this test needs one (were deltas turned off?)")
        let base = try #require(delta["base"] as? String)
        let deltaId = try #require(delta["id"] as? String)
        #expect(base != deltaId)

        func baseIsNamed(_ doc: [String: Any], missing: Bool) throws {
            let p = try #require(try points(doc).first { $0["id"] as? String == id })
            #expect(p["status"] as? String == "damaged")
            let f = try failures(p)
            let hit = f.first { (($0["message"] as? String) ?? "").contains(base) }
            #expect(hit != nil, "no failure names base chunk \(base): \(f)")
            #expect(hit?["file"] as? String == "\(db).dump")
            #expect(hit?["object"] as? String == "chunks/\(base.prefix(2))/\(base)", "\(f)")
            if missing { #expect(((hit?["message"] as? String) ?? "").contains("missing"), "\(f)") }
        }

        // A damaged base: the delta that needs it cannot be decoded; verify names the base.
        let path = chunkPath(cli, base)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        try flipByte(path, from: 3)
        try baseIsNamed(try verify(cli, 4, [id]), missing: false)

        // A missing base: named as missing.
        try FileManager.default.removeItem(atPath: path)
        try baseIsNamed(try verify(cli, 4, [id]), missing: true)
        let text = try cli.expect(4, ["verify", "--vault", cli.vault, id])
        #expect(text.stdout.contains(base) && text.stdout.contains("\(db).dump"), "\(text.stdout)")

        // Put back, intact again.
        try original.write(to: URL(fileURLWithPath: path))
        try verify(cli, 0, ["--all"])
    }
}
