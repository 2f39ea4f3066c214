import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

func fakeBin(_ version: String?, pgDumpAll: Bool = true) throws -> String {
    let dir = try TestEnvironment.temporaryDirectory("bin")
    if let version {
        var names = ["pg_dump"]
        if pgDumpAll { names.append("pg_dumpall") }
        for name in names {
            let f = dir.appendingPathComponent(name)
            try "#!/bin/sh\necho \"\(name) (PostgreSQL) \(version)\"\n".write(to: f, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: f.path)
        }
    }
    return dir.path
}

@Suite struct PgToolsTests {
    @Test func fakeOldPgDumpIsRefusedForNewerServer() throws {
        let dir = try fakeBin("13.2")
        let e = vaultError { _ = try PgTools.locate(serverMajor: 15, override: dir) }
        #expect(e?.code == .pgDumpMissing)
        #expect(e?.message.contains("No pg_dump of version 15 or newer found (found: 13 at \(dir))") == true)
        let ok = try PgTools.locate(serverMajor: 13, override: dir)
        #expect(ok.major == 13)
        #expect(ok.version == "13.2")
        #expect(ok.pgDump == dir + "/pg_dump")
        #expect(ok.pgDumpAll == dir + "/pg_dumpall")
        let older = try PgTools.locate(serverMajor: 12, override: dir)
        #expect(older.major == 13)
    }

    @Test func emptyDirectoryIsMissing() throws {
        let dir = try fakeBin(nil)
        let e = vaultError { _ = try PgTools.locate(serverMajor: 15, override: dir) }
        #expect(e?.code == .pgDumpMissing)
        #expect(e?.message.contains("no executable pg_dump in \(dir)") == true)
        let noAll = try fakeBin("16.1", pgDumpAll: false)
        let e2 = vaultError { _ = try PgTools.locate(serverMajor: 15, override: noAll) }
        #expect(e2?.code == .pgDumpMissing)
        #expect(e2?.message.contains("without pg_dumpall") == true)
    }

    @Test func overrideComesFromTheEnvironmentToo() throws {
        let dir = try fakeBin("17.0")
        let t = try PgTools.locate(serverMajor: 15, environment: ["PGVAULT_PG_BIN": dir, "PATH": "/usr/bin"])
        #expect(t.major == 17)
        #expect(t.binDirectory == dir)
    }

    @Test func closestMajorWins() throws {
        let d13 = try fakeBin("13.2"), d17 = try fakeBin("17.1"), d16 = try fakeBin("16.4"), d16b = try fakeBin("16.0")
        let t = try PgTools.locate(serverMajor: 14, candidateDirectories: [d13, d17, d16, d16b])
        #expect(t.major == 16)
        #expect(t.version == "16.4")
        #expect(try PgTools.locate(serverMajor: 17, candidateDirectories: [d13, d17, d16]).major == 17)
        let e = vaultError { _ = try PgTools.locate(serverMajor: 18, candidateDirectories: [d13, d16]) }
        #expect(e?.message.contains("postgresql-client-18") == true)
    }

    @Test func findsTheRealDebianPgDump() throws {
        let conn = try PGConnection.connect(try baseInfo())
        defer { conn.close() }
        let t = try PgTools.locate(serverMajor: conn.serverMajor, environment: ProcessInfo.processInfo.environment.filter { $0.key != "PGVAULT_PG_BIN" })
        #expect(t.major == conn.serverMajor)
        #expect(t.pgDump.hasSuffix("/pg_dump"))
        #expect(FileManager.default.isExecutableFile(atPath: t.pgDumpAll))
        let e = vaultError { _ = try PgTools.locate(serverMajor: 99, environment: ["PATH": "/usr/bin:/bin"]) }
        #expect(e?.code == .pgDumpMissing)
        #expect(e?.message.contains("No pg_dump of version 99 or newer found (found: \(t.major) at") == true)
        #expect(e?.message.contains("Install the Debian package postgresql-client-99 (or point --pg-bin at a directory holding pg_dump and pg_dumpall)") == true)
    }
}
