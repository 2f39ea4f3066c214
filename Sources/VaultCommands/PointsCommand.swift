import ArgumentParser
import Foundation
import VaultCore
import VaultFormat

/// The JSON shape of one point in `points --json` (documented in README).
struct PointSummary: Encodable {
    struct File: Encodable { var path: String; var kind: String; var database: String?; var size: Int64; var sha256: String }
    var id: String
    var server: String
    var serverVersion: String
    var startedAt: Date
    var finishedAt: Date
    var status: String
    var databases: [String]
    var refusedOrFailed: [String]
    var files: [File]
    var logicalBytes: Int64
    var storedBytes: Int64

    init(_ m: Manifest) {
        id = m.id
        server = m.server.name
        serverVersion = m.server.version
        startedAt = m.startedAt
        finishedAt = m.finishedAt
        status = m.status.rawValue
        databases = m.databases.filter { $0.outcome == .ok }.map(\.name)
        refusedOrFailed = m.databases.filter { $0.outcome != .ok }.map(\.name)
        files = m.files.map { File(path: $0.path, kind: $0.kind.rawValue, database: $0.database, size: $0.size, sha256: $0.sha256) }
        logicalBytes = m.stats.logicalBytes
        storedBytes = m.stats.storedBytes
    }
}

struct PointsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "points",
        abstract: "List recovery points, newest first.",
        discussion: """
        Columns: id, server, start time (UTC), databases in the point, logical bytes (what a
        restore writes), bytes this point added to the vault, status (ok / partial / failed).

        Examples:
          pgvault points --vault /srv/pgvault
          pgvault points --server db1 --database shop --json | jq '.[0].id'
        """)

    @OptionGroup var vaultOption: VaultOption

    @Option(name: .long, help: ArgumentHelp("Only points of this server.", valueName: "name"))
    var server: String?

    @Option(name: .long, help: ArgumentHelp("Only points that hold a dump of this database.", valueName: "name"))
    var database: String?

    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let points = try vault.points().filter { m in
                (server == nil || m.server.name == server) &&
                (database == nil || m.databases.contains { $0.name == database && $0.outcome == .ok })
            }
            if output.json {
                try Output.json(points.map(PointSummary.init))
                return 0
            }
            if points.isEmpty {
                Output.stdout("No recovery points\(server.map { " of server \($0)" } ?? "")\(database.map { " with database \($0)" } ?? "") in \(vaultOption.vault ?? "the vault").")
                return 0
            }
            let rows = points.map { m -> [String] in
                let dbs = m.databases.filter { $0.outcome == .ok }.count
                return [m.id, m.server.name, Output.shortDate(m.startedAt), "\(dbs)/\(m.databases.count)",
                        ByteSize.format(m.stats.logicalBytes), ByteSize.format(m.stats.storedBytes), m.status.rawValue]
            }
            Output.stdout(Output.table(["ID", "SERVER", "STARTED", "DBS", "LOGICAL", "STORED", "STATUS"], rows))
            return 0
        }
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one recovery point in full: databases, outcomes, files, sizes, SHA-256.",
        discussion: """
        POINT is an id, a unique prefix of one, or `latest`. With --json prints the manifest
        exactly as stored (see vault/FORMAT.md for its schema).

        Examples:
          pgvault show latest
          pgvault show 20261125T1701 --json
        """)

    @OptionGroup var vaultOption: VaultOption

    @Argument(help: ArgumentHelp("Point id, unique id prefix, or `latest`.", valueName: "point"))
    var point: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let m = try vault.resolvePoint(point)
            if output.json {
                FileHandle.standardOutput.write(try vault.manifestData(m.id))
                Output.stdout("")
                return 0
            }
            var lines: [String] = []
            lines.append("Recovery point \(m.id)")
            lines.append("  status:     \(m.status.rawValue)")
            lines.append("  server:     \(m.server.name) (PostgreSQL \(m.server.version)\(m.server.host.map { ", host \($0)" } ?? "")\(m.server.port.map { ", port \($0)" } ?? ""))")
            lines.append("  pg_dump:    \(m.pgDumpVersion)   pgvault: \(m.pgVaultVersion)")
            lines.append("  started:    \(Timestamp.rfc3339(m.startedAt))")
            lines.append("  finished:   \(Timestamp.rfc3339(m.finishedAt))")
            lines.append("  job:        \(m.jobId)")
            lines.append("  limits:     database \(ByteSize.format(m.limits.maxDatabaseSize)), bytea value \(ByteSize.format(m.limits.maxByteaValue))")
            lines.append("  size:       \(ByteSize.format(m.stats.logicalBytes)) logical, \(ByteSize.format(m.stats.storedBytes)) added to the vault, \(m.stats.newChunks) of \(m.stats.chunks) chunks new")
            lines.append("")
            lines.append("Databases:")
            for d in m.databases {
                var s = "  \(d.name): \(d.outcome.rawValue)"
                if let size = d.sizeBytes { s += ", \(ByteSize.format(size)) on the server" }
                if let b = d.largestBytea { s += ", largest bytea \(ByteSize.format(b)) in \(d.largestByteaColumn ?? "?")" }
                if d.snapshot == true { s += ", exported snapshot" }
                lines.append(s)
                if let e = d.error { lines.append("    \(e.message)") }
            }
            lines.append("")
            lines.append("Files:")
            lines.append(Output.table(["  PATH", "SIZE", "CHUNKS", "SHA256"],
                                      m.files.map { ["  " + $0.path, "\($0.size)", "\($0.chunks.count)", $0.sha256] }))
            Output.stdout(lines.joined(separator: "\n"))
            return 0
        }
    }
}
