public import Foundation
import VaultCore

/// The pg_dump / pg_dumpall pair used for a server: the smallest major version that is at
/// least the server's (pg_dump refuses to dump a newer server, and the closest match gives the
/// most faithful archive).
public struct PgTools: Sendable, Equatable {
    /// Absolute path of pg_dump.
    public var pgDump: String
    /// Absolute path of pg_dumpall (same directory).
    public var pgDumpAll: String
    /// pg_dump's major version (15 for 15.4, 9 for 9.6).
    public var major: Int
    /// pg_dump's full version, e.g. `15.4`.
    public var version: String

    /// Memberwise initializer.
    public init(pgDump: String, pgDumpAll: String, major: Int, version: String) {
        self.pgDump = pgDump; self.pgDumpAll = pgDumpAll; self.major = major; self.version = version
    }

    /// The directory holding both tools.
    public var binDirectory: String { (pgDump as NSString).deletingLastPathComponent }

    /// Finds the tools for a server of major version `serverMajor`.
    ///
    /// - `override` (CLI `--pg-bin DIR`), else the environment variable `PGVAULT_PG_BIN`: only
    ///   that directory is considered.
    /// - Otherwise `candidateDirectories` when given (tests), else `/usr/lib/postgresql/*/bin`
    ///   (Debian layout), then (only when none of those is exactly the server's major)
    ///   `pg_config --bindir` and every directory of PATH holding pg_dump (Debian's
    ///   /usr/bin/pg_dump is a wrapper, so the versioned directories come first).
    ///
    /// Among the directories holding an executable pg_dump and pg_dumpall, the smallest major
    /// that is >= `serverMajor` wins (ties: the first candidate).
    /// - Throws: `VaultError(.pgDumpMissing)` naming what was found and what to install.
    public static func locate(serverMajor: Int, override: String? = nil, candidateDirectories: [String]? = nil,
                              environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PgTools {
        let overrideDir = override ?? environment["PGVAULT_PG_BIN"].flatMap { $0.isEmpty ? nil : $0 }
        // Candidate directories in two rounds: the Debian versioned directories first, and only
        // when none of them holds exactly the server's major, `pg_config` and PATH (probing
        // Debian's /usr/bin/pg_dump wrapper costs a Perl start-up per backup).
        var rounds: [() -> [String]]
        if let overrideDir {
            rounds = [{ [overrideDir] }]
        } else if let candidateDirectories {
            rounds = [{ candidateDirectories }]
        } else {
            rounds = [{ versionedDirectories() }, { pathDirectories(environment: environment) }]
        }
        var found: [PgTools] = []
        var problems: [String] = []
        var seen = Set<String>()
        for round in rounds {
            if found.contains(where: { $0.major == serverMajor }) { break }
            for dir in round() { probe(dir) }
        }
        func probe(_ dir: String) {
            let d = (dir as NSString).standardizingPath
            guard seen.insert(d).inserted else { return }
            let dump = (d as NSString).appendingPathComponent("pg_dump")
            let dumpAll = (d as NSString).appendingPathComponent("pg_dumpall")
            let fm = FileManager.default
            guard fm.isExecutableFile(atPath: dump) else {
                if overrideDir != nil { problems.append("no executable pg_dump in \(d)") }
                return
            }
            guard fm.isExecutableFile(atPath: dumpAll) else {
                problems.append("pg_dump without pg_dumpall in \(d)")
                return
            }
            guard let version = try? readVersion(dump), let major = majorOf(version) else {
                problems.append("\(dump) --version did not answer `pg_dump (PostgreSQL) N`")
                return
            }
            found.append(PgTools(pgDump: dump, pgDumpAll: dumpAll, major: major, version: version))
        }
        let fitting = found.filter { $0.major >= serverMajor }
        if let best = fitting.min(by: { $0.major < $1.major }) { return best }

        var seenText = found.map { "\($0.major) at \($0.binDirectory)" }
        seenText += problems
        let foundText = seenText.isEmpty ? "none" : seenText.joined(separator: ", ")
        let hint = overrideDir != nil
            ? "Point --pg-bin (or PGVAULT_PG_BIN) at a directory holding pg_dump and pg_dumpall of version \(serverMajor) or newer, or install the Debian package postgresql-client-\(serverMajor) and drop --pg-bin"
            : "Install the Debian package postgresql-client-\(serverMajor) (or point --pg-bin at a directory holding pg_dump and pg_dumpall)"
        throw VaultError(.pgDumpMissing,
            "No pg_dump of version \(serverMajor) or newer found (found: \(foundText)). \(hint).",
            location: overrideDir)
    }

    /// `/usr/lib/postgresql/*/bin` (Debian), lowest version first.
    static func versionedDirectories() -> [String] {
        let root = "/usr/lib/postgresql"
        guard let versions = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        let sorted = versions.sorted { (Int($0) ?? Int.max, $0) < (Int($1) ?? Int.max, $1) }
        return sorted.map { "\(root)/\($0)/bin" }
    }

    /// `pg_config --bindir`, then every directory of PATH.
    static func pathDirectories(environment: [String: String]) -> [String] {
        var dirs: [String] = []
        let path = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        if let pgConfig = path.map({ ($0 as NSString).appendingPathComponent("pg_config") })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
           let child = try? ChildProcess.spawn(executable: pgConfig, arguments: ["--bindir"], environment: environment) {
            let out = (try? child.readAll()) ?? Data()
            if child.wait().status == 0 {
                let dir = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !dir.isEmpty { dirs.append(dir) }
            }
        }
        dirs += path.filter { !$0.isEmpty }
        return dirs
    }

    /// Runs `<pg_dump> --version` and returns the version number (`15.4`).
    static func readVersion(_ executable: String) throws -> String? {
        let child = try ChildProcess.spawn(executable: executable, arguments: ["--version"],
                                           environment: ProcessInfo.processInfo.environment)
        let out = try child.readAll()
        guard child.wait().status == 0 else { return nil }
        return parseVersion(String(decoding: out, as: UTF8.self))
    }

    /// `pg_dump (PostgreSQL) 15.4 (Debian 15.4-1)` → `15.4`.
    static func parseVersion(_ text: String) -> String? {
        guard let r = text.range(of: "(PostgreSQL) ") else { return nil }
        let v = text[r.upperBound...].prefix { $0.isNumber || $0 == "." }
        return v.isEmpty ? nil : String(v)
    }

    /// `15.4` → 15, `9.6.24` → 9, `16devel`-style prefixes → 16.
    static func majorOf(_ version: String) -> Int? {
        Int(version.prefix { $0.isNumber })
    }
}
