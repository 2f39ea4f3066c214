import Foundation
import VaultCore
import Yams

/// Reads and validates a YAML policy file.
///
/// Every error is a `VaultError(.invalidArgument)` whose message starts with
/// `FILE:LINE: key.path:` and says what is allowed, and whose `location` is
/// `FILE:LINE key.path`. Unknown keys are errors (a misspelt key must not silently mean
/// "default"). The first error found is thrown.
public enum PolicyLoader {
    /// The one sentence every refused daily (or more frequent) schedule carries.
    public static let dailyRefusal =
        "LTR runs weekly at most often; for daily or point-in-time recovery use WAL archiving / PITR tools (e.g. pgBackRest, barman)."

    /// Reads the policy file at `path`.
    public static func load(path: String) throws -> Policy {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw VaultError(.invalidArgument, "\(path): cannot read the policy file: \(error.localizedDescription)",
                             cause: String(describing: error), location: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw VaultError(.invalidArgument, "\(path): the policy file is not UTF-8 text.", location: path)
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses policy YAML; `file` names it in errors.
    public static func parse(yaml: String, file: String) throws -> Policy {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch let error as YamlError {
            throw yamlError(error, file: file)
        } catch {
            throw VaultError(.invalidArgument, "\(file): not valid YAML: \(error)", location: file)
        }
        guard let root, root.mapping != nil else {
            let line = root?.mark?.line ?? 1
            throw VaultError(.invalidArgument,
                "\(file):\(line): the policy must be a YAML mapping with the keys \(Keys.top.joined(separator: ", ")).",
                location: "\(file):\(line)")
        }
        var reader = Reader(file: file)
        let policy = try reader.policy(YNode(root, path: "", keyLine: 1))
        return policy
    }

    private static func yamlError(_ error: YamlError, file: String) -> VaultError {
        var line = 1
        var problem = "\(error)"
        switch error {
        case .scanner(_, let p, let mark, _), .parser(_, let p, let mark, _), .composer(_, let p, let mark, _):
            line = mark.line; problem = p
        case .duplicatedKeysInMapping(let duplicates, let context):
            line = context.mark.line
            let key = duplicates.joined(separator: ", ")
            return VaultError(.invalidArgument,
                "\(file):\(line): \(key): the key appears more than once in the same mapping; keep only one.",
                location: "\(file):\(line) \(key)")
        default: break
        }
        return VaultError(.invalidArgument, "\(file):\(line): not valid YAML: \(problem).", cause: "\(error)",
                          location: "\(file):\(line)")
    }
}

/// The allowed keys of each mapping, as listed in errors.
enum Keys {
    static let top = ["vault", "copyTo", "servers", "schedule", "retention", "protection"]
    static let target = ["location", "s3"]
    static let s3 = ["endpoint", "region"]
    static let server = ["name", "conninfo", "conninfoEnv", "passfile", "databases", "jobs", "limits", "noRolePasswords"]
    static let databases = ["include", "exclude"]
    static let limits = ["maxDatabaseSize", "maxByteaValue"]
    static let schedule = ["weekly"]
    static let weekly = ["day", "time", "timezone"]
    static let retention = ["weekly", "monthly", "yearly", "on-demand"]
    static let protection = ["immutability", "softDelete", "softDeleteDays"]
}

/// A YAML node with its key path.
struct YNode {
    let node: Node
    let path: String
    /// The line of the key that holds this node (for "key is missing" errors), if any.
    let keyLine: Int?
    init(_ node: Node, path: String, keyLine: Int? = nil) { self.node = node; self.path = path; self.keyLine = keyLine }
    var line: Int { node.mark?.line ?? keyLine ?? 1 }
    var isNull: Bool {
        if case .scalar = node { return node.null != nil }
        return false
    }
    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// A mapping's entries, checked against the allowed keys.
struct Entries {
    let owner: YNode
    var values: [String: YNode] = [:]
    var keyLines: [String: Int] = [:]
    /// Present and not null.
    subscript(_ key: String) -> YNode? { values[key].flatMap { $0.isNull ? nil : $0 } }
}

struct Reader {
    let file: String
    var warnings: [String] = []

    init(file: String) { self.file = file }

    // MARK: errors

    func fail(_ line: Int, _ key: String, _ text: String) -> VaultError {
        let keyPart = key.isEmpty ? "" : " \(key)"
        return VaultError(.invalidArgument, "\(file):\(line):\(keyPart.isEmpty ? "" : keyPart + ":") \(text)",
                          location: "\(file):\(line)\(keyPart)")
    }
    func fail(_ n: YNode, _ text: String) -> VaultError { fail(n.line, n.path, text) }

    // MARK: primitive readers

    /// The entries of mapping `n`. `special` sees every key first (to refuse known-but-wrong
    /// keys with a better message); `alsoAccepted` are keys accepted but not advertised.
    func mapping(_ n: YNode, allowed: [String], what: String, alsoAccepted: [String] = [],
                 special: (String, Int) throws -> Void = { _, _ in }) throws -> Entries {
        guard let m = n.node.mapping else {
            throw fail(n, "must be a mapping of \(what) with the keys \(allowed.joined(separator: ", ")).")
        }
        var e = Entries(owner: n)
        for (k, v) in m {
            guard let key = k.scalar?.string else {
                throw fail(k.mark?.line ?? n.line, n.path, "keys must be plain words; allowed here: \(allowed.joined(separator: ", ")).")
            }
            let kline = k.mark?.line ?? n.line
            try special(key, kline)
            guard allowed.contains(key) || alsoAccepted.contains(key) else {
                var hint = ""
                if let close = allowed.first(where: { $0.lowercased() == key.lowercased() || $0.replacingOccurrences(of: "-", with: "").lowercased() == key.replacingOccurrences(of: "_", with: "").replacingOccurrences(of: "-", with: "").lowercased() }) {
                    hint = " Did you mean \(close)?"
                }
                throw fail(kline, n.child(key), "unknown key \"\(key)\" in \(what).\(hint) Allowed keys: \(allowed.joined(separator: ", ")).")
            }
            e.values[key] = YNode(v, path: n.child(key), keyLine: kline)
            e.keyLines[key] = kline
        }
        return e
    }

    func required(_ e: Entries, _ key: String, _ allowed: String) throws -> YNode {
        guard let v = e[key] else {
            throw fail(e.keyLines[key] ?? e.owner.keyLine ?? e.owner.line, e.owner.child(key), "is missing; \(allowed)")
        }
        return v
    }

    func string(_ n: YNode, _ allowed: String) throws -> String {
        guard case .scalar(let s) = n.node else { throw fail(n, "must be a single value; \(allowed)") }
        let t = s.string.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { throw fail(n, "is empty; \(allowed)") }
        return t
    }

    func int(_ n: YNode, _ range: ClosedRange<Int>, _ allowed: String) throws -> Int {
        let t = try string(n, allowed)
        guard let v = Int(t), range.contains(v) else { throw fail(n, "\"\(t)\" is not allowed; \(allowed)") }
        return v
    }

    func bool(_ n: YNode) throws -> Bool {
        let allowed = "write true or false."
        let t = try string(n, allowed).lowercased()
        switch t {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(n, "\"\(t)\" is not a boolean; \(allowed)")
        }
    }

    func stringList(_ n: YNode, _ allowed: String) throws -> [String] {
        if n.isNull { return [] }
        guard case .sequence(let seq) = n.node else {
            throw fail(n, "must be a list (- item per line, or [a, b]); \(allowed)")
        }
        var result: [String] = []
        for (i, item) in seq.enumerated() {
            result.append(try string(YNode(item, path: "\(n.path)[\(i)]"), allowed))
        }
        return result
    }

    // MARK: the policy

    mutating func policy(_ root: YNode) throws -> Policy {
        let e = try mapping(root, allowed: Keys.top, what: "the policy") { key, line in
            if ["daily", "every", "hourly"].contains(key) {
                throw fail(line, key, "a daily or more frequent schedule is not supported. \(PolicyLoader.dailyRefusal) Allowed: schedule: weekly: {day, time, timezone}.")
            }
        }
        let vault = try target(try required(e, "vault", "write vault: /absolute/path or vault: s3://bucket/prefix."))
        let copyTo = try e["copyTo"].map { try target($0) }
        if let copyTo, copyTo.location == vault.location {
            throw fail(e.values["copyTo"]!, "is the same location as vault; allowed: a second, different vault (path or s3:// URL), or leave copyTo out.")
        }
        let servers = try self.servers(try required(e, "servers", "list the servers to back up, each with name and conninfo (or conninfoEnv)."))
        let schedule = try self.schedule(try required(e, "schedule", "write schedule: weekly: {day: sunday, time: \"02:00\", timezone: Europe/Berlin}."))
        let retention = try self.retention(try required(e, "retention", "write retention: {weekly: 8w, monthly: 12m, yearly: 10y} (each 7d to 10y)."))
        let protection = try e["protection"].map { try self.protection($0) }
        return Policy(file: file, vault: vault, copyTo: copyTo, servers: servers, schedule: schedule,
                      retention: retention, protection: protection, warnings: warnings)
    }

    func location(_ n: YNode) throws -> String {
        let allowed = "allowed: an absolute directory path (/srv/pgvault) or s3://bucket/prefix."
        let t = try string(n, allowed)
        if t.hasPrefix("s3://") {
            let rest = t.dropFirst(5)
            let bucket = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let valid = (3...63).contains(bucket.count)
                && bucket.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" }
            guard valid else {
                throw fail(n, "\"\(t)\" has no valid bucket name (3-63 characters: lower-case letters, digits, dots, hyphens); \(allowed)")
            }
            return t
        }
        if t.contains("://") {
            throw fail(n, "\"\(t)\": only s3:// URLs are supported; \(allowed)")
        }
        guard t.hasPrefix("/") else {
            throw fail(n, "\"\(t)\" is a relative path, which would depend on the directory cron starts in; \(allowed)")
        }
        return t
    }

    func target(_ n: YNode) throws -> VaultTarget {
        if case .scalar = n.node { return VaultTarget(location: try location(n)) }
        let e = try mapping(n, allowed: Keys.target, what: "a vault")
        let loc = try location(try required(e, "location", "write location: /absolute/path or location: s3://bucket/prefix."))
        var target = VaultTarget(location: loc)
        if let s3n = e["s3"] {
            guard target.isS3 else {
                throw fail(s3n, "s3 settings need an s3:// location (\(loc) is a directory); allowed: remove s3, or use location: s3://bucket/prefix.")
            }
            let s = try mapping(s3n, allowed: Keys.s3, what: "S3 settings")
            var settings = VaultTarget.S3()
            if let ep = s["endpoint"] {
                let t = try string(ep, "allowed: an http:// or https:// URL such as https://s3.eu-central-1.amazonaws.com.")
                guard let url = URL(string: t), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                    throw fail(ep, "\"\(t)\" is not an endpoint URL; allowed: an http:// or https:// URL such as https://s3.eu-central-1.amazonaws.com.")
                }
                settings.endpoint = t
            }
            if let r = s["region"] {
                let t = try string(r, "allowed: a region name such as eu-central-1.")
                guard t.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                    throw fail(r, "\"\(t)\" is not a region name; allowed: letters, digits and hyphens, e.g. eu-central-1.")
                }
                settings.region = t
            }
            target.s3 = settings
        }
        return target
    }

    // MARK: servers

    mutating func servers(_ n: YNode) throws -> [ServerPolicy] {
        guard case .sequence(let seq) = n.node, !seq.isEmpty else {
            throw fail(n, "must be a non-empty list of servers, each a mapping with the keys \(Keys.server.joined(separator: ", ")).")
        }
        var result: [ServerPolicy] = []
        var seen: [String: Int] = [:]
        for (i, item) in seq.enumerated() {
            let s = try server(YNode(item, path: "\(n.path)[\(i)]"))
            if let first = seen[s.name] {
                throw fail(s.line, "\(n.path)[\(i)].name",
                           "the server name \"\(s.name)\" is already used at line \(first); allowed: a unique name per server (it names the server's points in the vault).")
            }
            seen[s.name] = s.line
            result.append(s)
        }
        return result
    }

    mutating func server(_ n: YNode) throws -> ServerPolicy {
        let e = try mapping(n, allowed: Keys.server, what: "a server")
        let nameNode = try required(e, "name", "allowed: a unique, non-empty name without '/', e.g. name: db1.")
        let name = try string(nameNode, "allowed: a unique, non-empty name without '/', e.g. name: db1.")
        if name.contains("/") || name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw fail(nameNode, "\"\(name)\" contains '/' or a control character; allowed: a unique, non-empty name without '/', e.g. db1 or crm-eu.")
        }
        let label = "server \"\(name)\""
        let connection: ConnectionSource
        switch (e["conninfo"], e["conninfoEnv"]) {
        case (let c?, nil):
            let text = try string(c, "allowed: a libpq conninfo (\"host=db1 user=backup\") or URI (postgresql://backup@db1/postgres).")
            if Reader.containsPassword(text) {
                warnings.append("\(file):\(c.line): \(c.path): the conninfo of \(label) contains a password; prefer passfile or conninfoEnv so the policy file holds no credentials.")
            }
            connection = .conninfo(text)
        case (nil, let v?):
            let name = try string(v, "allowed: the name of an environment variable, e.g. conninfoEnv: PGVAULT_DB1_CONNINFO.")
            guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic),
                  name.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains(Character($0)))) }) else {
                throw fail(v, "\"\(name)\" is not an environment variable name; allowed: letters, digits and _ (not starting with a digit), e.g. PGVAULT_DB1_CONNINFO.")
            }
            connection = .environment(name)
        case (let c?, _?):
            throw fail(c.line, c.path, "\(label) has both conninfo and conninfoEnv; allowed: exactly one of them.")
        case (nil, nil):
            throw fail(n.line, n.child("conninfo"),
                       "\(label) has no connection; allowed: conninfo (a libpq conninfo or URI) or conninfoEnv (the name of an environment variable holding one); passfile may be added to either for the password.")
        }
        var passfile: String?
        if let p = e["passfile"] {
            let t = try string(p, "allowed: the absolute path of a .pgpass-format file.")
            guard t.hasPrefix("/") else { throw fail(p, "\"\(t)\" is not an absolute path; allowed: the absolute path of a .pgpass-format file.") }
            passfile = t
        }
        var include: [String] = [], exclude: [String] = []
        if let d = e["databases"] {
            let de = try mapping(d, allowed: Keys.databases, what: "a database selection")
            if let i = de["include"] { include = try stringList(i, "allowed: exact database names.") }
            if let x = de["exclude"] { exclude = try stringList(x, "allowed: database names or shell patterns such as 'tmp_*'.") }
        }
        var jobs = 1
        if let j = e["jobs"] { jobs = try int(j, 1...64, "allowed: a whole number from 1 to 64 (databases dumped at once).") }
        var limits = Limits()
        if let l = e["limits"] {
            let le = try mapping(l, allowed: Keys.limits, what: "limits")
            if let v = le["maxDatabaseSize"] { limits.maxDatabaseSize = try size(v) }
            if let v = le["maxByteaValue"] { limits.maxByteaValue = try size(v) }
        }
        var noRolePasswords = false
        if let r = e["noRolePasswords"] { noRolePasswords = try bool(r) }
        return ServerPolicy(name: name, connection: connection, passfile: passfile, includeDatabases: include,
                            excludeDatabases: exclude, jobs: jobs, limits: limits, noRolePasswords: noRolePasswords,
                            line: n.line)
    }

    func size(_ n: YNode) throws -> Int64 {
        let allowed = "allowed: a size such as 1TiB, 500MB, 64MiB or a number of bytes."
        let t = try string(n, allowed)
        guard let v = ByteSize.parse(t), v > 0 else { throw fail(n, "\"\(t)\" is not a size; \(allowed)") }
        return v
    }

    /// True when a conninfo (key=value or URI) carries a password.
    static func containsPassword(_ conninfo: String) -> Bool {
        let t = conninfo.lowercased()
        if t.hasPrefix("postgresql://") || t.hasPrefix("postgres://") {
            let afterScheme = t.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).dropFirst(2).first ?? ""
            if let at = afterScheme.lastIndex(of: "@"), afterScheme[..<at].contains(":") { return true }
            return t.contains("password=")
        }
        return t.range(of: #"(^|\s)password\s*="#, options: .regularExpression) != nil
    }

    // MARK: schedule

    func schedule(_ n: YNode) throws -> Schedule {
        let shape = "Allowed: schedule: weekly: {day: sunday, time: \"02:00\", timezone: Europe/Berlin}."
        let e = try mapping(n, allowed: Keys.schedule, what: "the schedule") { key, line in
            switch key {
            case "daily", "hourly", "every", "cron", "days", "times":
                throw fail(line, n.child(key), "a daily or more frequent schedule is not supported. \(PolicyLoader.dailyRefusal) \(shape)")
            case "monthly", "yearly":
                throw fail(line, n.child(key),
                           "\(key) is not a separate schedule: the first successful weekly backup of each month and year gets the monthly and yearly tags; set how long they are kept under retention.\(key). \(shape)")
            default: break
            }
        }
        let w = try required(e, "weekly", shape)
        let we = try mapping(w, allowed: Keys.weekly, what: "the weekly schedule", alsoAccepted: ["days"]) { key, line in
            let value = w.node.mapping?[key]
            let several: Bool
            if case .sequence(let list)? = value { several = list.count > 1 } else { several = false }
            if key == "every" || key == "times" || (key == "days" && several) {
                throw fail(line, w.child(key),
                           "more than one backup a week is not supported. \(PolicyLoader.dailyRefusal) Allowed: one day, e.g. day: sunday.")
            }
        }
        // `days: [x]` (a one-day list) is accepted as a spelling of `day: x`.
        var dayNode = we["day"]
        if let days = we["days"] {
            if dayNode != nil {
                throw fail(days, "day and days are both given; allowed: one of them, naming one day, e.g. day: sunday.")
            }
            if case .sequence(let list) = days.node {
                if let only = list.first { dayNode = YNode(only, path: w.child("days[0]")) }
            } else {
                dayNode = days
            }
        }
        let allowedDays = "allowed: one of monday, tuesday, wednesday, thursday, friday, saturday, sunday."
        guard let dayNode else { throw fail(w.keyLine ?? w.line, w.child("day"), "is missing; \(allowedDays)") }
        let dayText = try string(dayNode, allowedDays)
        guard let weekday = Weekday.parse(dayText) else { throw fail(dayNode, "\"\(dayText)\" is not a day of the week; \(allowedDays)") }

        let allowedTime = "allowed: a time of day HH:MM from 00:00 to 23:59, quoted, e.g. time: \"02:00\"."
        let timeNode = try required(we, "time", allowedTime)
        let timeText = try string(timeNode, allowedTime)
        let parts = timeText.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
              let h = Int(parts[0]), let m = Int(parts[1]), (0...23).contains(h), (0...59).contains(m),
              parts.allSatisfy({ $0.allSatisfy { ("0"..."9").contains($0) } }) else {
            throw fail(timeNode, "\"\(timeText)\" is not a time of day; \(allowedTime)")
        }

        var tz = TimeZone(identifier: "UTC")!
        if let z = we["timezone"] {
            let allowedZone = "allowed: an IANA time zone name such as Europe/Berlin, America/Los_Angeles or UTC."
            let name = try string(z, allowedZone)
            guard let zone = TimeZone(identifier: name), TimeZone.knownTimeZoneIdentifiers.contains(name) || name == "UTC" || name == "GMT" else {
                throw fail(z, "\"\(name)\" is not a known time zone; \(allowedZone)")
            }
            tz = zone
        }
        return Schedule(weekday: weekday, hour: h, minute: m, timeZone: tz)
    }

    // MARK: retention

    func retention(_ n: YNode) throws -> RetentionPolicy {
        let e = try mapping(n, allowed: Keys.retention, what: "retention") { key, line in
            if key == "daily" || key == "hourly" {
                throw fail(line, n.child(key), "there are no daily points to retain. \(PolicyLoader.dailyRefusal) Allowed keys: \(Keys.retention.joined(separator: ", ")).")
            }
        }
        let allowed = "allowed: 7d to 10y, written as a number and d, w, m or y (e.g. 30d, 8w, 12m, 10y)."
        func period(_ key: String, required isRequired: Bool) throws -> RetentionPeriod? {
            guard let v = e[key] else {
                if isRequired { throw fail(e.keyLines[key] ?? n.keyLine ?? n.line, n.child(key), "is missing; \(allowed)") }
                return nil
            }
            let t = try string(v, allowed)
            do { return try RetentionPeriod.parseChecked(t, option: v.path) } catch let error as VaultError {
                // parseChecked says "<key>: <what is wrong>."; keep what is wrong, add file, line and range.
                var what = error.message
                if what.hasPrefix(v.path + ": ") { what.removeFirst(v.path.count + 2) }
                throw fail(v, "\(what) \(allowed.prefix(1).uppercased() + allowed.dropFirst())")
            }
        }
        let weekly = try period("weekly", required: true)!
        let monthly = try period("monthly", required: true)!
        let yearly = try period("yearly", required: true)!
        let onDemand = try period("on-demand", required: false) ?? RetentionPolicy.defaultOnDemand
        if !monthly.isNeverShorter(than: weekly) {
            throw fail(e.values["monthly"]!, "\(monthly) is shorter than retention.weekly (\(weekly)); allowed: monthly at least as long as weekly (a monthly point is kept at least as long as a weekly one).")
        }
        if !yearly.isNeverShorter(than: monthly) {
            throw fail(e.values["yearly"]!, "\(yearly) is shorter than retention.monthly (\(monthly)); allowed: yearly at least as long as monthly.")
        }
        return RetentionPolicy(weekly: weekly, monthly: monthly, yearly: yearly, onDemand: onDemand)
    }

    // MARK: protection

    func protection(_ n: YNode) throws -> ProtectionPolicy {
        let e = try mapping(n, allowed: Keys.protection, what: "protection")
        var p = ProtectionPolicy()
        if let i = e["immutability"] {
            let allowed = "allowed: disabled or unlocked (locking is its own, irreversible command: pgvault vault lock)."
            let t = try string(i, allowed).lowercased()
            guard let v = ProtectionSettings.Immutability(rawValue: t), v != .locked else {
                throw fail(i, "\"\(t)\" is not allowed; \(allowed)")
            }
            p.immutability = v
        }
        if let s = e["softDelete"] {
            let allowed = "allowed: disabled, enabled or always-on."
            let t = try string(s, allowed).lowercased()
            guard let v = ProtectionSettings.SoftDelete(rawValue: t) else { throw fail(s, "\"\(t)\" is not allowed; \(allowed)") }
            p.softDelete = v
        }
        if let d = e["softDeleteDays"] {
            let r = ProtectionSettings.softDeleteDaysRange
            p.softDeleteDays = try int(d, r, "allowed: a whole number of days from \(r.lowerBound) to \(r.upperBound).")
        }
        if p.softDelete == .disabled, let d = e["softDeleteDays"] {
            throw fail(d, "softDeleteDays has no effect with softDelete: disabled; allowed: remove softDeleteDays, or set softDelete to enabled or always-on.")
        }
        return p
    }
}
