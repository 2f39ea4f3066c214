import ArgumentParser
import Foundation
import VaultCore
import VaultFormat
import VaultStorage

struct VaultUnhideCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unhide",
        abstract: "Bring back points, audit records and chunks that a plain DELETE hid in an S3 vault.",
        discussion: Help.reflow("""
        S3 Object Lock keeps every locked version, but a DELETE without a version id (which
        needs only s3:DeleteObject) still puts a delete marker in front of the object: a point
        vanishes from `pgvault points`, an audit record leaves a gap that `audit --verify`
        reports, a chunk reads as missing. The data is still in the bucket. This removes those
        markers (they carry no lock; removing one destroys nothing) for: every audit record
        and settings record; the manifest and state records of every point whose removal the
        audit log does not record; and every chunk a point present needs. What pgvault hid
        itself stays hidden: points it purged or deleted, chunks garbage collection removed.

        Audited as vault.unhide. --dry-run lists what it would bring back and changes nothing
        (chunks of points still hidden are only found by the real run). A filesystem vault
        keeps no versions: there it is an error (exit 2).

        Examples:
          pgvault vault unhide --vault s3://backups/pg --dry-run
          pgvault vault unhide --vault s3://backups/pg --json
        """))

    @OptionGroup var vaultOption: VaultOption
    @Flag(help: "List what would be brought back; change nothing.") var dryRun = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let r = try Unhide.run(vault, dryRun: dryRun)
            if output.json { try Output.json(r); return 0 }
            let verb = dryRun ? "Would bring back" : "Brought back"
            if r.restored.isEmpty {
                Output.stdout("Nothing hidden to bring back in \(vault.storage.location).")
            } else {
                Output.stdout("\(verb) \(r.restored.count) hidden object\(r.restored.count == 1 ? "" : "s"):")
                Output.stdout(Output.table(["KIND", "KEY"], r.restored.map { [$0.kind, $0.key] }))
                if !r.points.isEmpty && !dryRun {
                    Output.stdout("Points back: \(r.points.joined(separator: ", ")). Check them: pgvault verify \(r.points.joined(separator: " "))")
                }
            }
            // Chunks garbage collection removed can be thousands while their lock lasts: counted.
            let keptChunks = r.kept.filter { $0.kind == "chunk" }, keptOther = r.kept.filter { $0.kind != "chunk" }
            if !keptOther.isEmpty {
                Output.stdout("Left hidden (\(keptOther.count)):")
                Output.stdout(Output.table(["KIND", "KEY", "WHY"], keptOther.map { [$0.kind, $0.key, $0.reason ?? ""] }))
            }
            if let why = keptChunks.first?.reason {
                Output.stdout("Left hidden: \(keptChunks.count) chunk\(keptChunks.count == 1 ? "" : "s"), \(why) (--json lists them).")
            }
            return 0
        }
    }
}
