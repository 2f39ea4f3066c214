import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

@Suite struct LimitCheckTests {
    static let setup = """
        CREATE SCHEMA "Sch ema";
        CREATE TABLE "Sch ema"."we""ird tab" (id int, "da ta" bytea, other text);
        INSERT INTO "Sch ema"."we""ird tab" VALUES (1, decode(repeat('ab', 2000), 'hex'), 'x'), (2, '\\x00', 'y'), (3, NULL, 'z');
        CREATE DOMAIN blob AS bytea;
        CREATE DOMAIN blob2 AS blob CHECK (octet_length(VALUE) < 100000000);
        CREATE TABLE public.docs (id int, body blob2, thumb blob, dropped bytea, empty bytea);
        ALTER TABLE public.docs DROP COLUMN dropped;
        INSERT INTO public.docs VALUES (1, convert_to(repeat('é', 1500), 'UTF8')::blob2, '\\x0102');
        CREATE TABLE public.parted (k int, b bytea) PARTITION BY RANGE (k);
        CREATE TABLE public.parted_1 PARTITION OF public.parted FOR VALUES FROM (0) TO (100);
        INSERT INTO public.parted VALUES (1, '\\x010203');
        CREATE MATERIALIZED VIEW public.mv AS SELECT "da ta" AS mb FROM "Sch ema"."we""ird tab";
        CREATE VIEW public.v AS SELECT body FROM public.docs;
        """

    @Test func findsByteaAndDomainColumnsWithAwkwardNames() throws {
        let db = try TestDB("lim")
        defer { db.drop() }
        try db.psql(Self.setup)
        let conn = try PGConnection.connect(try baseInfo(), database: db.name)
        defer { conn.close() }
        let cols = try LimitCheck.byteaColumns(conn)
        let dotted = Set(cols.map { "\($0.schema).\($0.table).\($0.column)" })
        #expect(dotted == ["Sch ema.we\"ird tab.da ta", "public.docs.body", "public.docs.thumb", "public.docs.empty",
                           "public.parted_1.b", "public.mv.mb"])

        let found = try LimitCheck.largestByteaValues(conn)
        let bySize = Dictionary(uniqueKeysWithValues: found.map { ("\($0.schema).\($0.table).\($0.column)", $0.maxBytes) })
        #expect(bySize["Sch ema.we\"ird tab.da ta"] == 2000)
        #expect(bySize["public.docs.body"] == 3000)
        #expect(bySize["public.docs.thumb"] == 2)
        #expect(bySize["public.parted_1.b"] == 3)
        #expect(bySize["public.mv.mb"] == 2000)
        #expect(bySize["public.docs.empty"] == nil)   // all NULL: no finding

        let info = try #require(try Discovery.database(conn, named: db.name))
        #expect(LimitCheck.check(database: info, findings: found, limits: Limits()) == nil)
        let e = try #require(LimitCheck.check(database: info, findings: found, limits: Limits(maxByteaValue: 1000)))
        #expect(e.code == .limitExceeded)
        #expect(e.location == "\(db.name).public.docs.body")
        let m = e.message
        #expect(m.hasPrefix("database \"\(db.name)\": column public.docs.body holds a value of 3000 bytes (2.9 KiB)"))
        #expect(m.contains("column Sch ema.we\"ird tab.da ta holds a value of 2000 bytes"))
        #expect(m.contains("over the limit of 1000 B (--max-bytea-value); it was not dumped"))
        let body = try #require(m.range(of: "public.docs.body")), weird = try #require(m.range(of: "we\"ird tab"))
        #expect(body.lowerBound < weird.lowerBound)   // largest first
        #expect(!m.contains("thumb"))
    }

    @Test func sizeLimitComesFirstAndDoesNotScan() throws {
        let db = try TestDB("limsz")
        defer { db.drop() }
        try db.psql(Self.setup)
        let info = try baseInfo()
        // Another session locks the table: any scan of it would wait (and hit lock_timeout).
        let locker = try PGConnection.connect(info, database: db.name)
        defer { locker.close() }
        try locker.exec("BEGIN; LOCK TABLE \"Sch ema\".\"we\"\"ird tab\" IN ACCESS EXCLUSIVE MODE")
        let conn = try PGConnection.connect(info, database: db.name)
        defer { conn.close() }
        try conn.exec("SET lock_timeout = '2s'")
        let dbInfo = try #require(try Discovery.database(conn, named: db.name))

        let report = try LimitCheck.evaluate(conn, database: dbInfo, limits: Limits(maxDatabaseSize: 1024 * 1024, maxByteaValue: 1))
        let e = try #require(report.violation)
        #expect(report.findings.isEmpty)
        #expect(e.code == .limitExceeded)
        #expect(e.location == db.name)
        #expect(e.message.hasPrefix("database \"\(db.name)\" is "))
        #expect(e.message.contains("over the limit of 1 MiB (--max-database-size); it was not dumped"))
        // Within the size limit the scan runs and does hit the lock.
        let blocked = vaultError { _ = try LimitCheck.evaluate(conn, database: dbInfo, limits: Limits(maxByteaValue: 1)) }
        #expect(blocked?.code == .query)
        #expect(blocked?.message.contains("55P03") == true)
        try locker.exec("ROLLBACK")
        let ok = try LimitCheck.evaluate(conn, database: dbInfo, limits: Limits(maxByteaValue: 2500))
        #expect(ok.violation?.location == "\(db.name).public.docs.body")
        #expect(ok.findings.count == 5)
    }

    @Test func sizeMessageUsesHumanSizes() {
        let info = DatabaseInfo(name: "big", oid: 1, sizeBytes: Int64(1.2 * 1_099_511_627_776), owner: "o", encoding: "UTF8",
                                collate: "C", ctype: "C", localeProvider: "libc", icuLocale: nil, tablespace: "pg_default",
                                acl: nil, comment: nil)
        let e = LimitCheck.check(database: info, findings: [ByteaFinding(schema: "s", table: "t", column: "c", maxBytes: 1 << 40)],
                                 limits: Limits())
        #expect(e?.message == "database \"big\" is 1.2 TiB, over the limit of 1 TiB (--max-database-size); it was not dumped.")
    }
}
