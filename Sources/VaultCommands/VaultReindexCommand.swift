import ArgumentParser
import Foundation
import VaultCore
import VaultFormat

struct VaultReindexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the catalog index that listings read, from the manifests alone.",
        discussion: Help.reflow("""
        `points`, `run`, `serve` and `vault show` list recovery points from the catalog index
        (catalog/ in the vault: packs of point summaries, plus one small entry per point
        committed since the last pack), not from the manifests. The index is derived data:
        listings fill in what it lacks from the manifests and write a new pack when more than
        256 points are outside the newest one, so running this is never required for
        correctness. Run it after manifests were written by other means (a restored or
        synthetic vault), to make the first listing of a large vault fast, or to replace an
        index you distrust.

        Reads every manifest (restore, verify and garbage collection always do; the index is
        never used for them), writes one new pack of all points, then removes the older packs
        where the storage allows (on a locked S3 vault they may stay; listings skip them).

        Examples:
          pgvault vault reindex --vault /srv/pgvault
          pgvault vault reindex --vault s3://backups/pg --json
        """))

    @OptionGroup var vaultOption: VaultOption
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        var points: Int
        var pack: String?
        var packBytes: Int
        var packsRemoved: Int
        var packsLeft: Int
        var seconds: Double
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let started = Date()
            let r = try CatalogIndex(vault: vault).rebuild()
            let report = Report(points: r.points, pack: r.pack, packBytes: r.packBytes, packsRemoved: r.packsRemoved,
                                packsLeft: r.packsLeft, seconds: (Date().timeIntervalSince(started) * 1000).rounded() / 1000)
            if output.json { try Output.json(report); return 0 }
            var line = "Indexed \(r.points) points from their manifests into \(r.pack ?? "-") (\(ByteSize.format(Int64(r.packBytes))))"
            if r.packsRemoved > 0 { line += "; removed \(r.packsRemoved) older pack\(r.packsRemoved == 1 ? "" : "s")" }
            if r.packsLeft > 0 { line += "; \(r.packsLeft) older pack\(r.packsLeft == 1 ? "" : "s") could not be removed (listings skip them)" }
            Output.stdout(line + ".")
            return 0
        }
    }
}
