import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

@Suite struct SnapshotTests {
    @Test func snapshotIsHeldAndUsableByPgDump() throws {
        let db = try TestDB("snap")
        defer { db.drop() }
        try db.psql("CREATE TABLE t (v text); INSERT INTO t VALUES ('before')")
        let info = try baseInfo()
        let session = try SnapshotSession(info, database: db.name)
        defer { session.close() }
        let id = try #require(session.snapshotId)
        #expect(id.contains("-"))
        #expect(session.snapshotError == nil)
        #expect(try session.connection.scalar("SELECT count(*) FROM t") == "1")

        try db.psql("INSERT INTO t VALUES ('after')")
        #expect(try session.connection.scalar("SELECT count(*) FROM t") == "1")   // same snapshot
        #expect(try db.psql("SELECT count(*) FROM t").trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        #expect(try session.connection.scalar("SELECT current_setting('transaction_read_only')") == "on")

        // pg_dump --snapshot sees the exported snapshot, not the later insert.
        let tools = try PgTools.locate(serverMajor: session.connection.serverMajor)
        let cmd = try DumpCommand.pgDump(tools: tools, conn: info, database: db.name, snapshot: id)
        defer { cmd.cleanup() }
        let child = try cmd.spawn()
        let dump = try child.readAll()
        let r = child.wait()
        #expect(r.status == 0, "\(r.stderr)")
        let file = try TestEnvironment.temporaryDirectory("snap").appendingPathComponent("d.dump")
        try dump.write(to: file)
        let restore = try Shell.run(tools.binDirectory + "/pg_restore", ["--data-only", "-f", "-", file.path])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(restore.stdout.contains("before"))
        #expect(!restore.stdout.contains("after"))

        session.close()
        session.close()
        #expect(!session.connection.isOpen)
    }
}
