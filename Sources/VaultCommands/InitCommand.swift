import ArgumentParser
import Foundation
import VaultCore
import VaultFormat
import VaultS3
import VaultStorage

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new, empty vault.",
        discussion: Help.reflow("""
        Creates the directory (mode 0700) and vault.json (format version 1, a new vault id).
        Refuses a directory that is not empty. Every other command finds the vault through
        --vault or the PGVAULT_VAULT environment variable.

        Example:
          pgvault init /srv/pgvault
        """))

    @Argument(help: ArgumentHelp("Where to create the vault (default: --vault or $PGVAULT_VAULT).", valueName: "vault"))
    var path: String?

    @OptionGroup var vaultOption: VaultOption

    @Option(help: ArgumentHelp("disabled or unlocked (lock later with `pgvault vault lock`). On S3, unlocked needs a bucket with Object Lock.", valueName: "state"))
    var immutability: String?

    @Option(help: ArgumentHelp("Days a deleted point stays recoverable (14-180).", valueName: "n"))
    var softDeleteDays: Int?

    @Option(help: ArgumentHelp("Longest chain of delta chunks a backup may build (1-64, default \(VaultConfig.defaultDeltaDepth)): lower restores faster, higher stores less.", valueName: "n"))
    var deltaDepth: Int?

    @Flag(help: "S3: create the bucket (with Object Lock enabled) if it does not exist.")
    var createBucket = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let immutability, immutability != "disabled" && immutability != "unlocked" {
            throw ValidationError("--immutability must be disabled or unlocked (lock later with `pgvault vault lock`).")
        }
        if let deltaDepth, !VaultConfig.deltaDepthRange.contains(deltaDepth) {
            throw ValidationError("--delta-depth must be between \(VaultConfig.deltaDepthRange.lowerBound) and \(VaultConfig.deltaDepthRange.upperBound).")
        }
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let location = try path ?? vaultOption.location()
            let storage = try StorageFactory.make(location, s3: vaultOption.s3)
            if let local = storage as? LocalStorage { try local.createRoot() }
            if let s3 = storage as? S3Storage {
                if createBucket { try s3.createBucket(objectLock: true) }
                try StorageFactory.checkBucket(s3)
            } else if createBucket {
                throw VaultError(.invalidArgument, "--create-bucket is for s3:// vaults.")
            }
            let imm = immutability.flatMap(ProtectionSettings.Immutability.init(rawValue:))
            // Before anything is written: immutability on S3 needs Object Lock on the bucket.
            if let imm, imm != .disabled { try ObjectLock.requireSupport(storage) }
            let vault = try Vault.create(storage: storage, deltaDepth: deltaDepth)
            if imm != nil || softDeleteDays != nil {
                try VaultControl(vault: vault).changeSettings(immutability: imm, softDeleteDays: softDeleteDays)
            }
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
