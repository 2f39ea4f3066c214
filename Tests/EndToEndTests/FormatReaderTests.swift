import Foundation
import Testing
import VaultTestSupport

/// vault/FORMAT.md's "Restoring a file without pgvault" reader (Python with the `zstandard`
/// package, which scripts/test.sh installs from PyPI), run against a vault pgvault wrote:
/// the specification alone gets every point's dump back, delta chains and all.
@Suite("FORMAT.md's reference reader")
struct FormatReaderTests {
    /// The repository's vault/FORMAT.md, found from this file's path.
    private var formatDoc: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("vault/FORMAT.md")
    }

    /// The Python block of the section "Restoring a file without pgvault".
    private func referenceReader() throws -> String {
        let doc = try String(contentsOf: formatDoc, encoding: .utf8)
        let section = try #require(doc.range(of: "## Restoring a file without pgvault"), "FORMAT.md has the section")
        let rest = doc[section.upperBound...]
        let open = try #require(rest.range(of: "```python\n"))
        let close = try #require(rest[open.upperBound...].range(of: "\n```"))
        return String(rest[open.upperBound..<close.lowerBound])
    }

    @Test func theSpecsPythonReaderRestoresEveryPointOfAChainedVaultByteForByte() throws {
        let python = try TestEnvironment.referencePython()
        let cli = try CLI("specreader")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("spec"))
        defer { cli.drop(db) }
        try loadAccounts(cli, db, rows: 40_000)
        try cli.initVault()
        var ids: [String] = []
        for week in 0..<5 {
            if week > 0 {
                _ = try cli.psql(db, """
                    UPDATE acc SET balance = balance + \(week) WHERE id % 37 = \(week);
                    DELETE FROM acc WHERE id % 401 = \(week);
                    INSERT INTO acc SELECT g, 0, md5(g::text) FROM generate_series(\(50_000 + week * 300), \(50_299 + week * 300)) g;
                    """)
            }
            let r = try cli.expect(0, ["backup", "--vault", cli.vault, "--conninfo", cli.base, "--server-name", "spec",
                                       "--database", db, "--json"])
            let summary = try #require(try cli.json(r) as? [String: Any])
            ids.append(try #require(summary["point"] as? String))
        }
        // The vault holds what the reader must handle: full chunks and op deltas (codec 4).
        var codecs: Set<UInt8> = []
        let chunks = URL(fileURLWithPath: cli.vault).appendingPathComponent("chunks")
        for case let f as URL in FileManager.default.enumerator(at: chunks, includingPropertiesForKeys: nil) ?? .init()
        where !f.hasDirectoryPath {
            if let h = try? Data(contentsOf: f).prefix(6), h.count == 6 { codecs.insert(h[h.startIndex + 5]) }
        }
        #expect(codecs.contains(1) && codecs.contains(4), "codecs in the vault: \(codecs.sorted())")

        let out = cli.dir.appendingPathComponent("spec-out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let script = cli.dir.appendingPathComponent("reader.py")
        try (try referenceReader() + """


            import sys, os
            vault, out = sys.argv[1], sys.argv[2]
            for pid in sys.argv[3:]:
                m = manifest(vault, pid)
                for f in m["files"]:
                    restore(vault, pid, f["path"], os.path.join(out, pid + "-" + f["path"]))
            print("restored", len(sys.argv) - 3)
            """).write(to: script, atomically: true, encoding: .utf8)
        let r = try Shell.run(python, [script.path, cli.vault, out.path] + ids)
        #expect(r.status == 0, "the reference reader failed: \(r.stderr)")

        for id in ids {
            let restored = cli.dir.appendingPathComponent("r-\(id)")
            try cli.expect(0, ["restore", id, "--vault", cli.vault, "--to", restored.path, "--quiet"])
            let names = try FileManager.default.contentsOfDirectory(atPath: restored.path).filter { $0.hasSuffix(".dump") || $0.hasSuffix(".sql") }
            #expect(names.contains { $0.hasSuffix(".dump") })
            for name in names where !["RESTORE.md", "SHA256SUMS", "manifest.json"].contains(name) {
                let ours = try Data(contentsOf: restored.appendingPathComponent(name))
                let theirs = try? Data(contentsOf: out.appendingPathComponent("\(id)-\(name)"))
                let same = ours == theirs   // a Bool: #expect would diff two dumps byte by byte
                #expect(same, "point \(id): \(name) from the reference reader (\(theirs?.count ?? -1) bytes) equals pgvault's restore (\(ours.count) bytes)")
            }
        }
    }
}
