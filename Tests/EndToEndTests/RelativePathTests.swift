import Foundation
import Testing
import VaultCore
import VaultTestSupport

/// Vault locations relative to the working directory (`pgvault init v` used to die with
/// SIGILL in LocalStorage.makeDirectories): every command that takes --vault, run from a
/// temporary working directory.
@Suite("Relative vault paths")
struct RelativePathTests {
    @Test(arguments: ["v", "./v", "a/b/v"])
    func everyCommandWorksWithARelativeVaultPath(vault: String) throws {
        let cli = try CLI("relative")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("rel"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db, rows: 100)

        @discardableResult
        func pgvault(_ status: Int32, _ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
            let r = try Shell.run(cli.binary, args, removing: ["PGVAULT_VAULT"], cwd: cli.dir)
            #expect(r.status == status, "pgvault \(args.joined(separator: " ")) in \(cli.dir.path) exited \(r.status)\nstdout: \(r.stdout)\nstderr: \(r.stderr)",
                    sourceLocation: sourceLocation)
            return r
        }

        try pgvault(0, ["init", vault])
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: cli.dir.appendingPathComponent(vault).appendingPathComponent("vault.json").path))
        #expect(FileManager.default.fileExists(atPath: cli.dir.appendingPathComponent(vault).path, isDirectory: &isDir) && isDir.boolValue)
        try pgvault(0, ["points", "--vault", vault])
        try pgvault(0, ["vault", "--vault", vault])
        try pgvault(0, ["vault", "set", "--vault", vault, "--soft-delete", "disabled"])
        try pgvault(0, ["check", "--vault", vault, "--conninfo", cli.base, "--database", db])
        let backup = try #require(try cli.json(try pgvault(0, ["backup", "--vault", vault, "--conninfo", cli.base, "--database", db, "--json"])) as? [String: Any])
        let point = try #require(backup["point"] as? String)
        let listed = try #require(try cli.json(try pgvault(0, ["points", "--vault", vault, "--json"])) as? [[String: Any]])
        #expect(listed.map { $0["id"] as? String } == [point])
        try pgvault(0, ["show", "--vault", vault, point])
        try pgvault(0, ["show", "--vault", vault, point, "--evidence"])
        try pgvault(0, ["verify", "--vault", vault, point])
        try pgvault(0, ["jobs", "--vault", vault])
        try pgvault(0, ["audit", "--vault", vault, "--verify"])
        try pgvault(0, ["vault", "reindex", "--vault", vault])
        try pgvault(0, ["restore", "--vault", vault, "latest", "--to", "out"])
        #expect(FileManager.default.fileExists(atPath: cli.dir.appendingPathComponent("out/\(db).dump").path))
        try pgvault(0, ["init", "c"])
        try pgvault(0, ["copy", "--from", vault, "--to", "c"])
        try pgvault(0, ["points", "--vault", "c", "--json"])
        try pgvault(0, ["hold", "set", "--vault", vault, point, "--reason", "test"])
        try pgvault(0, ["hold", "clear", "--vault", vault, point, "--reason", "test"])
        try pgvault(0, ["delete", "--vault", vault, point, "--reason", "test"])
        try pgvault(0, ["purge", "--vault", vault])
        let after = try #require(try cli.json(try pgvault(0, ["points", "--vault", vault, "--json", "--state", "all"])) as? [[String: Any]])
        #expect(after.isEmpty)
    }
}
