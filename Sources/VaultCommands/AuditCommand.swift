import ArgumentParser
import Foundation
import VaultCore
import VaultFormat

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List the hash-chained log of every change to the vault, or verify it.",
        discussion: Help.reflow("""
        Every change (vault.init, point.create, point.copy, point.delete, point.undelete,
        point.purge, point.retain, hold.set, hold.clear, settings.change, vault.lock, gc.sweep,
        vault.unhide) appends a record holding the previous record's SHA-256. --verify recomputes the chain and names
        the first record that was edited, removed or reordered (exit 1), and prints the chain's
        head: its last record as SEQ:SHA256.

        The chain cannot show that records were removed from its end, or that someone able to
        write the vault rebuilt the whole log. Keep the head somewhere the vault's owner cannot
        rewrite (a ticket, a mail, another system's log); --anchor SEQ:SHA256 (implies
        --verify, repeatable) then proves that record SEQ is still in the log, unchanged, and
        with it every record before it.

        Examples:
          pgvault audit --point 20190106T020000Z-1a2b3c4d
          pgvault audit --verify
          pgvault audit --verify --json | jq -r .head   # keep it elsewhere
          pgvault audit --anchor 1042:5f0c…             # exit 1 unless it holds
        """))
    @OptionGroup var vaultOption: VaultOption
    @Option(help: ArgumentHelp("Only records about this point (id or unique prefix).", valueName: "point")) var point: String?
    @Flag(help: "Recompute the hash chain; exit 1 naming the first broken record.") var verify = false
    @Option(name: .customLong("anchor"),
            help: ArgumentHelp("A head noted earlier (SEQ:SHA256, as --verify prints it): exit 1 unless that record is still in the log, unchanged. Implies --verify; repeatable.",
                               valueName: "seq:sha256"))
    var anchors: [String] = []
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let log = AuditLog(storage: vault.storage)
            if verify || !anchors.isEmpty {
                let wanted = try anchors.map { text in
                    guard let a = AuditLog.Anchor(text) else {
                        throw VaultError(.invalidArgument,
                            "--anchor \"\(text)\" is not SEQ:SHA256 (a record number, a colon and 64 hex digits, as `pgvault audit --verify` prints the head).",
                            location: text)
                    }
                    return a
                }
                let v = try log.verify(anchors: wanted)
                struct Out: Encodable {
                    var ok: Bool; var records: Int; var firstBroken: Int?; var reason: String?
                    /// The last record as SEQ:SHA256 when the chain verifies.
                    var head: String?
                    var anchors: [String]
                }
                if output.json {
                    try Output.json(Out(ok: v.ok, records: v.entries, firstBroken: v.firstBroken?.seq, reason: v.firstBroken?.reason,
                                        head: v.head?.description, anchors: wanted.map(\.description)))
                } else if let b = v.firstBroken {
                    Output.stdout("audit chain BROKEN at record \(b.seq): \(b.reason)")
                } else {
                    Output.stdout("audit chain verifies: \(v.entries) records")
                    if !wanted.isEmpty { Output.stdout("anchors hold: \(wanted.map { String($0.seq) }.joined(separator: ", "))") }
                    if let head = v.head { Output.stdout("head: \(head)  (keep it outside the vault; --anchor checks it later)") }
                }
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
