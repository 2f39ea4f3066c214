import ArgumentParser
import Foundation
import VaultCore
import VaultFormat

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a recovery point (soft delete: recoverable with `undelete` until purged).",
        discussion: Help.reflow("""
        Refused (exit 11, saying why and from when it would be allowed) while the point is on
        legal hold, or retained (its retain-until is in the future) and immutability is unlocked
        or locked. With soft delete enabled the point becomes soft-deleted: hidden from `points`,
        still restorable, and `pgvault purge` removes it once the soft-delete window (recorded
        at deletion) has passed. With soft delete disabled it is removed at once.

        Example:
          pgvault delete 20261125T1701 --reason "test backup, not needed"
        """))
    @OptionGroup var vaultOption: VaultOption
    @Argument(help: ArgumentHelp("Point id or unique prefix.", valueName: "point")) var point: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if point == "latest" { throw ValidationError("Name the point to delete by its id, not `latest`.") }
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why.") }
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let control = VaultControl(vault: try vaultOption.open())
            let id = try control.view(point).id
            let outcome = try control.delete(point, reason: reason)
            struct Out: Encodable { var point: String; var state: String; var purgeAfter: Date? }
            switch outcome {
            case .softDeleted(let after):
                if output.json { try Output.json(Out(point: id, state: "soft-deleted", purgeAfter: after)) }
                else { Output.stdout("Point \(id) is soft-deleted. It stays restorable and can be brought back with `pgvault undelete \(id)` until it is purged, from \(Timestamp.rfc3339(after)) on.") }
            case .removed:
                if output.json { try Output.json(Out(point: id, state: "removed", purgeAfter: nil)) }
                else { Output.stdout("Point \(id) is removed (soft delete is disabled). `pgvault purge` frees its chunks.") }
            }
            return 0
        }
    }
}

struct UndeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undelete",
        abstract: "Bring a soft-deleted point back, intact.",
        discussion: "Example:\n  pgvault undelete 20261125T170102Z-9f8e7d6c")
    @OptionGroup var vaultOption: VaultOption
    @Argument(help: ArgumentHelp("Point id or unique prefix.", valueName: "point")) var point: String
    @OptionGroup var output: OutputOptions

    func run() throws {
        try runReportingErrors(json: output.json) {
            let v = try VaultControl(vault: try vaultOption.open()).undelete(point)
            if output.json { try Output.json(PointSummary(v)) }
            else { Output.stdout("Point \(v.id) is active again.") }
            return 0
        }
    }
}

struct RetainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retain",
        abstract: "Change a point's retain-until (only later, while immutability is on).",
        discussion: Help.reflow("""
        --extend adds a period to the current retain-until (or to now, if it has none);
        --until sets a date (YYYY-MM-DD or RFC 3339). Shortening is refused (exit 11) while
        immutability is unlocked or locked.

        Examples:
          pgvault retain 20190106T020000Z-1a2b3c4d --extend 2y
          pgvault retain 20190106T020000Z-1a2b3c4d --until 2030-01-01
        """))
    @OptionGroup var vaultOption: VaultOption
    @Argument(help: ArgumentHelp("Point id or unique prefix.", valueName: "point")) var point: String
    @Option(help: ArgumentHelp("Add this period (7d to 10y).", valueName: "period")) var extend: String?
    @Option(help: ArgumentHelp("Retain until this date.", valueName: "date")) var until: String?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (extend == nil) != (until == nil) else { throw ValidationError("Give exactly one of --extend PERIOD or --until DATE.") }
        if let until, parseDate(until) == nil { throw ValidationError("--until: \"\(until)\" is not a date (YYYY-MM-DD or RFC 3339).") }
    }

    func run() throws {
        try runReportingErrors(json: output.json) {
            let control = VaultControl(vault: try vaultOption.open())
            let current = try control.view(point)
            let target: Date
            if let extend {
                let p = try RetentionPeriod.parseChecked(extend, option: "--extend")
                target = p.end(from: max(current.retainUntil ?? control.now, control.now))
            } else {
                target = parseDate(until ?? "") ?? control.now
            }
            let v = try control.retain(point, until: target)
            if output.json { try Output.json(PointSummary(v)) }
            else { Output.stdout("Point \(v.id) is retained until \(Timestamp.rfc3339(v.state.retainUntil ?? target)).") }
            return 0
        }
    }
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339.
func parseDate(_ s: String) -> Date? {
    if let d = Timestamp.parse(s) { return d }
    return Timestamp.parse(s + "T00:00:00Z")
}

struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Set or clear a legal hold: a held point is never deleted or purged.",
        discussion: Help.reflow("""
        Examples:
          pgvault hold set 20190106T020000Z-1a2b3c4d --reason "case 2026-114"
          pgvault hold clear 20190106T020000Z-1a2b3c4d --reason "case closed"
          pgvault points --held
        """),
        subcommands: [Set.self, Clear.self])

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Put a point on legal hold.")
        @OptionGroup var args: HoldArguments
        func run() throws { try args.apply(set: true) }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "clear", abstract: "Release a point's legal hold.")
        @OptionGroup var args: HoldArguments
        func run() throws { try args.apply(set: false) }
    }
}

struct HoldArguments: ParsableArguments {
    @OptionGroup var vaultOption: VaultOption
    @Argument(help: ArgumentHelp("Point id or unique prefix.", valueName: "point")) var point: String
    @Option(help: "Why (recorded in the audit log).") var reason: String
    @OptionGroup var output: OutputOptions

    func apply(set: Bool) throws {
        try runReportingErrors(json: output.json) {
            let control = VaultControl(vault: try vaultOption.open())
            let v = set ? try control.setHold(point, reason: reason) : try control.clearHold(point, reason: reason)
            if output.json { try Output.json(PointSummary(v)) }
            else { Output.stdout(set ? "Point \(v.id) is on legal hold." : "Point \(v.id) is no longer on legal hold.") }
            return 0
        }
    }
}
