import ArgumentParser
import Foundation
import VaultCore
import VaultFormat
import VaultStorage

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new, empty vault.",
        discussion: """
        Creates the directory (mode 0700) and vault.json (format version 1, a new vault id).
        Refuses a directory that is not empty. Every other command finds the vault through
        --vault or the PGVAULT_VAULT environment variable.

        Example:
          pgvault init /srv/pgvault
        """)

    @Argument(help: ArgumentHelp("Where to create the vault (default: --vault or $PGVAULT_VAULT).", valueName: "vault"))
    var path: String?

    @OptionGroup var vaultOption: VaultOption
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let location = try path ?? vaultOption.location()
            let storage = LocalStorage(root: location)
            try storage.createRoot()
            let vault = try Vault.create(storage: storage)
            if output.json {
                struct Out: Encodable { let vault: String; let id: String; let format: Int }
                try Output.json(Out(vault: location, id: vault.config.id, format: vault.config.format))
            } else {
                Output.stdout("Created vault \(vault.config.id) (format \(vault.config.format)) at \(location)")
                Output.stdout("Next: pgvault backup --vault \(location) --conninfo \"host=... user=...\"")
            }
            return 0
        }
    }
}
