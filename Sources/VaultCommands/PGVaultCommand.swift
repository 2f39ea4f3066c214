import ArgumentParser
import Foundation
import VaultCore

/// The only public API of this module: what main.swift calls.
public enum PGVaultCommand {
    /// Parses the command line and runs; maps every failure to a documented exit code.
    public static func entry() { RootCommand.entry() }
}

/// The root command.
struct RootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgvault",
        abstract: "Long-term-retention logical backups of PostgreSQL in a deduplicating vault.",
        discussion: Help.reflow("""
        pgvault runs one pg_dump per database (plus the cluster's roles and tablespaces), streams
        each dump through content-defined chunking, SHA-256 and zstd into a vault, and restores
        recovery points as the original, byte-identical dump files for stock pg_restore / psql.

        Typical use:
          pgvault init /srv/pgvault
          export PGVAULT_VAULT=/srv/pgvault
          pgvault check  --conninfo "host=db1 user=backup"
          pgvault backup --conninfo "host=db1 user=backup" --server-name db1
          pgvault points
          pgvault restore latest --to /restore/db1-today

        Exit codes: 0 ok, 1 failed, 2 usage error, 3 partial (some databases refused or failed),
        10 not a vault, 11 refused by protection (immutability, legal hold, soft delete),
        130 interrupted.
        """),
        version: pgVaultVersionString,
        subcommands: [InitCommand.self, CheckCommand.self, BackupCommand.self, PointsCommand.self,
                      ShowCommand.self, RestoreCommand.self, JobsCommand.self, VaultCommand.self,
                      DeleteCommand.self, UndeleteCommand.self, RetainCommand.self, HoldCommand.self,
                      PurgeCommand.self, AuditCommand.self, PolicyCommand.self, RunCommand.self, ServeCommand.self, CopyCommand.self, VerifyCommand.self]
    )

    static func entry() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let e as VaultError {
            Output.printError(e, json: false)
            Foundation.exit(e.exitCode.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                // Usage errors exit 2 (documented), not ArgumentParser's 64.
                let message = fullMessage(for: error)
                FileHandle.standardError.write(Data((message + "\n").utf8))
                Foundation.exit(VaultCore.ExitCode.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

let pgVaultVersionString = "0.1.0"
