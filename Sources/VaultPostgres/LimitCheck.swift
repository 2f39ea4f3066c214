import Foundation
public import VaultCore

/// A bytea column (or a column of a domain over bytea).
public struct ByteaColumn: Sendable, Equatable, Hashable, Codable {
    /// Schema name.
    public var schema: String
    /// Table (or materialized view) name.
    public var table: String
    /// Column name.
    public var column: String
    /// Memberwise initializer.
    public init(schema: String, table: String, column: String) {
        self.schema = schema; self.table = table; self.column = column
    }
}

/// The largest value found in one bytea column.
public struct ByteaFinding: Sendable, Equatable, Codable {
    /// Schema name.
    public var schema: String
    /// Table (or materialized view) name.
    public var table: String
    /// Column name.
    public var column: String
    /// `max(octet_length(column))` in bytes.
    public var maxBytes: Int64
    /// Memberwise initializer.
    public init(schema: String, table: String, column: String, maxBytes: Int64) {
        self.schema = schema; self.table = table; self.column = column; self.maxBytes = maxBytes
    }
}

/// The result of the preflight limit checks of one database.
public struct LimitReport: Sendable, Equatable {
    /// The database as checked.
    public var database: DatabaseInfo
    /// The largest value of every non-empty bytea column (empty when the size check failed:
    /// then no column was scanned).
    public var findings: [ByteaFinding]
    /// The limit violation, or nil when the database may be dumped.
    public var violation: VaultError?

    /// The largest bytea value found, and its column as `schema.table.column`.
    public var largest: (bytes: Int64, column: String)? {
        findings.max(by: { $0.maxBytes < $1.maxBytes }).map { ($0.maxBytes, LimitCheck.dotted($0)) }
    }
}

/// The preflight limits: database size (default 1 TiB) and largest bytea value (default 500 MB).
public enum LimitCheck {
    /// Every column of type bytea or of a domain over bytea (domains over domains too) of the
    /// ordinary tables, partitions and materialized views of the connected database, outside
    /// pg_catalog, information_schema and pg_toast, ordered by schema, table, column position.
    public static func byteaColumns(_ conn: PGConnection) throws -> [ByteaColumn] {
        let sql = """
            WITH RECURSIVE bytea_types(oid) AS (
                SELECT 'bytea'::regtype::oid
                UNION
                SELECT t.oid FROM pg_type t JOIN bytea_types b ON t.typbasetype = b.oid WHERE t.typtype = 'd'
            )
            SELECT n.nspname, c.relname, a.attname
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.atttypid IN (SELECT oid FROM bytea_types)
              AND a.attnum > 0 AND NOT a.attisdropped
              AND c.relkind IN ('r', 'm')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
            ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C", a.attnum
            """
        return try conn.query(sql).map { ByteaColumn(schema: $0[0] ?? "", table: $0[1] ?? "", column: $0[2] ?? "") }
    }

    /// `max(octet_length(col))` of every bytea column (`FROM ONLY`, so partitions count once).
    /// octet_length reads the toast pointer: values are not detoasted. Empty columns are left out.
    /// The statement is built by the server (`format('%I.%I', ...)`), so any name is safe.
    public static func largestByteaValues(_ conn: PGConnection) throws -> [ByteaFinding] {
        var out: [ByteaFinding] = []
        for col in try byteaColumns(conn) {
            guard let sql = try conn.scalar(
                "SELECT format('SELECT max(octet_length(%I)) FROM ONLY %I.%I', $3::text, $1::text, $2::text)",
                [col.schema, col.table, col.column]) else { continue }
            if let v = try conn.scalar(sql), let n = Int64(v) {
                out.append(ByteaFinding(schema: col.schema, table: col.table, column: col.column, maxBytes: n))
            }
        }
        return out
    }

    /// Checks the size of `database` and the bytea findings against `limits`. Returns the
    /// `.limitExceeded` error to report (the database must then not be dumped), or nil.
    public static func check(database: DatabaseInfo, findings: [ByteaFinding], limits: Limits) -> VaultError? {
        if let e = checkSize(database: database, limits: limits) { return e }
        let over = findings.filter { $0.maxBytes > limits.maxByteaValue }
            .sorted { $0.maxBytes != $1.maxBytes ? $0.maxBytes > $1.maxBytes : dotted($0) < dotted($1) }
        guard let first = over.first else { return nil }
        let limit = "\(ByteSize.format(limits.maxByteaValue)) (--max-bytea-value)"
        let parts = over.map {
            "column \(dotted($0)) holds a value of \($0.maxBytes) bytes (\(ByteSize.format($0.maxBytes)))"
        }
        let message = "database \"\(database.name)\": \(parts.joined(separator: "; ")), over the limit of \(limit); it was not dumped. Raise --max-bytea-value if the dump is wanted anyway."
        return VaultError(.limitExceeded, message,
                          location: "\(database.name).\(dotted(first))")
    }

    /// The size half of `check`: nil when `database.sizeBytes` is within the limit.
    public static func checkSize(database: DatabaseInfo, limits: Limits) -> VaultError? {
        guard database.sizeBytes > limits.maxDatabaseSize else { return nil }
        return VaultError(.limitExceeded,
            "database \"\(database.name)\" is \(ByteSize.format(database.sizeBytes)), over the limit of \(ByteSize.format(limits.maxDatabaseSize)) (--max-database-size); it was not dumped.",
            cause: "pg_database_size = \(database.sizeBytes) bytes", location: database.name)
    }

    /// The whole preflight on a connection to `database` (ideally `SnapshotSession.connection`):
    /// first the cheap size check — an oversized database is refused without scanning any
    /// column — then the bytea scan. The size is re-read on `conn` when possible.
    public static func evaluate(_ conn: PGConnection, database: DatabaseInfo, limits: Limits) throws -> LimitReport {
        var db = database
        if let s = try conn.scalar("SELECT pg_database_size(current_database())"), let n = Int64(s) { db.sizeBytes = n }
        if let e = checkSize(database: db, limits: limits) {
            return LimitReport(database: db, findings: [], violation: e)
        }
        let findings = try largestByteaValues(conn)
        return LimitReport(database: db, findings: findings, violation: check(database: db, findings: findings, limits: limits))
    }

    static func dotted(_ f: ByteaFinding) -> String { "\(f.schema).\(f.table).\(f.column)" }
}
