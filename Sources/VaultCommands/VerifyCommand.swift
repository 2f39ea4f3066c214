import ArgumentParser
import Foundation
import VaultCore
import VaultFormat
import VaultStorage

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove recovery points are intact: read every file back and check it against the manifest.",
        discussion: Help.reflow("""
        For each selected point, verify reads every file back exactly as a restore
        would and throws the bytes away: every chunk is fetched, a delta chunk is
        decoded against its base chunk, every chunk's SHA-256 must equal its id, and
        every file's size and SHA-256 must equal the manifest's. The manifest itself
        must be readable. verify does not stop at the first bad file: it checks
        every file of every selected point and names, for each failure, the point,
        the file and the chunk at fault (for a delta whose base is missing or
        damaged: the base chunk). It writes nothing to the vault, so read-only
        credentials are enough.

        POINT is what restore and show accept: an id, a unique prefix of one, or
        `latest` (the default). --all selects every point, newest first;
        soft-deleted points (and points a purge is removing) only with
        --include-deleted. A point named explicitly is verified whatever its state.
        --all also reports, as damaged (state missing), every point the audit log
        records as written and never removed whose manifest is gone: deleted outside
        pgvault (on S3 perhaps only hidden: see `pgvault vault unhide`).
        verify reads every byte of every selected point: --all reads as much as
        restoring every point would.

        Progress goes to standard error (a line per file, and every 10 s inside a
        large file; --quiet silences it). The summary goes to standard output, or
        with --json one document:
          {"vault", "status": "ok|damaged|unreadable", "pointsChecked",
           "points": [{"id", "startedAt", "status", "state", "files",
                       "filesChecked", "bytesVerified", "manifestSha256",
                       "failures": [{"file", "code", "message", "object",
                                     "cause"}]}]}
        `object` is the vault object at fault: chunks/ab/ab12..., or
        points/<id>.json when the manifest is (then `file` is null). A point's
        status is ok, damaged (data missing or not matching), or unreadable (a
        storage or I/O error stopped a check, no damage found: run again).

        Examples:
          # An auditor asks for proof that db1's yearly archive of 2019 is intact:
          pgvault points --year 2019 --server db1     # the point tagged yearly
          pgvault verify 20190106T0200 > verify-2019.txt && echo intact
          pgvault show 20190106T0200 --evidence > evidence-2019.txt

          # Weekly, from a script cron runs (0 5 * * 0 /etc/pgvault/verify.sh):
          cd /var/log/pgvault
          pgvault verify --all --include-deleted --json --quiet > verify.json
          rc=$?; [ $rc = 0 ] || mail -s "pgvault verify: exit $rc" ops < verify.json

          pgvault verify                       # the newest point
          pgvault verify --all --json | jq '.points[] | select(.status != "ok")'

        Exit codes: 0 every selected point is intact; 4 damage found (a chunk or
        manifest missing or not matching: the output names each one); 1 a check
        could not be completed (storage or I/O error, no damage found) or the
        point does not exist; 2 usage error; 10 not a vault.
        """))

    @OptionGroup var vaultOption: VaultOption

    @Argument(help: ArgumentHelp("Point ids, unique id prefixes, or `latest` (default: latest).", valueName: "point"))
    var points: [String] = []

    @Flag(name: .long, help: "Verify every point, newest first.")
    var all = false

    @Flag(name: .long, help: "With --all (or `latest`): include soft-deleted points and points being purged.")
    var includeDeleted = false

    @Flag(name: .long, help: "No progress lines on standard error.")
    var quiet = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if all && !points.isEmpty {
            throw ValidationError("Give point ids or --all, not both.")
        }
    }

    struct Out: Encodable {
        var vault: String
        var status: String
        var pointsChecked: Int
        var points: [PointCheck]
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let vault = try vaultOption.open()
            let verifier = PointVerifier(vault: vault)
            // Resolve every reference first: a typo fails at once, not after hours of reading.
            var targets: [PointVerifier.Target] = []
            if all {
                targets = try verifier.allTargets(includeDeleted: includeDeleted)
            } else {
                var seen = Set<String>()
                for ref in points.isEmpty ? ["latest"] : points {
                    let t = try verifier.target(ref, includeDeleted: includeDeleted)
                    if seen.insert(t.id).inserted { targets.append(t) }
                }
            }

            var checks: [PointCheck] = []
            for (n, target) in targets.enumerated() {
                let prefix = targets.count > 1 ? "[\(n + 1)/\(targets.count)] " : ""
                checks.append(verifier.verify(target) { event in report(event, prefix: prefix, point: target.id) })
            }

            if all { checks = PointVerifier.newestFirst(checks) }
            let damaged = checks.filter { $0.status == .damaged }
            let unreadable = checks.filter { $0.status == .unreadable }
            let overall = !damaged.isEmpty ? "damaged" : !unreadable.isEmpty ? "unreadable" : "ok"
            if output.json {
                try Output.json(Out(vault: vault.storage.location, status: overall, pointsChecked: checks.count, points: checks))
            } else {
                printSummary(checks, vault: vault.storage.location)
            }
            if !damaged.isEmpty { return VaultCore.ExitCode.damaged.rawValue }
            if !unreadable.isEmpty { return VaultCore.ExitCode.failed.rawValue }
            return 0
        }
    }

    private func report(_ event: VerifyEvent, prefix: String, point: String) {
        guard !quiet else { return }
        switch event {
        case .point(let id, let files, let bytes):
            Output.stderr("\(prefix)point \(id): \(files) files, \(ByteSize.format(bytes))")
        case .reading(let file, let done, let total):
            Output.stderr("  ...      \(file): \(ByteSize.format(done)) of \(ByteSize.format(total))")
        case .fileOK(let file, let bytes, let seconds):
            let rate = seconds > 0.05 ? ", \(ByteSize.format(Int64(Double(bytes) / seconds)))/s" : ""
            Output.stderr("  ok       \(file)  \(ByteSize.format(bytes))\(rate)")
        case .fileFailed(let f):
            Output.stderr("  \(f.isDamage ? "DAMAGED" : "ERROR  ")  \(Self.describe(f, point: point))")
        }
    }

    /// `file: message`, without repeating the file when the message starts with it.
    static func describe(_ f: PointCheck.Failure, point: String) -> String {
        let what = f.file ?? f.object ?? "points/\(point).json"
        return f.message.hasPrefix(what) ? f.message : "\(what): \(f.message)"
    }

    private func printSummary(_ checks: [PointCheck], vault: String) {
        if checks.isEmpty {
            Output.stdout("No recovery points to verify in \(vault)" + (includeDeleted ? "." : " (soft-deleted ones need --include-deleted)."))
            return
        }
        let rows = checks.map { c -> [String] in
            [c.id, c.status == .ok ? "ok" : c.status.rawValue.uppercased(), c.state,
             "\(c.filesChecked - Set(c.failures.compactMap(\.file)).count)/\(c.files)", ByteSize.format(c.bytesVerified)]
        }
        Output.stdout(Output.table(["POINT", "STATUS", "STATE", "FILES OK", "VERIFIED"], rows))
        if !all {
            for c in checks { if let h = c.manifestSha256 { Output.stdout("manifest sha256 of \(c.id): \(h)  (as in `show --evidence`)") } }
        }
        let bad = checks.filter { $0.status != .ok }
        for c in bad {
            Output.stdout("")
            Output.stdout("Point \(c.id): \(c.status.rawValue)")
            for f in c.failures {
                Output.stdout("  " + Self.describe(f, point: c.id))
                if let object = f.object { Output.stdout("    object: \(object)") }
                if let cause = f.cause, !cause.isEmpty { Output.stdout("    cause: \(cause)") }
            }
        }
        Output.stdout("")
        let total = checks.reduce(Int64(0)) { $0 + $1.bytesVerified }
        if bad.isEmpty {
            Output.stdout("All \(checks.count) point\(checks.count == 1 ? "" : "s") intact: \(ByteSize.format(total)) read back and matched the manifests.")
        } else if bad.contains(where: { $0.status == .damaged }) {
            Output.stdout("""
                DAMAGE FOUND in \(bad.filter { $0.status == .damaged }.count) of \(checks.count) points. The files named above cannot be \
                restored from this vault (a damaged manifest: none of its point's files): restore them from a copy of the vault \
                (`pgvault copy` keeps one) and run a new backup. Files not named above verified intact.
                """)
        } else {
            Output.stdout("No damage found, but \(bad.count) of \(checks.count) points could not be read completely (storage or I/O errors above): run verify again.")
        }
    }
}
