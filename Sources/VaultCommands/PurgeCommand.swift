import ArgumentParser
import Foundation
import VaultCore
import VaultFormat

struct PurgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove soft-deleted points whose window has passed, then unreferenced chunks.",
        discussion: Help.reflow("""
        A soft-deleted point is purged once the soft-delete window in force when it was
        deleted has passed, unless it is on legal hold or still retained under immutability.
        Then garbage collection removes chunks no remaining point uses and that are older than
        --gc-grace (default 1h). A backup running at the same time is never harmed: the sweep
        is skipped while a backup holds its lease (the next purge does it).

        Exit 0, or 11 when a soft-deleted point was kept by protection (legal hold, or
        retention under immutability); points whose window has not passed are just listed.

        Examples:
          pgvault purge --dry-run
          pgvault purge --json
        """))
    @OptionGroup var vaultOption: VaultOption
    @Flag(help: "Print what would be removed and the bytes freed; change nothing.") var dryRun = false
    @Option(help: ArgumentHelp("Keep unreferenced chunks younger than this (e.g. 1h, 30m, 0s).", valueName: "duration"))
    var gcGrace: String = "1h"
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if parseSeconds(gcGrace) == nil { throw ValidationError("--gc-grace: \"\(gcGrace)\" is not a duration like 1h, 30m or 0s.") }
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let control = VaultControl(vault: try vaultOption.open())
            let r = try control.purge(dryRun: dryRun, grace: parseSeconds(gcGrace) ?? 3600)
            // Exit 11 when protection (a legal hold, retention under immutability) kept a
            // soft-deleted point; a window that has not passed yet is not a refusal.
            let code: Int32 = r.kept.contains(where: \.protected) ? VaultCore.ExitCode.locked.rawValue : 0
            if output.json { try Output.json(r); return code }
            let verb = dryRun ? "would purge" : "purged"
            for p in r.purged { Output.stdout("\(verb) point \(p.point) (server \(p.server), soft-deleted \(p.softDeletedAt.map(Timestamp.rfc3339) ?? "?"))") }
            for k in r.kept { Output.stdout("kept point \(k.point): \(k.reason)\(k.allowedFrom.map { "; purge allowed from \(Timestamp.rfc3339($0))" } ?? "")") }
            if let d = r.sweepDeferred { Output.stdout("chunk sweep skipped: \(d)") }
            else { Output.stdout("\(dryRun ? "would remove" : "removed") \(r.chunksRemoved) unreferenced chunks, freeing \(ByteSize.format(r.bytesFreed)); \(r.chunksKept) chunks kept.") }
            if r.versionsRemoved + r.versionsLocked + r.uploadsAborted > 0 {
                Output.stdout("S3: removed \(r.versionsRemoved) old object versions, \(r.versionsLocked) still locked by Object Lock; aborted \(r.uploadsAborted) unfinished uploads.")
            }
            if r.orphanStateRecordsRemoved > 0 { Output.stdout("removed \(r.orphanStateRecordsRemoved) state records left by an interrupted purge") }
            if code != 0 { Output.stderr("pgvault: some soft-deleted points are protected (legal hold or retention under immutability) and were kept (exit 11).") }
            return code
        }
    }
}

/// `90s`, `30m`, `1h`, `2d`, `0s`.
func parseSeconds(_ s: String) -> TimeInterval? {
    guard let unit = s.last, let n = Double(s.dropLast()), n >= 0 else { return nil }
    switch unit {
    case "s": return n
    case "m": return n * 60
    case "h": return n * 3600
    case "d": return n * 86400
    default: return nil
    }
}
