import ArgumentParser
import Foundation
import VaultCore
import VaultFormat
import VaultStorage

struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Show or change the vault's protection: immutability, soft delete, default retention; rebuild its catalog index; bring back what a plain DELETE hid.",
        subcommands: [VaultShowCommand.self, VaultSetCommand.self, VaultLockCommand.self, VaultReindexCommand.self,
                      VaultUnhideCommand.self],
        defaultSubcommand: VaultShowCommand.self)
}

struct SettingsReport: Encodable {
    var vault: String
    var id: String
    var format: Int
    var settings: ProtectionSettings
    var points: Int
    var softDeletedPoints: Int
    var heldPoints: Int
    var storedBytes: Int64
    /// Longest delta chain backups build (`init --delta-depth`); 0 when deltas are off.
    var deltaDepth: Int
}

func printSettings(_ vault: Vault, _ s: ProtectionSettings, json: Bool) throws {
    let views = try VaultControl(vault: vault).pointViews()
    let report = SettingsReport(vault: vault.storage.location, id: vault.config.id, format: vault.config.format, settings: s,
                                points: views.count, softDeletedPoints: views.filter { $0.state.isSoftDeleted }.count,
                                heldPoints: views.filter { $0.state.isHeld }.count, storedBytes: try vault.storedChunkBytes(),
                                deltaDepth: vault.config.delta == false ? 0 : vault.config.deltaDepth ?? VaultConfig.defaultDeltaDepth)
    if json { try Output.json(report); return }
    var lines = ["Vault \(report.id) at \(report.vault) (format \(report.format))"]
    var imm = "  immutability:      \(s.immutability.rawValue)"
    if let at = s.lockedAt { imm += " (locked at \(Timestamp.rfc3339(at)); irreversible)" }
    switch s.immutability {
    case .disabled: imm += " — points can be deleted before their retain-until"
    case .unlocked: imm += " — no point can be deleted before its retain-until; an admin may still disable this (audited)"
    case .locked: break
    }
    lines.append(imm)
    lines.append("  soft delete:       \(s.softDelete.rawValue), \(s.softDeleteDays) days")
    lines.append("  default retention: \(s.defaultRetention)")
    lines.append("  points:            \(report.points) (\(report.softDeletedPoints) soft-deleted, \(report.heldPoints) on legal hold)")
    lines.append("  stored:            \(ByteSize.format(report.storedBytes)) of chunks")
    lines.append("  delta chains:      " + (report.deltaDepth == 0 ? "off (full chunks only)" : "up to \(report.deltaDepth) steps (set at init with --delta-depth)"))
    Output.stdout(lines.joined(separator: "\n"))
}

struct VaultShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print the vault's id, format and protection settings.")
    @OptionGroup var vaultOption: VaultOption
    @OptionGroup var output: OutputOptions
    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            try printSettings(vault, try VaultControl(vault: vault).settings(), json: output.json)
            return 0
        }
    }
}

struct VaultSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change protection settings (each change is audited).",
        discussion: Help.reflow("""
        Allowed: immutability disabled <-> unlocked (locking is `pgvault vault lock`); nothing
        leaves locked. Soft delete disabled / enabled / always-on; always-on can never be turned
        off. The soft-delete window is 14 to 180 days. While locked, the window and the default
        retention can only grow. A refusal exits 11 and changes nothing.

        Examples:
          pgvault vault set --immutability unlocked --soft-delete always-on \\
              --soft-delete-days 30
          pgvault vault set --default-retention 12m
        """))
    @OptionGroup var vaultOption: VaultOption
    @Option(help: ArgumentHelp("disabled or unlocked.", valueName: "state")) var immutability: String?
    @Option(help: ArgumentHelp("disabled, enabled or always-on.", valueName: "state")) var softDelete: String?
    @Option(help: ArgumentHelp("Days a deleted point stays recoverable (14-180).", valueName: "n")) var softDeleteDays: Int?
    @Option(help: ArgumentHelp("Retention of backups that give no --retain (7d to 10y).", valueName: "period")) var defaultRetention: String?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if immutability == nil && softDelete == nil && softDeleteDays == nil && defaultRetention == nil {
            throw ValidationError("Nothing to change: give --immutability, --soft-delete, --soft-delete-days or --default-retention.")
        }
        if let immutability, ProtectionSettings.Immutability(rawValue: immutability) == nil {
            throw ValidationError("--immutability must be disabled or unlocked (lock with `pgvault vault lock`).")
        }
        if let softDelete, ProtectionSettings.SoftDelete(rawValue: softDelete) == nil {
            throw ValidationError("--soft-delete must be disabled, enabled or always-on.")
        }
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let s = try VaultControl(vault: vault).changeSettings(
                immutability: immutability.flatMap(ProtectionSettings.Immutability.init(rawValue:)),
                softDelete: softDelete.flatMap(ProtectionSettings.SoftDelete.init(rawValue:)),
                softDeleteDays: softDeleteDays,
                defaultRetention: try defaultRetention.map { try RetentionPeriod.parseChecked($0, option: "--default-retention") })
            try printSettings(vault, s, json: output.json)
            return 0
        }
    }
}

struct VaultLockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Lock immutability: irreversible.",
        discussion: Help.reflow("""
        Moves immutability from unlocked to locked. From then on no recovery point can be
        deleted or purged before its retain-until, retention can only grow, and immutability can
        never be disabled or unlocked again, by anyone, with any pgvault command. Run it without
        --confirm to see the vault id you must pass.

        On a local filesystem pgvault enforces this and the audit log makes tampering visible;
        root can still remove files. Server-enforced immutability needs S3 Object Lock or a
        WORM filesystem.

        Example:
          pgvault vault lock --confirm vault-1a2b3c4d5e6f7a8b
        """))
    @OptionGroup var vaultOption: VaultOption
    @Option(help: ArgumentHelp("The vault id, to confirm.", valueName: "vault-id")) var confirm: String = ""
    @OptionGroup var output: OutputOptions
    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let s = try VaultControl(vault: vault).lock(confirm: confirm)
            if !output.json { Output.stdout("Vault \(vault.config.id) is now LOCKED. This cannot be undone.") }
            try printSettings(vault, s, json: output.json)
            return 0
        }
    }
}
