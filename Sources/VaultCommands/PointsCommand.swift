import ArgumentParser
import Foundation
import VaultCore
import VaultFormat
import VaultStorage

struct PointsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "points",
        abstract: "List recovery points, newest first.",
        discussion: Help.reflow("""
        Columns: id, server, start time (UTC), databases in the point, logical bytes (what a
        restore writes), bytes this point added to the vault, status (ok / partial / failed),
        retain-until, and flags: HELD (legal hold), and for soft-deleted points the date from
        which purge may remove them. Soft-deleted points are hidden unless --state asks.

        Examples:
          pgvault points --vault /srv/pgvault
          pgvault points --server db1 --database shop --json | jq '.[0].id'
          pgvault points --year 2019 --held
          pgvault points --state soft-deleted
        """))

    @OptionGroup var vaultOption: VaultOption

    @Option(name: .long, help: ArgumentHelp("Only points of this server.", valueName: "name"))
    var server: String?

    @Option(name: .long, help: ArgumentHelp("Only points that hold a dump of this database.", valueName: "name"))
    var database: String?

    @Option(name: .long, help: ArgumentHelp("Only points started in this year (UTC).", valueName: "yyyy"))
    var year: Int?

    @Option(name: .long, help: ArgumentHelp("active (default), soft-deleted or all.", valueName: "state"))
    var state: String = "active"

    @Flag(name: .long, help: "Only points on legal hold.")
    var held = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard ["active", "soft-deleted", "all"].contains(state) else {
            throw ValidationError("--state must be active, soft-deleted or all.")
        }
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let yearPrefix = year.map { "\($0)-" }
            func selected(_ p: PointSummary) -> Bool {
                (state == "all" || (state == "soft-deleted") == (p.state == "soft-deleted")) &&
                    (yearPrefix.map { Output.shortDate(p.startedAt).hasPrefix($0) } ?? true) &&
                    (!held || p.held) && (server == nil || p.server == server) &&
                    (database.map { p.databases.contains($0) } ?? true)
            }
            if output.json {
                // Output.json's bytes, written without JSONEncoder (seconds at 100,000 points)
                // while the points are read, one at a time.
                let writer = PointSummary.JSONArrayWriter()
                try VaultControl(vault: vault).forEachPointSummary { p in
                    if selected(p) { try writer.append(p) { try Output.writeStdout($0) } }
                }
                try writer.finish { try Output.writeStdout($0) }
                try [UInt8(0x0a)].withUnsafeBufferPointer { try Output.writeStdout($0) }
                return 0
            }
            var points: [PointSummary] = []
            try VaultControl(vault: vault).forEachPointSummary { p in if selected(p) { points.append(p) } }
            if points.isEmpty {
                Output.stdout("No recovery points\(server.map { " of server \($0)" } ?? "")\(database.map { " with database \($0)" } ?? "") in \(vaultOption.vault ?? "the vault").")
                return 0
            }
            let rows = points.map { p -> [String] in
                var flags: [String] = []
                if p.held { flags.append("HELD") }
                if let d = p.purgeAfter { flags.append("deleted, purge from \(Output.shortDate(d))") }
                return [p.id, p.server, Output.shortDate(p.startedAt), "\(p.databases.count)/\(p.databases.count + p.refusedOrFailed.count)",
                        ByteSize.format(p.logicalBytes), ByteSize.format(p.storedBytes), p.status,
                        p.retainUntil.map(Output.shortDate) ?? "-", flags.joined(separator: ", ")]
            }
            Output.stdout(Output.table(["ID", "SERVER", "STARTED", "DBS", "LOGICAL", "STORED", "STATUS", "RETAIN UNTIL", "FLAGS"], rows))
            return 0
        }
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one recovery point in full: databases, outcomes, files, sizes, SHA-256.",
        discussion: Help.reflow("""
        POINT is an id, a unique prefix of one, or `latest`. With --json prints the manifest
        exactly as stored (see vault/FORMAT.md for its schema).

        --evidence prints what an auditor asks for: every file's SHA-256, the SHA-256 of the
        manifest object, retain-until, the vault's immutability state and lock date, legal
        hold, soft-delete state, every audit record about the point, and whether the whole
        audit chain verifies (exit 1 if it does not).

        Examples:
          pgvault show latest
          pgvault show 20261125T1701 --json
          pgvault show 20190106T0200 --evidence > evidence-2019.txt
        """))

    @OptionGroup var vaultOption: VaultOption

    @Argument(help: ArgumentHelp("Point id, unique id prefix, or `latest`.", valueName: "point"))
    var point: String

    @Flag(help: "Print the compliance evidence for the point.")
    var evidence = false

    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            if evidence { return try printEvidence(vault) }
            let control = VaultControl(vault: vault)
            let key = Vault.pointKey(try vault.resolvePointId(point, includeDeleted: true))
            if output.json {
                try ManifestCodec.readJSON(vault.storage, key: key) { FileHandle.standardOutput.write(Data(buffer: $0)) }
                Output.stdout("")
                return 0
            }
            // No chunk list is needed here: a 1 TiB point's would take ~0.7 GB to decode.
            let summary = try ManifestCodec.decodeSummary(vault.storage, key: key)
            let chunkCounts = summary.chunkCounts
            let view = try control.view(of: summary.manifest)
            let m = view.manifest
            var lines: [String] = []
            lines.append("Recovery point \(m.id)")
            lines.append("  status:     \(m.status.rawValue)")
            lines.append("  server:     \(m.server.name) (PostgreSQL \(m.server.version)\(m.server.host.map { ", host \($0)" } ?? "")\(m.server.port.map { ", port \($0)" } ?? ""))")
            lines.append("  pg_dump:    \(m.pgDumpVersion)   pgvault: \(m.pgVaultVersion)")
            lines.append("  started:    \(Timestamp.rfc3339(m.startedAt))")
            lines.append("  finished:   \(Timestamp.rfc3339(m.finishedAt))")
            lines.append("  job:        \(m.jobId)")
            lines.append("  limits:     database \(ByteSize.format(m.limits.maxDatabaseSize)), bytea value \(ByteSize.format(m.limits.maxByteaValue))")
            lines.append("  size:       \(ByteSize.format(m.stats.logicalBytes)) logical, \(ByteSize.format(m.stats.storedBytes)) added to the vault, \(m.stats.newChunks) of \(m.stats.chunks) chunks new")
            lines.append("  retain:     \(view.retainUntil.map { "until " + Timestamp.rfc3339($0) } ?? "no retain-until")\(m.retention.map { " (backup asked for \($0))" } ?? "")")
            lines.append("  state:      \(view.state.isSoftDeleted ? "SOFT-DELETED at \(view.state.softDeletedAt.map(Timestamp.rfc3339) ?? "?"), purge from \(view.state.purgeAfter.map(Timestamp.rfc3339) ?? "?") (\(view.state.deleteReason ?? ""))" : "active")")
            if let h = view.state.hold { lines.append("  legal hold: since \(Timestamp.rfc3339(h.setAt)) by \(h.setBy): \(h.reason)") }
            lines.append("")
            lines.append("Databases:")
            for d in m.databases {
                var s = "  \(d.name): \(d.outcome.rawValue)"
                if let size = d.sizeBytes { s += ", \(ByteSize.format(size)) on the server" }
                if let b = d.largestBytea { s += ", largest bytea \(ByteSize.format(b)) in \(d.largestByteaColumn ?? "?")" }
                if d.snapshot == true { s += ", exported snapshot" }
                lines.append(s)
                if let e = d.error { lines.append("    \(e.message)") }
            }
            lines.append("")
            lines.append("Files:")
            lines.append(Output.table(["  PATH", "SIZE", "CHUNKS", "SHA256"],
                                      m.files.enumerated().map { k, f in ["  " + f.path, "\(f.size)", "\(k < chunkCounts.count ? chunkCounts[k] : 0)", f.sha256] }))
            Output.stdout(lines.joined(separator: "\n"))
            return 0
        }
    }
}

extension ShowCommand {
    struct Evidence: Encodable {
        struct File: Encodable { var path: String; var database: String?; var size: Int64; var sha256: String }
        var point: String
        var vault: String
        var server: String
        var serverVersion: String
        var startedAt: Date
        var finishedAt: Date
        var status: String
        var manifestSHA256: String
        var files: [File]
        var retainUntil: Date?
        var immutability: String
        var lockedAt: Date?
        var softDelete: String
        var state: String
        var softDeletedAt: Date?
        var purgeAfter: Date?
        var legalHold: PointState.Hold?
        var audit: [AuditEntry]
        var auditChainVerifies: Bool
        var auditChainRecords: Int
        var auditChainBrokenAt: Int?
        /// The chain's last record as `SEQ:SHA256`, to keep outside the vault (`audit --anchor`).
        var auditChainHead: String?
        var generatedAt: Date
    }

    func printEvidence(_ vault: Vault) throws -> Int32 {
        let control = VaultControl(vault: vault)
        let summary = try ManifestCodec.decodeSummary(vault.storage, key: Vault.pointKey(try vault.resolvePointId(point, includeDeleted: true)),
                                                      sha256: true)
        let view = try control.view(of: summary.manifest)
        let m = view.manifest
        let settings = try control.settings()
        let log = AuditLog(storage: vault.storage)
        let chain = try log.verify()
        let manifestHash = summary.sha256 ?? ""
        let e = Evidence(point: m.id, vault: vault.config.id, server: m.server.name, serverVersion: m.server.version,
                         startedAt: m.startedAt, finishedAt: m.finishedAt, status: m.status.rawValue,
                         manifestSHA256: manifestHash,
                         files: m.files.map { .init(path: $0.path, database: $0.database, size: $0.size, sha256: $0.sha256) },
                         retainUntil: view.retainUntil, immutability: settings.immutability.rawValue, lockedAt: settings.lockedAt,
                         softDelete: "\(settings.softDelete.rawValue), \(settings.softDeleteDays) days",
                         state: view.state.isSoftDeleted ? "soft-deleted" : "active",
                         softDeletedAt: view.state.softDeletedAt, purgeAfter: view.state.purgeAfter, legalHold: view.state.hold,
                         audit: try log.entries().filter { $0.target == m.id }, auditChainVerifies: chain.ok,
                         auditChainRecords: chain.entries, auditChainBrokenAt: chain.firstBroken?.seq,
                         auditChainHead: chain.head?.description, generatedAt: control.now)
        if output.json {
            try Output.json(e)
        } else {
            var l: [String] = []
            l.append("EVIDENCE for recovery point \(m.id)")
            l.append("  vault:            \(vault.config.id) at \(vault.storage.location)")
            l.append("  server:           \(m.server.name), PostgreSQL \(m.server.version)")
            l.append("  taken:            \(Timestamp.rfc3339(m.startedAt)) to \(Timestamp.rfc3339(m.finishedAt)), status \(m.status.rawValue)")
            l.append("  manifest sha256:  \(manifestHash)  (its JSON, as manifest.json of a restore)")
            l.append("  retain until:     \(view.retainUntil.map(Timestamp.rfc3339) ?? "none")")
            l.append("  immutability:     \(settings.immutability.rawValue)\(settings.lockedAt.map { ", locked since " + Timestamp.rfc3339($0) } ?? "")")
            l.append("  soft delete:      \(settings.softDelete.rawValue), \(settings.softDeleteDays) days; this point: \(e.state)\(view.state.purgeAfter.map { ", purge from " + Timestamp.rfc3339($0) } ?? "")")
            l.append("  legal hold:       \(view.state.hold.map { "since \(Timestamp.rfc3339($0.setAt)) by \($0.setBy): \($0.reason)" } ?? "none")")
            l.append("  audit chain:      \(chain.ok ? "verifies (\(chain.entries) records)" : "BROKEN at record \(chain.firstBroken?.seq ?? 0): \(chain.firstBroken?.reason ?? "")")")
            if let head = chain.head { l.append("  audit head:       \(head)  (keep it; `pgvault audit --anchor \(head.seq):…` checks it later)") }
            l.append("")
            l.append("Files (sha256  size  path):")
            for f in m.files { l.append("  \(f.sha256)  \(f.size)  \(f.path)") }
            l.append("")
            l.append("Audit records about this point:")
            for a in e.audit {
                l.append("  #\(a.seq) \(Timestamp.rfc3339(a.time)) \(a.actor) \(a.operation) " +
                         a.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
            l.append("")
            l.append("To prove the files intact: pgvault restore \(m.id) --to DIR, then `sha256sum -c SHA256SUMS` in DIR;")
            l.append("the sums there are the ones listed above and in the manifest whose hash is given.")
            Output.stdout(l.joined(separator: "\n"))
        }
        return chain.ok ? 0 : VaultCore.ExitCode.failed.rawValue
    }
}
