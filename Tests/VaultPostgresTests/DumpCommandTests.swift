import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

@Suite struct DumpCommandTests {
    @Test func pgDumpStreamsACustomArchiveWithoutThePasswordOnTheCommandLine() throws {
        let db = try TestDB("", name: TestEnvironment.uniqueName("-dump 'q'"))
        defer { db.drop() }
        try db.psql("CREATE TABLE t (id int, b bytea); INSERT INTO t SELECT g, decode(md5(g::text), 'hex') FROM generate_series(1, 1000) g")
        let base = try TestEnvironment.postgresConninfo()
        let info = try ConnInfo(base + " password='s3cret:\\\\x'")
        #expect(info.password == "s3cret:\\x")
        let conn = try PGConnection.connect(info)
        defer { conn.close() }
        let tools = try PgTools.locate(serverMajor: conn.serverMajor)
        let cmd = try DumpCommand.pgDump(tools: tools, conn: info, database: db.name, snapshot: nil,
                                         environment: ["PATH": "/usr/bin:/bin", "PGPASSWORD": "env-secret"])
        #expect(cmd.executable == tools.pgDump)
        #expect(Array(cmd.arguments.prefix(3)) == ["--format=custom", "--compress=0", "--no-password"])
        #expect(cmd.arguments.last?.hasPrefix("--dbname=") == true)
        #expect(!cmd.arguments.joined(separator: " ").contains("s3cret"))
        // The conninfo's password reaches the child through its environment only, beating ours.
        #expect(cmd.environment["PGPASSWORD"] == "s3cret:\\x")
        #expect(cmd.environment["PGPASSFILE"] == nil)
        #expect(cmd.environment["PATH"] == "/usr/bin:/bin")

        let child = try cmd.spawn()
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = try buf.withUnsafeMutableBytes { try child.read(into: $0) }
            if n == 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        let r = child.wait()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(data.starts(with: Array("PGDMP".utf8)))
        #expect(data.count > 16_000)
        cmd.cleanup()
        cmd.cleanup()
    }

    @Test func noPasswordMeansNoPassfile() throws {
        let info = try ConnInfo("host=h user=u")
        let tools = PgTools(pgDump: "/x/pg_dump", pgDumpAll: "/x/pg_dumpall", major: 15, version: "15.1")
        let cmd = try DumpCommand.pgDump(tools: tools, conn: info, database: "d b", snapshot: "00000003-00000002-1",
                                         environment: ["A": "1"])
        #expect(cmd.arguments == ["--format=custom", "--compress=0", "--no-password", "--snapshot=00000003-00000002-1",
                                  "--dbname=dbname='d b' host='h' user='u'"])
        #expect(cmd.environment == ["A": "1"])
        cmd.cleanup()
    }

    @Test func pgDumpAllGlobals() throws {
        let base = try TestEnvironment.postgresConninfo()
        let info = try ConnInfo(base + " password=s3cret")
        let conn = try PGConnection.connect(info)
        defer { conn.close() }
        let tools = try PgTools.locate(serverMajor: conn.serverMajor)
        let roles = try DumpCommand.pgDumpAllGlobals(tools: tools, conn: info, globals: .roles, noRolePasswords: true)
        defer { roles.cleanup() }
        #expect(roles.executable == tools.pgDumpAll)
        #expect(Array(roles.arguments.prefix(3)) == ["--roles-only", "--no-role-passwords", "--no-password"])
        #expect(!roles.arguments.joined().contains("s3cret"))
        let c = try roles.spawn()
        let out = String(decoding: try c.readAll(), as: UTF8.self)
        let r = c.wait()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(out.contains("CREATE ROLE postgres;"))

        let ts = try DumpCommand.pgDumpAllGlobals(tools: tools, conn: info, globals: .tablespaces, noRolePasswords: true)
        defer { ts.cleanup() }
        #expect(ts.arguments.first == "--tablespaces-only")
        #expect(!ts.arguments.contains("--no-role-passwords"))
        let c2 = try ts.spawn()
        let out2 = String(decoding: try c2.readAll(), as: UTF8.self)
        #expect(c2.wait().status == 0)
        #expect(out2.contains("PostgreSQL database cluster dump"))
    }
}
