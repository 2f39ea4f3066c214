import ArgumentParser
import Foundation
import VaultCore
import VaultPostgres

/// Options that say which server and databases, shared by `check` and `backup`.
struct SelectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "libpq conninfo (\"host=db1 user=backup\") or URI (postgresql://backup@db1/postgres). PG* variables and ~/.pgpass apply as in psql. Prefer .pgpass or PGPASSWORD to a password in here.",
        valueName: "conninfo"))
    var conninfo: String = ""

    @Option(name: .customLong("database"), help: ArgumentHelp("Back up only this database (repeatable; exact name).", valueName: "name"))
    var databases: [String] = []

    @Option(name: .customLong("exclude-database"), help: ArgumentHelp("Skip databases matching this shell pattern (repeatable), e.g. 'tmp_*'.", valueName: "pattern"))
    var exclude: [String] = []

    @Option(name: .long, help: ArgumentHelp("Refuse a database larger than this (pg_database_size).", valueName: "size"))
    var maxDatabaseSize: String = "1TiB"

    @Option(name: .long, help: ArgumentHelp("Refuse a database holding a bytea value larger than this.", valueName: "size"))
    var maxByteaValue: String = "500MB"

    @Option(name: .long, help: ArgumentHelp("Directory holding pg_dump and pg_dumpall (default: $PGVAULT_PG_BIN, else the newest fitting /usr/lib/postgresql/N/bin).", valueName: "dir"))
    var pgBin: String?

    func limits() throws -> Limits {
        Limits(maxDatabaseSize: try parseSize(maxDatabaseSize, option: "--max-database-size"),
               maxByteaValue: try parseSize(maxByteaValue, option: "--max-bytea-value"))
    }

    func connInfo() throws -> ConnInfo { try ConnInfo(conninfo) }

    var pgBinDirectory: String? {
        pgBin ?? ProcessInfo.processInfo.environment["PGVAULT_PG_BIN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func validateSelection() throws {
        for s in [maxDatabaseSize, maxByteaValue] where ByteSize.parse(s) == nil {
            throw ValidationError("\"\(s)\" is not a size; write e.g. 1TiB, 500MB, 64MiB or a number of bytes.")
        }
    }
}
