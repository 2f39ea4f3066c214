import ArgumentParser
import Foundation
import VaultArchive
import VaultCore
import VaultEngine
import VaultFormat

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a recovery point as files: the original dumps plus SQL for databases, roles, tablespaces.",
        discussion: Help.reflow("""
        Writes, for each database, <name>.dump (byte-identical to what pg_dump produced) and
        <name>.database.sql (CREATE DATABASE with owner, encoding, locale, privileges, settings),
        then roles.sql, tablespaces.sql, manifest.json, SHA256SUMS (for `sha256sum -c`) and
        RESTORE.md with the exact psql / pg_restore commands. Names are escaped: bytes outside
        A-Z a-z 0-9 _ - . (and a leading - or .) become %XX; manifest.json maps them back.

        Every byte is verified against the manifest's SHA-256 while it is written. Nothing is
        ever overwritten: --to needs a new or empty directory, --tar a new file (.tar or
        .tar.zst). On any error the partial file is removed and the command exits 1.

        Examples:
          pgvault restore latest --to /restore/today
          pgvault restore 20261125T1701 --database shop --tar /restore/shop.tar.zst
        """))

    @OptionGroup var vaultOption: VaultOption

    @Argument(help: ArgumentHelp("Point id, unique id prefix, or `latest`.", valueName: "point"))
    var point: String

    @Option(name: .long, help: ArgumentHelp("Write the files into this new or empty directory, or an empty s3://bucket/prefix.", valueName: "dir|url"))
    var to: String?

    @Option(name: .long, help: ArgumentHelp("Write the files into this new tar archive (.tar or .tar.zst).", valueName: "file"))
    var tar: String?

    @Option(name: .customLong("database"), help: ArgumentHelp("Restore only this database's files (repeatable); the globals always come along.", valueName: "name"))
    var databases: [String] = []

    @Flag(name: .long, help: "No progress display on the terminal.")
    var quiet = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (to == nil) != (tar == nil) else {
            throw ValidationError("Give exactly one of --to DIR or --tar FILE.")
        }
        if let tar, !(tar.hasSuffix(".tar") || tar.hasSuffix(".tar.zst")) {
            throw ValidationError("--tar: the file name must end in .tar or .tar.zst.")
        }
    }

    struct Out: Encodable {
        var point: String
        var destination: String
        var files: [String]
        var bytes: Int64
        var job: String
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let id = try vault.resolvePointId(point)
            var target: RestoreTarget = to.map { .directory($0) } ?? .tar(tar ?? "")
            if let to, StorageFactory.isS3(to) {   // restore to object storage (S3Sink)
                try StorageFactory.checkOutside(vault: vault, target: to)
                target = .s3(url: to, endpoint: vaultOption.s3.endpoint(), region: vaultOption.s3.region())
            }
            Interrupt.shared.install()
            let totals = ProgressTotals()
            let ticker = (!output.json && !quiet && Output.stderrIsTerminal) ? Ticker(totals: totals) : nil
            ticker?.start()
            let summary: RestoreSummary
            do {
                summary = try RestoreEngine(vault: vault, progress: totals).restore(point: id, to: target, databases: databases)
                ticker?.stop()
            } catch {
                ticker?.stop()
                throw error
            }
            if output.json {
                try Output.json(Out(point: summary.pointId, destination: summary.destination, files: summary.files,
                                    bytes: summary.bytes, job: summary.job.id))
            } else {
                Output.stdout("Restored point \(summary.pointId) to \(summary.destination): \(summary.files.count) files, \(ByteSize.format(summary.bytes)) verified against the manifest.")
                for f in summary.files { Output.stdout("  \(f)") }
                Output.stdout("Next: read RESTORE.md there; check with `sha256sum -c SHA256SUMS`.")
            }
            return 0
        }
    }
}

struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List backup and restore jobs: when, how long, bytes, outcome, and why one failed.",
        discussion: Help.reflow("""
        A job that started but never finished shows as `running` while its process is alive on
        this host and `abandoned` otherwise (killed, or the machine went down).

        Example:
          pgvault jobs --json | jq '.[] | select(.status != "ok")'
        """))

    @OptionGroup var vaultOption: VaultOption
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let jobs = try JobLog(storage: vault.storage).all()
            if output.json {
                try Output.json(jobs)
                return 0
            }
            if jobs.isEmpty { Output.stdout("No jobs yet."); return 0 }
            let rows = jobs.map { j -> [String] in
                let duration = j.finishedAt.map { String(format: "%.1fs", $0.timeIntervalSince(j.startedAt)) } ?? "-"
                var outcome = j.status.rawValue
                if let e = j.error { outcome += ": " + e.message }
                else if let f = j.failures, !f.isEmpty { outcome += ": \(f.count) database(s) not backed up" }
                return [j.id, j.kind.rawValue, Output.shortDate(j.startedAt), duration,
                        j.bytes.map { ByteSize.format($0) } ?? "-", j.pointId ?? "-", outcome]
            }
            Output.stdout(Output.table(["JOB", "KIND", "STARTED", "TOOK", "BYTES", "POINT", "OUTCOME"], rows))
            return 0
        }
    }
}
