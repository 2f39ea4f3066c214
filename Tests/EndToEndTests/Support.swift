import Foundation
import Testing
import VaultCore
import VaultFormat
import VaultTestSupport

/// Drives the real `pgvault` binary against the real PostgreSQL started by scripts/test.sh.
struct CLI {
    let binary: String
    let base: String          // conninfo of the test server
    let dir: URL              // private scratch directory of this test
    var vault: String { dir.appendingPathComponent("vault").path }

    init(_ label: String) throws {
        binary = try TestEnvironment.pgvaultBinary()
        base = try TestEnvironment.postgresConninfo()
        dir = try TestEnvironment.temporaryDirectory(label)
    }

    @discardableResult
    func run(_ args: [String], env: [String: String] = [:]) throws -> RunResult {
        try Shell.run(binary, args, environment: env, removing: ["PGVAULT_VAULT"])
    }

    /// Runs and requires the exit status.
    @discardableResult
    func expect(_ status: Int32, _ args: [String], env: [String: String] = [:],
                sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
        let r = try run(args, env: env)
        #expect(r.status == status, "pgvault \(args.joined(separator: " ")) exited \(r.status)\nstdout: \(r.stdout)\nstderr: \(r.stderr)",
                sourceLocation: sourceLocation)
        return r
    }

    /// Starts `pgvault ARGS` in the background (output discarded unless `stdout` is given),
    /// for tests that kill it or run something beside it.
    func spawn(_ args: [String], env: [String: String] = [:], stdout: Pipe? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        if !env.isEmpty {
            var e = ProcessInfo.processInfo.environment
            for (k, v) in env { e[k] = v }
            p.environment = e
        }
        p.standardOutput = stdout ?? FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    func initVault() throws {
        try expect(0, ["init", vault])
    }

    func conninfo(_ db: String) -> String { Shell.conninfo(base, database: db) }

    func psql(_ db: String, _ sql: String) throws -> String { try Shell.psql(conninfo(db), sql) }

    /// Creates a database (any name) and returns it; dropped by `drop`.
    func createDatabase(_ name: String) throws -> String {
        try Shell.psql(base, "CREATE DATABASE \(ident(name)) TEMPLATE template0 ENCODING 'UTF8'")
        return name
    }

    func drop(_ names: String...) {
        for n in names { _ = try? Shell.psql(base, "DROP DATABASE IF EXISTS \(ident(n)) WITH (FORCE)") }
    }

    func json(_ r: RunResult) throws -> Any {
        try JSONSerialization.jsonObject(with: r.stdoutData)
    }

    func cleanup() { try? FileManager.default.removeItem(at: dir) }
}

func ident(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

/// A stable fingerprint of every user table's contents, to compare a source and a restore.
func fingerprint(_ cli: CLI, _ db: String) throws -> [String: String] {
    let tables = try cli.psql(db, """
        SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1
        """).split(separator: "\n").map(String.init)
    var out: [String: String] = [:]
    for t in tables {
        out[t] = try cli.psql(db, "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM \(t) x")
    }
    return out
}

/// Fills `db` with a small but varied data set: text, numbers, NULLs, bytea, a domain over
/// bytea, a schema and table with awkward names.
func loadSampleData(_ cli: CLI, _ db: String, rows: Int = 2000) throws {
    _ = try cli.psql(db, """
        CREATE DOMAIN blob AS bytea;
        CREATE TABLE items(id serial PRIMARY KEY, name text, price numeric(10,2), note text, created timestamptz DEFAULT '2024-01-01');
        INSERT INTO items(name, price, note) SELECT 'item ' || g, g * 1.5, CASE WHEN g % 7 = 0 THEN NULL ELSE repeat('x', g % 50) END FROM generate_series(1, \(rows)) g;
        CREATE TABLE images(id int PRIMARY KEY, data bytea, thumb blob);
        INSERT INTO images SELECT g, decode(repeat(md5(g::text), 128), 'hex'), decode(md5(g::text), 'hex') FROM generate_series(1, 50) g;
        CREATE SCHEMA "Odd Schema";
        CREATE TABLE "Odd Schema"."we""ird tab"("da ta" bytea, "ünï" text);
        INSERT INTO "Odd Schema"."we""ird tab" VALUES ('\\x00ff', 'ça va'), (NULL, 'null row');
        CREATE INDEX ON items(name);
        CREATE VIEW cheap AS SELECT * FROM items WHERE price < 10;
        """)
}

/// A table of `rows` accounts (~70 bytes of poorly compressible filler each) for the delta
/// tests: updating a few percent of its rows touches every chunk of the next dump a little.
func loadAccounts(_ cli: CLI, _ db: String, rows: Int) throws {
    _ = try cli.psql(db, """
        CREATE TABLE acc(id int PRIMARY KEY, balance int, filler text);
        INSERT INTO acc SELECT g, g % 1000, md5(g::text) || md5((g * 3)::text) FROM generate_series(1, \(rows)) g;
        """)
}

/// Bulk data for tests that need a backup to take a while: about `mb` MB of poorly
/// compressible rows.
func loadBulkData(_ cli: CLI, _ db: String, mb: Int) throws {
    _ = try cli.psql(db, """
        CREATE TABLE bulk(id int, payload text);
        INSERT INTO bulk SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 17)::text)
        FROM generate_series(1, \(mb * 7000)) g;
        """)
}

/// The JSON of the manifest of point `id` in the local vault at `vault`, as the backup wrote it
/// (the stored object is zstd-compressed from vault format 3 on: `ManifestCodec`).
func storedManifestJSON(_ vault: String, _ id: String) throws -> Data {
    let key = "points/\(id).json"
    return try ManifestCodec.json(Data(contentsOf: URL(fileURLWithPath: vault + "/" + key)), what: key)
}
