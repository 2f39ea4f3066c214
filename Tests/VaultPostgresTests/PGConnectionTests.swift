import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

@Suite struct PGConnectionTests {
    @Test func queriesWithParametersAndNulls() throws {
        let conn = try PGConnection.connect(try baseInfo())
        defer { conn.close() }
        let rows = try conn.query("SELECT $1::text, $2::int + 1, NULL::text, current_setting('application_name')", ["héllo 'x'", "41"])
        #expect(rows.count == 1)
        #expect(rows[0] == ["héllo 'x'", "42", nil, "pgvault"])
        #expect(try conn.query("SELECT $1::text IS NULL", [nil]) == [["t"]])
        #expect(try conn.query("SELECT 1 WHERE false").isEmpty)
        try conn.exec("SET work_mem = '8MB'; SELECT 1")
        #expect(conn.serverVersionNum >= 150000)
        #expect(conn.serverMajor == conn.serverVersionNum / 10000)
        #expect(conn.serverVersion.hasPrefix("\(conn.serverMajor)."))
    }

    @Test func explicitApplicationNameWins() throws {
        let info = try baseInfo().setting("application_name", "mine")
        let conn = try PGConnection.connect(info)
        defer { conn.close() }
        #expect(try conn.scalar("SELECT current_setting('application_name')") == "mine")
    }

    @Test func queryErrorsCarrySQLSTATE() throws {
        let conn = try PGConnection.connect(try baseInfo())
        defer { conn.close() }
        let e = vaultError { _ = try conn.query("SELECT * FROM no_such_table_here") }
        #expect(e?.code == .query)
        #expect(e?.message.contains("42P01") == true)
        #expect(e?.message.contains("no_such_table_here") == true)
        #expect(e?.cause?.contains("SQLSTATE 42P01") == true)
        let e2 = vaultError { try conn.exec("SELEC 1") }
        #expect(e2?.code == .query)
        #expect(e2?.message.contains("42601") == true)
        // The connection is still usable after an error.
        #expect(try conn.scalar("SELECT 7") == "7")
    }

    @Test func wrongPortIsAConnectionErrorWithoutThePassword() throws {
        let info = try ConnInfo("host=127.0.0.1 port=1 user=postgres dbname=postgres password=s3cret connect_timeout=5")
        let e = vaultError { _ = try PGConnection.connect(info) }
        #expect(e?.code == .connection)
        #expect(e?.message.contains("Cannot connect") == true)
        #expect(e?.message.contains("postgres@127.0.0.1:1/postgres") == true)
        #expect(e?.cause?.isEmpty == false)
        #expect(e.map { !$0.description.contains("s3cret") } ?? false)
    }

    @Test func cancelStopsARunningQueryAndEveryLaterOne() throws {
        let conn = try PGConnection.connect(try baseInfo())
        defer { conn.close() }
        // A cancel while the statement runs: it fails with 57014 well before its 30 s.
        let started = Date()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { conn.cancel() }
        let e = vaultError { _ = try conn.query("SELECT pg_sleep(30)") }
        #expect(e?.code == .query && e?.message.contains("57014") == true, "\(String(describing: e))")
        #expect(Date().timeIntervalSince(started) < 10)
        // A cancel that came before a statement (an interrupt between two queries) stops the
        // next one before it is sent: it never reaches the server to wait there.
        let later = vaultError { _ = try conn.query("SELECT pg_sleep(30)") }
        #expect(later?.code == .query && later?.message.contains("not started") == true, "\(String(describing: later))")
        #expect(later?.cause?.contains("57014") == true)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func closeIsIdempotent() throws {
        let conn = try PGConnection.connect(try baseInfo())
        #expect(conn.isOpen)
        conn.close()
        conn.close()
        #expect(!conn.isOpen)
        let e = vaultError { _ = try conn.query("SELECT 1") }
        #expect(e?.code == .connection)
    }
}
