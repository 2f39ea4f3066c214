import Foundation
import VaultCore

/// One database of a server, as discovered in `pg_database`.
public struct DatabaseInfo: Sendable, Equatable, Codable {
    /// The database name (may hold any character).
    public var name: String
    /// `pg_database.oid`.
    public var oid: UInt32
    /// `pg_database_size(oid)` in bytes.
    public var sizeBytes: Int64
    /// The owner role's name.
    public var owner: String
    /// Encoding name, e.g. `UTF8`.
    public var encoding: String
    /// `datcollate`.
    public var collate: String
    /// `datctype`.
    public var ctype: String
    /// `libc`, `icu` or `builtin` (always `libc` before PostgreSQL 15).
    public var localeProvider: String
    /// The ICU (or builtin) locale when the provider is not libc.
    public var icuLocale: String?
    /// The default tablespace name.
    public var tablespace: String
    /// The raw `datacl` text, or nil for the default privileges.
    public var acl: String?
    /// `COMMENT ON DATABASE`, if any.
    public var comment: String?

    /// Memberwise initializer.
    public init(name: String, oid: UInt32, sizeBytes: Int64, owner: String, encoding: String, collate: String,
                ctype: String, localeProvider: String, icuLocale: String?, tablespace: String, acl: String?,
                comment: String?) {
        self.name = name; self.oid = oid; self.sizeBytes = sizeBytes; self.owner = owner
        self.encoding = encoding; self.collate = collate; self.ctype = ctype
        self.localeProvider = localeProvider; self.icuLocale = icuLocale; self.tablespace = tablespace
        self.acl = acl; self.comment = comment
    }
}

/// Lists the databases of a server that a backup should cover.
public enum Discovery {
    /// All databases with `datallowconn AND NOT datistemplate`, ordered by name, filtered by
    /// `include` (exact names; empty = all) then `exclude` (shell patterns with `*`, `?`, `[...]`
    /// matched with fnmatch against the whole name).
    /// - Throws: `.invalidArgument` when an included name does not exist or does not accept
    ///   connections, `.noDatabases` when nothing remains, `.query` on a failed query.
    public static func databases(_ conn: PGConnection, include: [String] = [], exclude: [String] = []) throws -> [DatabaseInfo] {
        let all = try allDatabases(conn)
        let eligible = all.filter { $0.allowed }.map(\.info)
        var chosen: [DatabaseInfo]
        if include.isEmpty {
            chosen = eligible
        } else {
            let eligibleNames = Set(eligible.map(\.name))
            let known = eligible.map { "\"\($0.name)\"" }.joined(separator: ", ")
            for name in include where !eligibleNames.contains(name) {
                let why: String
                if let row = all.first(where: { $0.info.name == name }) {
                    why = row.template ? "is a template database" : "does not allow connections (datallowconn is false)"
                } else {
                    why = "does not exist"
                }
                throw VaultError(.invalidArgument,
                    "Database \"\(name)\" \(why) on \(conn.display): fix the databases to include. Databases that can be backed up: \(known.isEmpty ? "none" : known).",
                    location: name)
            }
            let wanted = Set(include)
            chosen = eligible.filter { wanted.contains($0.name) }
        }
        chosen.removeAll { db in exclude.contains { matches(pattern: $0, name: db.name) } }
        guard !chosen.isEmpty else {
            throw VaultError(.noDatabases,
                "No database to back up on \(conn.display): the include/exclude lists leave nothing (exclude: \(exclude.isEmpty ? "none" : exclude.joined(separator: ", "))).",
                location: conn.display)
        }
        return chosen
    }

    /// Shell-style match (`*`, `?`, `[...]`) of the whole `name`, as fnmatch(3) with no flags.
    public static func matches(pattern: String, name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }

    /// The `DatabaseInfo` of one database by name (whatever its datallowconn), or nil.
    public static func database(_ conn: PGConnection, named name: String) throws -> DatabaseInfo? {
        try allDatabases(conn, only: name).first?.info
    }

    struct Row { var info: DatabaseInfo; var allowed: Bool; var template: Bool }

    static func allDatabases(_ conn: PGConnection, only: String? = nil) throws -> [Row] {
        let v = conn.serverVersionNum
        let provider: String
        let locale: String
        if v >= 170000 {
            provider = "d.datlocprovider::text"; locale = "d.datlocale"
        } else if v >= 150000 {
            provider = "d.datlocprovider::text"; locale = "d.daticulocale"
        } else {
            provider = "'c'"; locale = "NULL::text"
        }
        // The size is only computed for databases we may connect to (pg_database_size needs CONNECT).
        let sql = """
            SELECT d.datname, d.oid::text,
                   CASE WHEN d.datallowconn AND NOT d.datistemplate AND has_database_privilege(d.oid, 'CONNECT')
                        THEN pg_database_size(d.oid)::text END,
                   pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding),
                   d.datcollate, d.datctype, \(provider), \(locale),
                   t.spcname, d.datacl::text, shobj_description(d.oid, 'pg_database'),
                   d.datallowconn::text, d.datistemplate::text
            FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
            WHERE $1::text IS NULL OR d.datname = $1
            ORDER BY d.datname COLLATE "C"
            """
        return try conn.query(sql, [only]).map { r in
            let prov: String
            switch r[7] ?? "c" {
            case "i": prov = "icu"
            case "b": prov = "builtin"
            default: prov = "libc"
            }
            let info = DatabaseInfo(
                name: r[0] ?? "", oid: UInt32(r[1] ?? "") ?? 0, sizeBytes: Int64(r[2] ?? "") ?? 0,
                owner: r[3] ?? "", encoding: r[4] ?? "", collate: r[5] ?? "", ctype: r[6] ?? "",
                localeProvider: prov, icuLocale: r[8], tablespace: r[9] ?? "pg_default",
                acl: r[10], comment: r[11])
            return Row(info: info, allowed: r[12] == "true" && r[13] == "false", template: r[13] == "true")
        }
    }
}
