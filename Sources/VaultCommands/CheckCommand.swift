import ArgumentParser
import Foundation
import VaultCore
import VaultFormat
import VaultPostgres

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Preflight: connect, list the databases a backup would take, apply the limits. Dumps nothing.",
        discussion: Help.reflow("""
        For each database: its size (pg_database_size) against --max-database-size (default 1TiB)
        and its largest bytea value (every bytea column, domains over bytea included) against
        --max-bytea-value (default 500MB). Also finds a pg_dump that fits the server's version.

        Exit 0 when every database would be backed up, 3 when some would be refused.

        Example:
          pgvault check --conninfo "host=db1 user=backup" --max-bytea-value 100MB
        """))

    @OptionGroup var vaultOption: VaultOption
    @OptionGroup var selection: SelectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws { try selection.validateSelection() }

    struct Row: Encodable {
        var name: String
        var sizeBytes: Int64
        var largestBytea: Int64?
        var largestByteaColumn: String?
        var ok: Bool
        var error: ErrorRecord?
    }
    struct Report: Encodable {
        var server: String
        var serverVersion: String
        var pgDump: String
        var pgDumpVersion: String
        var limits: Limits
        var databases: [Row]
        var exitCode: Int32
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            if vaultOption.vault != nil || ProcessInfo.processInfo.environment["PGVAULT_VAULT"] != nil {
                _ = try vaultOption.open()
            }
            let info = try selection.connInfo()
            let limits = try selection.limits()
            let conn = try PGConnection.connect(info)
            defer { conn.close() }
            let tools = try PgTools.locate(serverMajor: conn.serverVersionNum / 10000, override: selection.pgBinDirectory)
            let dbs = try Discovery.databases(conn, include: selection.databases, exclude: selection.exclude)
            var rows: [Row] = []
            for db in dbs {
                // The same preflight a backup runs (LimitCheck.evaluate), without the snapshot.
                let c = try PGConnection.connect(info, database: db.name)
                defer { c.close() }
                let r = try LimitCheck.evaluate(c, database: db, limits: limits)
                rows.append(Row(name: db.name, sizeBytes: r.database.sizeBytes, largestBytea: r.largest?.bytes,
                                largestByteaColumn: r.largest?.column, ok: r.violation == nil, error: r.violation?.record))
            }
            let code: Int32 = rows.allSatisfy(\.ok) ? 0 : VaultCore.ExitCode.partial.rawValue
            let report = Report(server: info.serverName, serverVersion: conn.serverVersion, pgDump: tools.pgDump,
                                pgDumpVersion: tools.version, limits: limits, databases: rows, exitCode: code)
            if output.json {
                try Output.json(report)
            } else {
                Output.stdout("Server \(report.server): PostgreSQL \(report.serverVersion); pg_dump \(tools.version) at \(tools.pgDump)")
                Output.stdout("Limits: database \(ByteSize.format(limits.maxDatabaseSize)), bytea value \(ByteSize.format(limits.maxByteaValue))\n")
                let table = rows.map { r in
                    [r.name, ByteSize.format(r.sizeBytes),
                     r.largestBytea.map { "\(ByteSize.format($0)) (\(r.largestByteaColumn ?? ""))" } ?? "-",
                     r.ok ? "ok" : "REFUSED"]
                }
                Output.stdout(Output.table(["DATABASE", "SIZE", "LARGEST BYTEA", "VERDICT"], table))
                for r in rows { if let e = r.error { Output.stdout("\n\(r.name): \(e.message)") } }
                let refused = rows.filter { !$0.ok }.count
                Output.stdout(refused == 0 ? "\nAll \(rows.count) databases would be backed up."
                                           : "\n\(refused) of \(rows.count) databases would be refused (exit 3).")
            }
            return code
        }
    }
}
