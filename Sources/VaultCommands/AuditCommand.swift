import ArgumentParser
import Foundation
import VaultCore
import VaultFormat

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List the hash-chained log of every change to the vault, or verify it.",
        discussion: Help.reflow("""
        Every change (vault.init, point.create, point.delete, point.undelete, point.purge,
        point.retain, hold.set, hold.clear, settings.change, vault.lock, gc.sweep) appends a
        record holding the previous record's SHA-256. --verify recomputes the chain and names
        the first record that was edited, removed or reordered (exit 1).

        Examples:
          pgvault audit --point 20190106T020000Z-1a2b3c4d
          pgvault audit --verify
        """))
    @OptionGroup var vaultOption: VaultOption
    @Option(help: ArgumentHelp("Only records about this point (id or unique prefix).", valueName: "point")) var point: String?
    @Flag(help: "Recompute the hash chain; exit 1 naming the first broken record.") var verify = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let log = AuditLog(storage: vault.storage)
            if verify {
                let v = try log.verify()
                struct Out: Encodable { var ok: Bool; var records: Int; var firstBroken: Int?; var reason: String? }
                if output.json { try Output.json(Out(ok: v.ok, records: v.entries, firstBroken: v.firstBroken?.seq, reason: v.firstBroken?.reason)) }
                else if let b = v.firstBroken { Output.stdout("audit chain BROKEN at record \(b.seq): \(b.reason)") }
                else { Output.stdout("audit chain verifies: \(v.entries) records") }
                return v.ok ? 0 : VaultCore.ExitCode.failed.rawValue
            }
            var entries = try log.entries()
            if let point {
                let id = (try? VaultControl(vault: vault).view(point).id) ?? point
                entries = entries.filter { $0.target == id }
            }
            if output.json { try Output.json(entries); return 0 }
            let rows = entries.map { e in
                [String(e.seq), Output.shortDate(e.time), e.actor, e.operation, e.target,
                 e.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")]
            }
            Output.stdout(Output.table(["SEQ", "TIME", "ACTOR", "OPERATION", "TARGET", "DETAILS"], rows))
            return 0
        }
    }
}
