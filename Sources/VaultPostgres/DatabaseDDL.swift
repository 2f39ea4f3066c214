import Foundation
import VaultCore

/// The per-database globals pg_dump -Fc does not carry: CREATE DATABASE with its locale,
/// owner and tablespace, its comment, its ACL and its settings (`ALTER DATABASE ... SET`,
/// `ALTER ROLE ... IN DATABASE ... SET`). Stored as `<db>.database.sql`.
public enum DatabaseDDL {
    /// GUCs whose value is a list of separately quoted items (as in pg_dump).
    static let listGUCs: Set<String> = ["local_preload_libraries", "search_path", "session_preload_libraries",
                                        "shared_preload_libraries", "temp_tablespaces", "unix_socket_directories"]

    /// The SQL script that recreates `database` (empty, ready for `pg_restore -d`). Every
    /// identifier and literal is quoted by the server (`quote_ident` / `quote_literal`).
    /// `renamedTo` writes the script for another database name (e.g. a restore drill).
    /// `conn` may be connected to any database of the server.
    public static func script(_ conn: PGConnection, database: DatabaseInfo, renamedTo: String? = nil) throws -> String {
        let targetName = renamedTo ?? database.name
        let v = conn.serverVersionNum
        let localeCols: String
        if v >= 170000 {
            localeCols = "d.datlocprovider::text, d.datlocale, d.daticurules"
        } else if v >= 160000 {
            localeCols = "d.datlocprovider::text, d.daticulocale, d.daticurules"
        } else if v >= 150000 {
            localeCols = "d.datlocprovider::text, d.daticulocale, NULL::text"
        } else {
            localeCols = "'c'::text, NULL::text, NULL::text"
        }
        let rows = try conn.query("""
            SELECT quote_ident($2::text), quote_ident(pg_get_userbyid(d.datdba)),
                   quote_literal(pg_encoding_to_char(d.encoding)),
                   quote_literal(d.datcollate), quote_literal(d.datctype),
                   \(localeCols),
                   t.spcname, quote_ident(t.spcname), d.datconnlimit::text,
                   quote_literal(shobj_description(d.oid, 'pg_database')),
                   d.datacl IS NOT NULL, d.oid::text
            FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
            WHERE d.datname = $1
            """, [database.name, targetName])
        guard let r = rows.first else {
            throw VaultError(.query, "Database \"\(database.name)\" no longer exists on \(conn.display): it was dropped during the backup.",
                             location: database.name)
        }
        let qname = r[0] ?? "", owner = r[1] ?? "", encoding = r[2] ?? "", collate = r[3] ?? "", ctype = r[4] ?? ""
        let provider = r[5] ?? "c", providerLocale = r[6], icuRules = r[7]
        let spcname = r[8] ?? "pg_default", qspc = r[9] ?? "pg_default"
        let connLimit = Int(r[10] ?? "-1") ?? -1
        let qcomment = r[11], hasACL = r[12] == "t", oid = r[13] ?? "0"

        var out = """
            --
            -- pgvault: database-level definitions of \(displayName(database.name))
            -- (CREATE DATABASE, comment, privileges, settings; the contents are in the pg_dump archive).
            -- Server \(conn.serverVersion); run with psql as a superuser before pg_restore.
            --


            """
        var create = "CREATE DATABASE \(qname) WITH TEMPLATE = template0 OWNER = \(owner) ENCODING = \(encoding)"
        if v >= 150000 {
            switch provider {
            case "i":
                create += " LOCALE_PROVIDER = icu LC_COLLATE = \(collate) LC_CTYPE = \(ctype)"
                if let l = providerLocale { create += " ICU_LOCALE = \(try quoteLiteral(conn, l))" }
                if let rules = icuRules { create += " ICU_RULES = \(try quoteLiteral(conn, rules))" }
            case "b":
                create += " LOCALE_PROVIDER = builtin LC_COLLATE = \(collate) LC_CTYPE = \(ctype)"
                if let l = providerLocale { create += " BUILTIN_LOCALE = \(try quoteLiteral(conn, l))" }
            default:
                create += " LOCALE_PROVIDER = libc LC_COLLATE = \(collate) LC_CTYPE = \(ctype)"
            }
        } else {
            create += " LC_COLLATE = \(collate) LC_CTYPE = \(ctype)"
        }
        if spcname != "pg_default" { create += " TABLESPACE = \(qspc)" }
        if connLimit != -1 { create += " CONNECTION LIMIT = \(connLimit)" }
        out += create + ";\n"

        if let qcomment { out += "\nCOMMENT ON DATABASE \(qname) IS \(qcomment);\n" }

        if hasACL {
            out += "\nREVOKE ALL ON DATABASE \(qname) FROM PUBLIC;\nREVOKE ALL ON DATABASE \(qname) FROM \(owner);\n"
            // One row per (grantor, grantee, grantable) with its privileges, owner-granted first.
            let acl = try conn.query("""
                SELECT a.grantor = d.datdba, quote_ident(pg_get_userbyid(a.grantor)),
                       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                       a.is_grantable, string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
                FROM pg_database d, aclexplode(d.datacl) a
                WHERE d.datname = $1
                GROUP BY 1, 2, 3, 4, a.grantor, a.grantee
                ORDER BY 1 DESC, a.grantor, a.grantee, a.is_grantable
                """, [database.name])
            for row in acl {
                let byOwner = row[0] == "t", grantor = row[1] ?? "", grantee = row[2] ?? "PUBLIC"
                let grantable = row[3] == "t", privs = row[4] ?? ""
                let grant = "GRANT \(privs) ON DATABASE \(qname) TO \(grantee)\(grantable ? " WITH GRANT OPTION" : "");"
                if byOwner {
                    out += grant + "\n"
                } else {
                    out += "SET SESSION AUTHORIZATION \(grantor);\n\(grant)\nRESET SESSION AUTHORIZATION;\n"
                }
            }
        }

        let settings = try conn.query("""
            SELECT s.setrole = 0, CASE WHEN s.setrole = 0 THEN NULL ELSE quote_ident(pg_get_userbyid(s.setrole)) END, c.cfg
            FROM pg_db_role_setting s, unnest(s.setconfig) WITH ORDINALITY AS c(cfg, n)
            WHERE s.setdatabase = $1::oid
            ORDER BY s.setrole <> 0, pg_get_userbyid(s.setrole), c.n
            """, [oid])
        if !settings.isEmpty { out += "\n" }
        for row in settings {
            guard let cfg = row[2], let eq = cfg.firstIndex(of: "=") else { continue }
            let key = String(cfg[..<eq]), value = String(cfg[cfg.index(after: eq)...])
            let qkey = try conn.scalar("SELECT quote_ident($1)", [key]) ?? key
            let rendered: String
            if listGUCs.contains(key.lowercased()) {
                rendered = try splitGUCList(value).map { try quoteLiteral(conn, $0) }.joined(separator: ", ")
            } else {
                rendered = try quoteLiteral(conn, value)
            }
            if row[0] == "t" {
                out += "ALTER DATABASE \(qname) SET \(qkey) = \(rendered.isEmpty ? "''" : rendered);\n"
            } else {
                out += "ALTER ROLE \(row[1] ?? "") IN DATABASE \(qname) SET \(qkey) = \(rendered.isEmpty ? "''" : rendered);\n"
            }
        }
        return out
    }

    static func quoteLiteral(_ conn: PGConnection, _ s: String) throws -> String {
        try conn.scalar("SELECT quote_literal($1::text)", [s]) ?? "''"
    }

    /// Splits a flattened list GUC value (`"$user", public`) into its items, as pg_dump's
    /// SplitGUCList: items separated by commas, each bare or double-quoted with `""` escapes.
    static func splitGUCList(_ value: String) -> [String] {
        var items: [String] = []
        var chars = Array(value)[...]
        func skipSpace() { while let c = chars.first, c.isWhitespace { chars = chars.dropFirst() } }
        skipSpace()
        if chars.isEmpty { return [] }
        while true {
            skipSpace()
            var item = ""
            if chars.first == "\"" {
                chars = chars.dropFirst()
                while let c = chars.first {
                    chars = chars.dropFirst()
                    if c == "\"" {
                        if chars.first == "\"" { item.append("\""); chars = chars.dropFirst() } else { break }
                    } else {
                        item.append(c)
                    }
                }
            } else {
                while let c = chars.first, c != ",", !c.isWhitespace { item.append(c); chars = chars.dropFirst() }
            }
            items.append(item)
            skipSpace()
            guard chars.first == "," else { break }
            chars = chars.dropFirst()
        }
        return items
    }

    /// The database name for a comment line (no newlines).
    static func displayName(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ") + "\""
    }
}
