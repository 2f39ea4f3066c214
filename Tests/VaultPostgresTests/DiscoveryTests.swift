import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

@Suite struct DiscoveryTests {
    @Test func listsIncludesAndExcludes() throws {
        let prefix = TestEnvironment.uniqueName("disc")
        let a = try TestDB("", name: prefix + "_alpha")
        let b = try TestDB("", name: prefix + "_beta")
        let c = try TestDB("", name: prefix + "_gamma")
        let closed = try TestDB("", name: prefix + "_closed")
        defer { [a, b, c, closed].forEach { $0.drop() } }
        try Shell.psql(a.base, "ALTER DATABASE \(ident(closed.name)) ALLOW_CONNECTIONS false")
        try Shell.psql(a.base, "COMMENT ON DATABASE \(ident(b.name)) IS 'the b one'")
        let conn = try PGConnection.connect(try baseInfo())
        defer { conn.close() }

        let all = try Discovery.databases(conn, include: [], exclude: [])
        let names = all.map(\.name)
        #expect(names.contains(a.name) && names.contains(b.name) && names.contains(c.name))
        #expect(!names.contains(closed.name))
        #expect(!names.contains("template0") && !names.contains("template1"))
        #expect(names == names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        let infoB = try #require(all.first { $0.name == b.name })
        #expect(infoB.comment == "the b one")
        #expect(infoB.sizeBytes > 1_000_000)
        #expect(infoB.owner == "postgres")
        #expect(infoB.encoding == "UTF8")
        #expect(infoB.localeProvider == "libc")
        #expect(infoB.tablespace == "pg_default")
        #expect(infoB.acl == nil)
        #expect(infoB.oid > 0)

        let included = try Discovery.databases(conn, include: [c.name, a.name], exclude: [])
        #expect(included.map(\.name) == [a.name, c.name])

        let excluded = try Discovery.databases(conn, include: [a.name, b.name, c.name], exclude: ["*_be?a", "nomatch*"])
        #expect(excluded.map(\.name) == [a.name, c.name])
        let pattern = try Discovery.databases(conn, include: [], exclude: [prefix + "_*"])
        #expect(!pattern.contains { $0.name.hasPrefix(prefix) })

        #expect(Discovery.matches(pattern: "app_[0-9]*", name: "app_1x"))
        #expect(!Discovery.matches(pattern: "app_?", name: "app_12"))
    }

    @Test func unknownOrClosedIncludedDatabaseIsRefused() throws {
        let db = try TestDB("discx")
        let closed = try TestDB("discc")
        defer { db.drop(); closed.drop() }
        try Shell.psql(db.base, "ALTER DATABASE \(ident(closed.name)) ALLOW_CONNECTIONS false")
        let conn = try PGConnection.connect(try baseInfo())
        defer { conn.close() }
        let missing = db.name + "_nope"
        let e = vaultError { _ = try Discovery.databases(conn, include: [db.name, missing], exclude: []) }
        #expect(e?.code == .invalidArgument)
        #expect(e?.message.contains("\"\(missing)\" does not exist") == true)
        #expect(e?.message.contains(db.name) == true)   // lists what exists
        let e2 = vaultError { _ = try Discovery.databases(conn, include: [closed.name], exclude: []) }
        #expect(e2?.code == .invalidArgument)
        #expect(e2?.message.contains("does not allow connections") == true)
        let e3 = vaultError { _ = try Discovery.databases(conn, include: ["template0"], exclude: []) }
        #expect(e3?.code == .invalidArgument)
    }

    @Test func excludingEverythingIsNoDatabases() throws {
        let conn = try PGConnection.connect(try baseInfo())
        defer { conn.close() }
        let e = vaultError { _ = try Discovery.databases(conn, include: [], exclude: ["*"]) }
        #expect(e?.code == .noDatabases)
    }
}
