import ArgumentParser
import Foundation
import VaultCore
import VaultEngine
import VaultFormat
import VaultPostgres

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up every database of a server (and its roles and tablespaces) into the vault now.",
        discussion: Help.reflow("""
        Discovers the databases (all that allow connections and are not templates, unless
        --database narrows it), refuses those over the limits before dumping a byte, runs one
        `pg_dump -Fc -Z0` per database (up to --jobs at once) inside a snapshot exported by the
        preflight connection, and streams each dump through content-defined chunking, SHA-256
        and zstd into the vault. Also saves `pg_dumpall --roles-only` / `--tablespaces-only` and,
        per database, its CREATE DATABASE statement with owner, encoding, locale, privileges and
        settings. One recovery point per run; its manifest is written last, so an interrupted
        backup never leaves a point that looks valid.

        Passwords: use ~/.pgpass, PGPASSFILE or PGPASSWORD. A password given in --conninfo is
        handed to pg_dump through a private 0600 passfile, never on a command line.

        Exit 0 ok, 3 partial (some databases refused or failed; the rest are in the point),
        1 failed, 10 not a vault, 130 interrupted.

        Examples:
          pgvault backup --vault /srv/pgvault \\
              --conninfo "host=db1 user=backup" --server-name db1
          pgvault backup --conninfo "service=prod" \\
              --exclude-database 'scratch_*' --jobs 2 --json
        """))

    @OptionGroup var vaultOption: VaultOption
    @OptionGroup var selection: SelectionOptions

    @Option(name: .long, help: ArgumentHelp("How many databases to dump at once.", valueName: "n"))
    var jobs: Int = 1

    @Option(name: .long, help: ArgumentHelp("Name of the server in the vault (default: host:port).", valueName: "name"))
    var serverName: String?

    @Flag(name: .long, help: "Dump roles without their password hashes (needed on managed services that hide pg_authid).")
    var noRolePasswords = false

    @Option(name: .long, help: ArgumentHelp("Keep the point this long: 30d, 8w, 12m, 10y (7 days to 10 years; default: the vault's default retention).", valueName: "period"))
    var retain: String?

    @Flag(name: .long, help: "No progress display on the terminal.")
    var quiet = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        try selection.validateSelection()
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64.") }
        if let retain {
            do { _ = try RetentionPeriod.parseChecked(retain, option: "--retain") }
            catch let e as VaultError { throw ValidationError(e.message) }
        }
        if let serverName, serverName.isEmpty || serverName.contains("/") {
            throw ValidationError("--server-name must be non-empty and must not contain '/'.")
        }
    }

    struct Summary: Encodable {
        var point: String?
        var status: String
        var exitCode: Int32
        var server: ServerInfo?
        var pgDumpVersion: String?
        var startedAt: Date?
        var finishedAt: Date?
        var databases: [DatabaseRecord]
        var files: [FileEntry]?
        var stats: PointStats?
        var job: String
        var failures: [ErrorRecord]
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            var request = BackupRequest(conninfo: try selection.connInfo())
            request.databases = selection.databases
            request.exclude = selection.exclude
            request.jobs = jobs
            request.limits = try selection.limits()
            request.serverName = serverName
            request.noRolePasswords = noRolePasswords
            request.pgBin = selection.pgBinDirectory
            request.retain = try retain.map { try RetentionPeriod.parseChecked($0, option: "--retain") }

            Interrupt.shared.install()
            let totals = ProgressTotals(forward: EventPrinter(enabled: !output.json && !quiet))
            let ticker = (!output.json && !quiet && Output.stderrIsTerminal) ? Ticker(totals: totals) : nil
            ticker?.start()
            let result: BackupResult
            do {
                result = try BackupEngine(vault: vault, logger: makeLogger(), progress: totals).run(request)
                ticker?.stop()
            } catch {
                ticker?.stop()
                throw error
            }
            let m = result.manifest
            if output.json {
                try Output.json(Summary(point: m?.id, status: m?.status.rawValue ?? "failed",
                                        exitCode: result.exitCode.rawValue, server: m?.server,
                                        pgDumpVersion: m?.pgDumpVersion, startedAt: m?.startedAt, finishedAt: m?.finishedAt,
                                        databases: m?.databases ?? [], files: m?.files, stats: m?.stats,
                                        job: result.job.id, failures: result.failures.map(\.record)))
            } else if let m {
                printSummary(m, result: result)
            }
            return result.exitCode.rawValue
        }
    }

    private func printSummary(_ m: Manifest, result: BackupResult) {
        let seconds = max(0.001, m.finishedAt.timeIntervalSince(m.startedAt))
        Output.stdout("Recovery point \(m.id) (\(m.status.rawValue)): server \(m.server.name), PostgreSQL \(m.server.version), pg_dump \(m.pgDumpVersion)")
        let rows = m.databases.map { d -> [String] in
            let size = m.files.first { $0.path == d.dumpFile }.map { ByteSize.format($0.size) } ?? "-"
            return [d.name, size, d.outcome.rawValue + (d.error.map { ": " + $0.message } ?? "")]
        }
        Output.stdout(Output.table(["DATABASE", "DUMP", "OUTCOME"], rows))
        // Database problems are in the table above; what is left concerns the cluster globals.
        for f in result.failures where !m.databases.contains(where: { $0.name == f.location || $0.error?.message == f.message }) {
            Output.stdout("globals: \(f.message)")
        }
        let rate = Double(m.stats.logicalBytes) / seconds
        Output.stdout(String(format: "Dumped %@ in %.1f s (%@/s); %@ new in the vault (%d of %d chunks new).",
                             ByteSize.format(m.stats.logicalBytes), seconds, ByteSize.format(Int64(rate)),
                             ByteSize.format(m.stats.storedBytes), m.stats.newChunks, m.stats.chunks))
        if result.exitCode == .partial {
            Output.stdout("Some databases were not backed up (exit 3); the others are in the point.")
        }
    }
}

/// Prints per-database lines (not the ticker) to stderr as they happen.
struct EventPrinter: ProgressSink {
    let enabled: Bool
    func report(_ event: JobEvent) {
        guard enabled else { return }
        // On a terminal, clear the ticker's line first so the two never mix.
        let clear = Output.stderrIsTerminal ? "\r\u{1B}[K" : ""
        switch event {
        case .connected(let server, let version, let pgDump):
            Output.stderr(clear + "connected to \(server) (PostgreSQL \(version)); using pg_dump \(pgDump)")
        case .refused(let db, let message):
            Output.stderr(clear + "refused \(db): \(message)")
        case .finished(let db, let ok, let bytes):
            Output.stderr(clear + (ok ? "done    \(db) (\(ByteSize.format(bytes)))" : "FAILED  \(db)"))
        case .note(let text):
            Output.stderr(clear + text)
        default: break
        }
    }
}

/// Redraws one progress line on the terminal twice a second.
final class Ticker: @unchecked Sendable {
    private let totals: ProgressTotals
    private let lock = NSLock()
    private var running = false
    private var thread: Thread?

    init(totals: ProgressTotals) { self.totals = totals }

    func start() {
        lock.lock(); running = true; lock.unlock()
        let t = Thread { [self] in
            while isRunning {
                draw()
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        thread = t
        t.start()
    }

    private var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }

    private func draw() {
        let s = totals.snapshot
        let elapsed = max(0.001, Date().timeIntervalSince(totals.startedAt))
        let rate = ByteSize.format(Int64(Double(s.bytes) / elapsed))
        var line = "  \(ByteSize.format(s.bytes))  \(rate)/s  \(s.done)/\(s.total) databases"
        if !s.active.isEmpty { line += "  dumping: " + s.active.joined(separator: ", ") }
        if line.count > 120 { line = String(line.prefix(117)) + "..." }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    func stop() {
        lock.lock(); running = false; lock.unlock()
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
