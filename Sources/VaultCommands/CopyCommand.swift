import ArgumentParser
import Foundation
import VaultCore
import VaultFormat

struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy recovery points to another vault (3-2-1), keeping retain-until and legal holds.",
        discussion: Help.reflow("""
        Copies each point's manifest (unchanged), its state (retain-until, legal hold, soft
        deletion) and only the chunks the target lacks, each verified against its id on the
        way. Vaults can be of any kind (directory or s3://). The target must be a vault of its
        own (`pgvault init` it first); it records `point.copy` in its audit log, and on an S3
        target with immutability on the copied objects get their Object Lock like a backup's.
        Without POINT arguments every point that is not soft-deleted is copied. A point the
        target already has is skipped, so running the copy again finishes an interrupted one.

        Both locations use --s3-endpoint / --s3-region; --to-s3-endpoint / --to-s3-region
        override them for the target.

        Examples:
          pgvault copy --from /srv/pgvault --to s3://offsite-bucket/db1
          pgvault copy --from s3://offsite-bucket/db1 \\
              --to /srv/restore-vault 20261125T1701
        """))

    @Option(help: ArgumentHelp("The source vault (directory or s3://bucket/prefix).", valueName: "vault")) var from: String
    @Option(help: ArgumentHelp("The target vault (directory or s3://bucket/prefix).", valueName: "vault")) var to: String
    @Argument(help: ArgumentHelp("Points to copy (ids or unique prefixes; default: all not soft-deleted).", valueName: "point"))
    var points: [String] = []
    @OptionGroup var s3: S3Options
    @Option(name: .customLong("to-s3-endpoint"), help: ArgumentHelp("S3 endpoint of the target, when it differs.", valueName: "url"))
    var toS3Endpoint: String?
    @Option(name: .customLong("to-s3-region"), help: ArgumentHelp("S3 region of the target, when it differs.", valueName: "region"))
    var toS3Region: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            var targetS3 = s3
            if let toS3Endpoint { targetS3.s3Endpoint = toS3Endpoint }
            if let toS3Region { targetS3.s3Region = toS3Region }
            let src = try StorageFactory.open(from, s3: s3)
            let dst = try StorageFactory.open(to, s3: targetS3)
            let r = try VaultCopy.copy(from: src, to: dst, points: points,
                                       progress: output.json ? nil : { Output.stderr($0) })
            if output.json { try Output.json(r); return 0 }
            for c in r.copied {
                Output.stdout("copied point \(c.point): \(c.chunksSent) chunks sent (\(ByteSize.format(c.bytesSent))), \(c.chunksReused) already there\(c.retainUntil.map { ", retained until \(Timestamp.rfc3339($0))" } ?? "")\(c.held ? ", on legal hold" : "")")
            }
            for s in r.skipped { Output.stdout("skipped point \(s): the target already has it") }
            Output.stdout("\(r.copied.count) point(s) copied, \(r.skipped.count) skipped, from \(r.from) to \(r.to).")
            return 0
        }
    }
}
