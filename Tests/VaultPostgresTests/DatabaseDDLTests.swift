import Foundation
import Testing
import VaultCore
@testable import VaultPostgres
import VaultTestSupport

@Suite struct DatabaseDDLTests {
    @Test func scriptRecreatesOwnerAclCommentAndSettings() throws {
        let base = try TestEnvironment.postgresConninfo()
        let tag = TestEnvironment.uniqueName("r")
        let owner = "own \"er\" " + tag, reader = "reader_" + tag, third = "third_" + tag
        for r in [owner, reader, third] { try Shell.psql(base, "CREATE ROLE \(ident(r))") }
        let db = try TestDB("", name: "ddl 'src' " + tag)
        let copyName = "ddl \"copy\" " + tag
        defer {
            db.drop()
            _ = try? Shell.psql(base, "DROP DATABASE IF EXISTS \(ident(copyName)) WITH (FORCE)")
            for r in [third, reader, owner] { _ = try? Shell.psql(base, "DROP ROLE IF EXISTS \(ident(r))") }
        }
        let q = ident(db.name)
        for sql in [
            "ALTER DATABASE \(q) OWNER TO \(ident(owner))",
            "REVOKE CONNECT ON DATABASE \(q) FROM PUBLIC",
            "GRANT CONNECT ON DATABASE \(q) TO \(ident(reader))",
            "GRANT CREATE ON DATABASE \(q) TO \(ident(reader)) WITH GRANT OPTION",
            "COMMENT ON DATABASE \(q) IS 'it''s the \"source\"'",
            "ALTER DATABASE \(q) SET search_path = 'my schema', public, \"$user\"",
            "ALTER DATABASE \(q) SET work_mem = '8MB'",
            "ALTER DATABASE \(q) SET application_name = 'a''b'",
            "ALTER ROLE \(ident(reader)) IN DATABASE \(q) SET statement_timeout = '5s'",
            "ALTER DATABASE \(q) CONNECTION LIMIT 7",
        ] { try Shell.psql(base, sql) }
        // A grant whose grantor is not the owner.
        try Shell.psql(base, "SET ROLE \(ident(reader)); GRANT CREATE ON DATABASE \(q) TO \(ident(third))")

        let conn = try PGConnection.connect(try ConnInfo(base))
        defer { conn.close() }
        let info = try #require(try Discovery.database(conn, named: db.name))
        #expect(info.acl != nil)
        let script = try DatabaseDDL.script(conn, database: info, renamedTo: copyName)
        #expect(script.hasPrefix("--"))
        #expect(script.contains("CREATE DATABASE \(ident(copyName)) WITH TEMPLATE = template0 OWNER = \(ident(owner)) ENCODING = 'UTF8' LOCALE_PROVIDER = libc LC_COLLATE = "))
        #expect(script.contains("REVOKE ALL ON DATABASE \(ident(copyName)) FROM PUBLIC;"))
        #expect(script.contains("WITH GRANT OPTION"))
        #expect(!script.contains("TABLESPACE"))

        let file = try TestEnvironment.temporaryDirectory("ddl").appendingPathComponent("db.sql")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let r = try Shell.run("/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", base, "-f", file.path])
        #expect(r.status == 0, "\(r.stderr)\n\(script)")

        func describe(_ name: String) throws -> [String] {
            let dbRow = try Shell.psql(base, """
                SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, datlocprovider,
                       datconnlimit, shobj_description(oid, 'pg_database')
                FROM pg_database WHERE datname = \(lit(name))
                """)
            let acl = try Shell.psql(base, """
                SELECT string_agg(x, ' ' ORDER BY x) FROM (
                  SELECT format('%s>%s:%s:%s', pg_get_userbyid(a.grantor),
                                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
                                a.privilege_type, a.is_grantable) AS x
                  FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = \(lit(name))) s
                """)
            let settings = try Shell.psql(base, """
                SELECT coalesce(pg_get_userbyid(NULLIF(s.setrole, 0)), '-'), s.setconfig::text
                FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                WHERE d.datname = \(lit(name)) ORDER BY 1
                """)
            return [dbRow, acl, settings]
        }
        let original = try describe(db.name), copy = try describe(copyName)
        #expect(original == copy)
        #expect(original[1].contains("\(reader)>\(third):CREATE:f"))
        #expect(original[2].contains("my schema"))
    }

    @Test func defaultAclAndNoSettingsGiveAPlainScript() throws {
        let db = try TestDB("ddlplain")
        defer { db.drop() }
        let conn = try PGConnection.connect(try baseInfo())
        defer { conn.close() }
        let info = try #require(try Discovery.database(conn, named: db.name))
        let script = try DatabaseDDL.script(conn, database: info)
        #expect(script.contains("CREATE DATABASE \(db.name) WITH TEMPLATE = template0 OWNER = postgres ENCODING = 'UTF8'"))
        #expect(!script.contains("REVOKE"))
        #expect(!script.contains("ALTER"))
        #expect(!script.contains("COMMENT"))
    }

    @Test func splitsListSettings() {
        #expect(DatabaseDDL.splitGUCList("\"my schema\", public, \"$user\"") == ["my schema", "public", "$user"])
        #expect(DatabaseDDL.splitGUCList("a,\"b\"\"c\"") == ["a", "b\"c"])
        #expect(DatabaseDDL.splitGUCList("") == [])
    }
}
