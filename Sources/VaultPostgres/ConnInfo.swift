import Foundation
import VaultCore
import CLibPQ

/// A parsed libpq connection string (`key=value` pairs or a `postgresql://` URI).
///
/// Only the options the user set explicitly are kept; everything else comes, at connect time,
/// from the PG* environment, `.pgpass` and libpq's defaults, exactly as for psql. The original
/// text is never kept or echoed: it may hold a password.
public struct ConnInfo: Sendable, Equatable {
    /// The options set explicitly in the connection string, by libpq keyword.
    public private(set) var options: [String: String]

    /// Parses `conninfo` with libpq's `PQconninfoParse`. An empty string means "everything from
    /// the PG* environment and libpq's defaults".
    /// - Throws: `VaultError(.invalidArgument)` with libpq's explanation when the string is invalid.
    public init(_ conninfo: String) throws {
        var err: UnsafeMutablePointer<CChar>? = nil
        guard let parsed = PQconninfoParse(conninfo, &err) else {
            var text = "out of memory"
            if let err {
                text = String(cString: err).trimmingCharacters(in: .whitespacesAndNewlines)
                PQfreemem(err)
            }
            throw VaultError(.invalidArgument,
                "The PostgreSQL connection string is invalid: write it as `host=... port=... user=... dbname=...` or as a postgresql://user@host:port/dbname URI.",
                cause: ConnInfo.scrub(text, in: conninfo))
        }
        defer { PQconninfoFree(parsed) }
        var opts: [String: String] = [:]
        var p = parsed
        while let kw = p.pointee.keyword {
            if let v = p.pointee.val { opts[String(cString: kw)] = String(cString: v) }
            p += 1
        }
        self.options = opts
    }

    /// Builds a ConnInfo directly from libpq keywords (no validation of the keywords).
    public init(options: [String: String]) {
        self.options = options
    }

    /// Whether the connection string itself holds a password (not PGPASSWORD / .pgpass).
    public var hasPassword: Bool { password != nil }

    /// The password given in the connection string, if any. Never print it.
    public var password: String? {
        guard let p = options["password"], !p.isEmpty else { return nil }
        return p
    }

    /// The database named in the connection string, if any.
    public var database: String? {
        guard let d = options["dbname"], !d.isEmpty else { return nil }
        return d
    }

    /// A copy with `key` set (or removed when `value` is nil).
    public func setting(_ key: String, _ value: String?) -> ConnInfo {
        var c = self
        c.options[key] = value
        return c
    }

    /// Renders the explicit options as `key='value'` pairs (keys sorted, values quoted with
    /// backslash and single quote escaped), with `dbname` replaced by `database` when given.
    /// The secrets (`password`, `sslpassword`) are left out unless `includePassword` is true:
    /// a password reaches child processes through their environment (see `DumpCommand`).
    public func connectionString(database: String? = nil, includePassword: Bool = false) -> String {
        var opts = options
        if let database { opts["dbname"] = database }
        if !includePassword { opts.removeValue(forKey: "password"); opts.removeValue(forKey: "sslpassword") }
        return opts.keys.sorted().compactMap { key -> String? in
            guard let value = opts[key] else { return nil }
            return "\(key)=\(ConnInfo.quote(value))"
        }.joined(separator: " ")
    }

    /// Quotes one conninfo value: `'...'` with `\` and `'` escaped by a backslash.
    public static func quote(_ value: String) -> String {
        var s = "'"
        for ch in value {
            if ch == "\\" || ch == "'" { s.append("\\") }
            s.append(ch)
        }
        s.append("'")
        return s
    }

    /// Where this connection goes, for messages: `user@host:port/dbname`. Uses the explicit
    /// options, else the environment (PGHOST, PGPORT, PGUSER, PGDATABASE), else libpq's defaults.
    /// Never contains the password.
    public func display(database: String? = nil) -> String {
        let defaults = ConnInfo.defaults()
        func pick(_ key: String) -> String? {
            if let v = options[key], !v.isEmpty { return v }
            if let v = defaults[key], !v.isEmpty { return v }
            return nil
        }
        let user = pick("user") ?? "?"
        var host = pick("host") ?? pick("hostaddr") ?? "[local]"
        if host.contains(":") && !host.hasPrefix("/") && !host.contains(",") { host = "[\(host)]" }
        let port = pick("port") ?? "5432"
        let db = database ?? pick("dbname") ?? user
        return "\(user)@\(host):\(port)/\(db)"
    }

    /// The server host: explicit, else PGHOST (nil means libpq's default Unix socket).
    public var host: String? {
        if let v = options["host"], !v.isEmpty { return v }
        if let v = options["hostaddr"], !v.isEmpty { return v }
        if let v = ConnInfo.defaults()["host"], !v.isEmpty { return v }
        return nil
    }

    /// The server port: explicit, else PGPORT, else libpq's default (5432).
    public var port: String? {
        if let v = options["port"], !v.isEmpty { return v }
        if let v = ConnInfo.defaults()["port"], !v.isEmpty { return v }
        return "5432"
    }

    /// A default name for the server, `host:port` (`local:5432` for a Unix socket); never holds
    /// a `/`, so it can name files and vault prefixes.
    public var serverName: String {
        var h = host ?? "local"
        if h.hasPrefix("/") || h.hasPrefix("@") { h = "local" }
        h = h.replacingOccurrences(of: "/", with: "_")
        return "\(h):\(port ?? "5432")"
    }

    /// libpq's defaults as it would apply them now (environment, then compiled-in defaults).
    static func defaults() -> [String: String] {
        guard let d = PQconndefaults() else { return [:] }
        defer { PQconninfoFree(d) }
        var out: [String: String] = [:]
        var p = d
        while let kw = p.pointee.keyword {
            if let v = p.pointee.val { out[String(cString: kw)] = String(cString: v) }
            p += 1
        }
        return out
    }

    /// Removes anything that looks like a password of `conninfo` from `text` (belt and braces:
    /// libpq's parse errors do not echo the password).
    static func scrub(_ text: String, in conninfo: String) -> String {
        var secrets: [String] = []
        let patterns = [#"password\s*=\s*'((?:[^'\\]|\\.)*)'"#, #"password\s*=\s*([^\s']+)"#,
                        #"://[^:/@?]*:([^@/?]*)@"#, #"[?&]password=([^&]*)"#]
        for pattern in patterns {
            guard let re = try? NSRegularExpression(pattern: pattern) else { continue }
            let ns = conninfo as NSString
            for m in re.matches(in: conninfo, range: NSRange(location: 0, length: ns.length)) where m.numberOfRanges > 1 {
                let r = m.range(at: 1)
                if r.location != NSNotFound, r.length > 0 { secrets.append(ns.substring(with: r)) }
            }
        }
        var out = text
        for s in secrets.sorted(by: { $0.count > $1.count }) where s.count >= 1 {
            out = out.replacingOccurrences(of: s, with: "***")
        }
        return out
    }
}
