import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

@Suite struct ConnInfoTests {
    @Test func parsesKeyValuePairs() throws {
        let c = try ConnInfo("host=db.example port=6543 user=alice dbname=sales password=s3cret")
        #expect(c.options["host"] == "db.example")
        #expect(c.options["port"] == "6543")
        #expect(c.hasPassword)
        #expect(c.password == "s3cret")
        #expect(c.display() == "alice@db.example:6543/sales")
        #expect(c.display(database: "other") == "alice@db.example:6543/other")
        let s = c.connectionString(database: nil, includePassword: false)
        #expect(!s.contains("s3cret"))
        #expect(s == "dbname='sales' host='db.example' port='6543' user='alice'")
        #expect(c.connectionString(database: nil, includePassword: true).contains("password='s3cret'"))
    }

    @Test func hostPortAndServerName() throws {
        let c = try ConnInfo("host=db.example port=6543 user=alice")
        #expect(c.host == "db.example")
        #expect(c.port == "6543")
        #expect(c.serverName == "db.example:6543")
        let sock = try ConnInfo("host=/var/run/postgresql port=5433")
        #expect(sock.serverName == "local:5433")
        #expect(!sock.serverName.contains("/"))
    }

    @Test func parsesURIs() throws {
        let c = try ConnInfo("postgresql://bob:pa%3Ass@10.0.0.5:5433/inventory?sslmode=disable")
        #expect(c.options["user"] == "bob")
        #expect(c.password == "pa:ss")
        #expect(c.options["sslmode"] == "disable")
        #expect(c.display() == "bob@10.0.0.5:5433/inventory")
        let noPass = try ConnInfo("postgres://carol@h/db")
        #expect(!noPass.hasPassword)
        #expect(noPass.password == nil)
    }

    @Test func emptyMeansDefaults() throws {
        let c = try ConnInfo("")
        #expect(c.options.isEmpty)
        #expect(c.connectionString(database: nil, includePassword: false) == "")
        #expect(c.connectionString(database: "x", includePassword: false) == "dbname='x'")
        let d = c.display()
        #expect(d.contains("@") && d.contains(":") && d.contains("/"))
    }

    @Test func invalidStringsAreRefusedWithoutThePassword() throws {
        for bad in ["password=hunter2 host=h port", "host='unterminated password=hunter2", "password=hunter2 nosuchoption=1",
                    "postgresql://u:hunter2@h:5432/db?nosuch=1"] {
            let e = vaultError { _ = try ConnInfo(bad) }
            #expect(e?.code == .invalidArgument, "\(bad)")
            #expect(e.map { !$0.description.contains("hunter2") } ?? false, "\(e?.description ?? "")")
            #expect(e?.cause?.isEmpty == false)
        }
    }

    @Test func quotingRoundTripsAwkwardDatabaseNames() throws {
        let c = try ConnInfo("host=127.0.0.1 user=postgres")
        for name in ["it's \"q\"", "sp ace ü", "-dash", "a=b", "back\\slash\\", "'", "postgresql://x", "日本語"] {
            let s = c.connectionString(database: name, includePassword: false)
            let back = try ConnInfo(s)
            #expect(back.options["dbname"] == name, "\(s)")
            #expect(back.options["host"] == "127.0.0.1")
        }
    }

    @Test func connectsToAwkwardlyNamedDatabases() throws {
        let suffix = TestEnvironment.uniqueName("")
        let info = try baseInfo()
        for stem in ["it's \"q\" ", "sp ace ü ", "-dash", "a=b ", "back\\slash ", "postgresql://x "] {
            let db = try TestDB("", name: stem + suffix)
            defer { db.drop() }
            let conn = try PGConnection.connect(info, database: db.name)
            defer { conn.close() }
            #expect(try conn.scalar("SELECT current_database()") == db.name)
            #expect(conn.database == db.name)
            #expect(conn.display.hasSuffix("/" + db.name))
        }
    }
}
