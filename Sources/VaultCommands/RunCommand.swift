import ArgumentParser
import Foundation
import VaultCore
import VaultEngine
import VaultFormat
import VaultPolicy
import VaultService

/// Opens a vault a policy names (a directory or s3://, with the policy's S3 settings).
func openPolicyVault(_ target: VaultTarget) throws -> Vault {
    var args: [String] = []
    if let e = target.s3?.endpoint { args += ["--s3-endpoint", e] }
    if let r = target.s3?.region { args += ["--s3-region", r] }
    let s3 = try S3Options.parse(args)
    return try StorageFactory.open(target.location, s3: s3)
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The cron entry: back up what is due, apply retention, purge. Idempotent.",
        discussion: Help.reflow("""
        Run it every 5 to 15 minutes from cron, a systemd timer or a Kubernetes CronJob
        (a crontab line, its output appended to a log):

          */10 * * * * pgvault run --policy /etc/pgvault.yaml >>/var/log/pgvault 2>&1

        Each run takes the vault's `run` lease (a second run at the same time finds it and
        exits 0 doing nothing; the lease expires if its holder dies), applies the policy's
        protection settings, backs up every server whose weekly slot is due and has no
        successful point yet (a slot missed while the machine was off is caught up once),
        tags the point weekly / monthly / yearly by the grandfather-father-son rule and keeps
        it for the longest retention among its tags, then deletes points whose retention
        ended (through the protection rules: held and immutable points stay, deleted ones go
        to soft delete), purges soft-deleted points past their window and collects garbage.
        One line per action; --dry-run prints the decisions in words and changes nothing.

        Exit codes: 0 ok (or nothing to do), 1 a backup or step failed, 3 a backup was
        partial or a change was refused by protection, 10 not a vault, 130 interrupted.
        """))

    @Option(help: ArgumentHelp("The policy file (YAML).", valueName: "file")) var policy: String
    @Flag(help: "Print what would be done, change nothing.") var dryRun = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let p = try PolicyLoader.load(path: policy)
            let vault = try openPolicyVault(p.vault)
            let copyTarget = try p.copyTo.map { try openPolicyVault($0) }
            Interrupt.shared.install()
            let json = output.json
            let report = Runner(policy: p, vault: vault, copyTarget: copyTarget, logger: makeLogger()).run(dryRun: dryRun) { action in
                if !json { Output.stdout("\(Timestamp.rfc3339(Date())) \(action.kind.rawValue): \(action.message)") }
            }
            if json { try Output.json(report) }
            return report.exitCode
        }
    }
}

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Validate a policy file.",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate a policy file and print the next five due backups per server.",
            discussion: Help.reflow("""
            Errors name the file, the line and the key, and say what is allowed. Exit 0 when
            the policy is valid, 2 when it is not.

            Example:
              pgvault policy check /etc/pgvault/policy.yaml
            """))
        @Argument(help: ArgumentHelp("The policy file.", valueName: "file")) var file: String
        @OptionGroup var output: OutputOptions

        struct Out: Encodable {
            struct Server: Encodable { var name: String; var nextDue: [Date] }
            var file: String
            var vault: String
            var schedule: String
            var retention: [String: String]
            var servers: [Server]
            var warnings: [String]
        }

        func run() throws {
            try runReportingErrors(json: output.json) {
                let p: Policy
                do { p = try PolicyLoader.load(path: file) }
                catch let e as VaultError {
                    Output.printError(e, json: output.json)
                    return VaultCore.ExitCode.usage.rawValue
                }
                let due = p.schedule.nextDue(after: Date(), count: 5)
                let out = Out(file: file, vault: p.vault.location, schedule: p.schedule.summary,
                              retention: ["weekly": "\(p.retention.weekly)", "monthly": "\(p.retention.monthly)",
                                          "yearly": "\(p.retention.yearly)", "on-demand": "\(p.retention.onDemand)"],
                              servers: p.servers.map { .init(name: $0.name, nextDue: due) }, warnings: p.warnings)
                if output.json { try Output.json(out); return 0 }
                Output.stdout("\(file): valid")
                Output.stdout("  vault:     \(p.vault.location)")
                Output.stdout("  schedule:  \(p.schedule.summary)")
                Output.stdout("  retention: weekly \(p.retention.weekly), monthly \(p.retention.monthly), yearly \(p.retention.yearly), on-demand \(p.retention.onDemand)")
                for w in p.warnings { Output.stdout("  warning:   \(w)") }
                for s in p.servers {
                    Output.stdout("  server \(s.name): next backups")
                    for d in due { Output.stdout("    \(p.schedule.localText(d))  (\(Timestamp.rfc3339(d)))") }
                }
                return 0
            }
        }
    }
}
