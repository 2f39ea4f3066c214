import Foundation
import Testing
import VaultCore
import VaultPolicy

// Policy file validation (issue 5): every error names file:line and the key, and says what
// is allowed. Variants replace one line of a valid policy; line numbers are those of `base`.

let base = """
# pgvault policy
vault: /srv/pgvault
servers:
  - name: db1
    conninfo: "host=db1 user=backup"
    databases:
      include: [crm, shop]
      exclude: ["tmp_*"]
    jobs: 2
    limits: {maxDatabaseSize: 2TiB, maxByteaValue: 100MB}
  - name: db2
    conninfoEnv: PGVAULT_DB2
    passfile: /etc/pgvault/db2.pgpass
    noRolePasswords: true
schedule:
  weekly: {day: sunday, time: "02:30", timezone: Europe/Berlin}
retention:
  weekly: 8w
  monthly: 12m
  yearly: 10y
  on-demand: 30d
protection:
  immutability: unlocked
  softDelete: always-on
  softDeleteDays: 30
copyTo:
  location: s3://pgvault-copy/eu
  s3: {endpoint: "https://s3.eu-central-1.amazonaws.com", region: eu-central-1}
"""

/// `base` with line `n` (1-based) replaced by `text` (which may hold several lines, or none).
func variant(_ n: Int, _ text: String) -> String {
    var lines = base.components(separatedBy: "\n")
    lines[n - 1] = text
    return lines.joined(separator: "\n")
}

struct ErrorCase: CustomStringConvertible, Sendable {
    var name: String
    var yaml: String
    var location: String
    var says: [String]
    var description: String { name }
}

@Suite("Policy files")
struct PolicyTests {
    @Test func theBasePolicyLoads() throws {
        let p = try PolicyLoader.parse(yaml: base, file: "policy.yaml")
        #expect(p.file == "policy.yaml")
        #expect(p.vault == VaultTarget(location: "/srv/pgvault"))
        #expect(p.copyTo == VaultTarget(location: "s3://pgvault-copy/eu",
                                        s3: .init(endpoint: "https://s3.eu-central-1.amazonaws.com", region: "eu-central-1")))
        #expect(p.copyTo?.isS3 == true && !p.vault.isS3)
        #expect(p.servers.map(\.name) == ["db1", "db2"])
        let db1 = p.servers[0], db2 = p.servers[1]
        #expect(db1.connection == .conninfo("host=db1 user=backup"))
        #expect(db1.includeDatabases == ["crm", "shop"] && db1.excludeDatabases == ["tmp_*"])
        #expect(db1.jobs == 2)
        #expect(db1.limits == Limits(maxDatabaseSize: 2 << 40, maxByteaValue: 100_000_000))
        #expect(db1.noRolePasswords == false && db1.passfile == nil && db1.line == 4)
        #expect(db2.connection == .environment("PGVAULT_DB2"))
        #expect(db2.passfile == "/etc/pgvault/db2.pgpass" && db2.noRolePasswords && db2.jobs == 1 && db2.line == 11)
        #expect(db2.limits == Limits())
        #expect(try db2.resolvedConninfo(environment: ["PGVAULT_DB2": "host=db2"]) == "host=db2")
        #expect(throws: VaultError.self) { try db2.resolvedConninfo(environment: [:]) }
        #expect(p.schedule == Schedule(weekday: .sunday, hour: 2, minute: 30, timeZone: berlin))
        #expect(p.retention == standardRetention)
        #expect(p.protection == ProtectionPolicy(immutability: .unlocked, softDelete: .alwaysOn, softDeleteDays: 30))
        #expect(p.warnings.isEmpty)
        #expect(p.server(named: "db2") == db2)
    }

    @Test func aMinimalPolicyGetsTheDocumentedDefaults() throws {
        let p = try PolicyLoader.parse(yaml: """
            vault: s3://my-bucket
            servers: [{name: only, conninfo: "service=prod"}]
            schedule: {weekly: {days: [saturday], time: 23:45}}
            retention: {weekly: 4w, monthly: 6m, yearly: 7y}
            """, file: "min.yaml")
        #expect(p.schedule == Schedule(weekday: .saturday, hour: 23, minute: 45, timeZone: utc))
        #expect(p.retention.onDemand == RetentionPeriod(count: 30, unit: .days))
        #expect(p.protection == nil && p.copyTo == nil && p.vault.s3 == nil)
        #expect(p.servers[0].jobs == 1 && p.servers[0].limits == Limits())
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "unknown server key", yaml: variant(9, "    job: 2"), location: "policy.yaml:9 servers[0].job",
                  says: ["unknown key \"job\"", "Allowed keys: name, conninfo, conninfoEnv, passfile, databases, jobs, limits, noRolePasswords"]),
        ErrorCase(name: "unknown top-level key", yaml: variant(17, "retension:"), location: "policy.yaml:17 retension",
                  says: ["unknown key \"retension\"", "Allowed keys: vault, copyTo, servers, schedule, retention, protection"]),
        ErrorCase(name: "unknown retention key", yaml: variant(21, "  onDemand: 30d"), location: "policy.yaml:21 retention.onDemand",
                  says: ["Did you mean on-demand?", "Allowed keys: weekly, monthly, yearly, on-demand"]),
        ErrorCase(name: "daily schedule", yaml: variant(16, "  daily: {time: \"02:00\"}"), location: "policy.yaml:16 schedule.daily",
                  says: ["LTR runs weekly at most often", "WAL archiving / PITR", "pgBackRest, barman"]),
        ErrorCase(name: "every 1d", yaml: variant(16, "  every: 1d"), location: "policy.yaml:16 schedule.every",
                  says: ["LTR runs weekly at most often"]),
        ErrorCase(name: "two days a week", yaml: variant(16, "  weekly: {days: [saturday, sunday], time: \"02:30\"}"),
                  location: "policy.yaml:16 schedule.weekly.days", says: ["LTR runs weekly at most often", "one day"]),
        ErrorCase(name: "day and days", yaml: variant(16, "  weekly: {day: sunday, days: [sunday], time: \"02:30\"}"),
                  location: "policy.yaml:16 schedule.weekly.days", says: ["day and days are both given"]),
        ErrorCase(name: "missing day", yaml: variant(16, "  weekly: {time: \"02:30\"}"),
                  location: "policy.yaml:16 schedule.weekly.day", says: ["is missing", "monday"]),
        ErrorCase(name: "daily at top level", yaml: variant(15, "daily:"), location: "policy.yaml:15 daily",
                  says: ["LTR runs weekly at most often"]),
        ErrorCase(name: "retention 5d", yaml: variant(18, "  weekly: 5d"), location: "policy.yaml:18 retention.weekly",
                  says: ["5d is shorter than the minimum retention of 7 days", "Allowed: 7d to 10y"]),
        ErrorCase(name: "retention 11y", yaml: variant(20, "  yearly: 11y"), location: "policy.yaml:20 retention.yearly",
                  says: ["11y is longer than the maximum retention of 10 years", "Allowed: 7d to 10y"]),
        ErrorCase(name: "retention not a period", yaml: variant(19, "  monthly: a year"), location: "policy.yaml:19 retention.monthly",
                  says: ["is not a retention period", "Allowed: 7d to 10y"]),
        ErrorCase(name: "retention missing", yaml: variant(20, ""), location: "policy.yaml:17 retention.yearly",
                  says: ["is missing", "7d to 10y"]),
        ErrorCase(name: "monthly shorter than weekly", yaml: variant(19, "  monthly: 4w"), location: "policy.yaml:19 retention.monthly",
                  says: ["shorter than retention.weekly (8w)"]),
        ErrorCase(name: "bad time", yaml: variant(16, "  weekly: {day: sunday, time: \"25:00\", timezone: Europe/Berlin}"),
                  location: "policy.yaml:16 schedule.weekly.time", says: ["\"25:00\" is not a time of day", "HH:MM from 00:00 to 23:59"]),
        ErrorCase(name: "unknown timezone", yaml: variant(16, "  weekly: {day: sunday, time: \"02:30\", timezone: Europe/Berlim}"),
                  location: "policy.yaml:16 schedule.weekly.timezone", says: ["\"Europe/Berlim\" is not a known time zone", "IANA"]),
        ErrorCase(name: "bad day", yaml: variant(16, "  weekly: {day: sundy, time: \"02:30\"}"),
                  location: "policy.yaml:16 schedule.weekly.day", says: ["not a day of the week", "monday, tuesday"]),
        ErrorCase(name: "duplicate server names", yaml: variant(11, "  - name: db1"), location: "policy.yaml:11 servers[1].name",
                  says: ["\"db1\" is already used at line 4", "unique name"]),
        ErrorCase(name: "missing conninfo", yaml: variant(5, "    passfile: /etc/pgvault/db1.pgpass"),
                  location: "policy.yaml:4 servers[0].conninfo", says: ["server \"db1\" has no connection", "conninfo", "conninfoEnv"]),
        ErrorCase(name: "both conninfo and conninfoEnv", yaml: variant(5, "    conninfo: x\n    conninfoEnv: Y"),
                  location: "policy.yaml:5 servers[0].conninfo", says: ["exactly one of them"]),
        ErrorCase(name: "name with slash", yaml: variant(4, "  - name: eu/db1"), location: "policy.yaml:4 servers[0].name",
                  says: ["contains '/'"]),
        ErrorCase(name: "empty name", yaml: variant(4, "  - name: \"\""), location: "policy.yaml:4 servers[0].name",
                  says: ["is empty", "non-empty name"]),
        ErrorCase(name: "jobs out of range", yaml: variant(9, "    jobs: 100"), location: "policy.yaml:9 servers[0].jobs",
                  says: ["1 to 64"]),
        ErrorCase(name: "bad size", yaml: variant(10, "    limits: {maxDatabaseSize: huge}"),
                  location: "policy.yaml:10 servers[0].limits.maxDatabaseSize", says: ["\"huge\" is not a size", "1TiB"]),
        ErrorCase(name: "relative vault", yaml: variant(2, "vault: backups"), location: "policy.yaml:2 vault",
                  says: ["relative path", "s3://bucket/prefix"]),
        ErrorCase(name: "missing vault", yaml: variant(2, ""), location: "policy.yaml:1 vault", says: ["is missing"]),
        ErrorCase(name: "locked in policy", yaml: variant(23, "  immutability: locked"), location: "policy.yaml:23 protection.immutability",
                  says: ["disabled or unlocked", "pgvault vault lock"]),
        ErrorCase(name: "soft delete days", yaml: variant(25, "  softDeleteDays: 7"), location: "policy.yaml:25 protection.softDeleteDays",
                  says: ["14 to 180"]),
        ErrorCase(name: "s3 settings on a directory", yaml: variant(27, "  location: /mnt/copy"), location: "policy.yaml:28 copyTo.s3",
                  says: ["need an s3:// location"]),
        ErrorCase(name: "yaml syntax", yaml: variant(18, "  weekly: [8w"), location: "policy.yaml:19", says: ["not valid YAML"]),
        ErrorCase(name: "duplicate key", yaml: variant(19, "  weekly: 9w"), location: "policy.yaml:18 weekly",
                  says: ["more than once"]),
    ]

    @Test(arguments: PolicyTests.errorCases)
    func errorsNameFileLineAndKey(c: ErrorCase) {
        do {
            _ = try PolicyLoader.parse(yaml: c.yaml, file: "policy.yaml")
            Issue.record("\(c.name): accepted")
        } catch let e as VaultError {
            #expect(e.code == .invalidArgument, "\(c.name)")
            #expect(e.location == c.location, "\(c.name): \(e.message)")
            // The message itself starts with file:line and the key.
            let parts = c.location.split(separator: " ", maxSplits: 1)
            let prefix = parts.count == 2 ? "\(parts[0]): \(parts[1]):" : "\(parts[0]):"
            #expect(e.message.hasPrefix(prefix), "\(c.name): \(e.message)")
            for s in c.says { #expect(e.message.contains(s), "\(c.name): \(e.message)") }
        } catch {
            Issue.record("\(c.name): \(error)")
        }
    }

    @Test func monthlyAndYearlyAreNotSchedules() {
        let yaml = variant(16, "  weekly: {day: sunday, time: \"02:30\"}\n  monthly: {day: 1, time: \"03:00\"}")
        do {
            _ = try PolicyLoader.parse(yaml: yaml, file: "policy.yaml")
            Issue.record("accepted")
        } catch let e as VaultError {
            #expect(e.location == "policy.yaml:17 schedule.monthly")
            #expect(e.message.contains("first successful weekly backup of each month and year"))
        } catch { Issue.record("\(error)") }
    }

    @Test func aPasswordInConninfoIsAWarning() throws {
        let p = try PolicyLoader.parse(yaml: variant(5, "    conninfo: \"host=db1 user=backup password=secret\""), file: "policy.yaml")
        #expect(p.warnings.count == 1)
        #expect(p.warnings.first?.hasPrefix("policy.yaml:5: servers[0].conninfo:") == true)
        #expect(p.warnings.first?.contains("secret") == false)
        let uri = try PolicyLoader.parse(yaml: variant(5, "    conninfo: \"postgresql://backup:secret@db1/postgres\""), file: "policy.yaml")
        #expect(uri.warnings.count == 1)
        let plain = try PolicyLoader.parse(yaml: variant(5, "    conninfo: \"postgresql://backup@db1/postgres\""), file: "policy.yaml")
        #expect(plain.warnings.isEmpty)
    }

    @Test func loadReadsAFileAndNamesItInErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgvault-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.yaml"), bad = dir.appendingPathComponent("bad.yaml")
        try Data(base.utf8).write(to: good)
        try Data(variant(18, "  weekly: 5d").utf8).write(to: bad)
        #expect(try PolicyLoader.load(path: good.path).servers.count == 2)
        do {
            _ = try PolicyLoader.load(path: bad.path)
            Issue.record("accepted")
        } catch let e as VaultError {
            #expect(e.location == "\(bad.path):18 retention.weekly")
            #expect(e.message.hasPrefix("\(bad.path):18: retention.weekly:"))
        }
        #expect(throws: VaultError.self) { try PolicyLoader.load(path: dir.appendingPathComponent("missing.yaml").path) }
    }

    @Test func theShippedExampleIsValid() throws {
        // Tests/VaultPolicyTests/PolicyTests.swift → repository root
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = root.appendingPathComponent("vault/examples/policy.yaml").path
        let p = try PolicyLoader.load(path: example)
        #expect(!p.servers.isEmpty)
        #expect(p.warnings.isEmpty)
        #expect(p.schedule.nextDue(after: t("2026-01-01T00:00:00Z"), count: 5).count == 5)
    }

    @Test func checkReportListsTheNextFiveDueBackupsPerServer() throws {
        let p = try PolicyLoader.parse(yaml: base, file: "policy.yaml")
        let report = p.checkReport(now: t("2026-03-20T00:00:00Z"))
        #expect(report == """
            policy.yaml: valid
            vault: /srv/pgvault, copied to s3://pgvault-copy/eu
            schedule: weekly, sunday 02:30 Europe/Berlin
            retention: weekly 8w, monthly 12m, yearly 10y, on-demand 30d
            protection: immutability unlocked, soft delete always-on, soft-delete window 30 days
            server db1 (line 4): next 5 due backups:
              2026-03-22 02:30 +01:00 (2026-W12)
              2026-03-29 03:00 +02:00 (2026-W13)
              2026-04-05 02:30 +02:00 (2026-W14)
              2026-04-12 02:30 +02:00 (2026-W15)
              2026-04-19 02:30 +02:00 (2026-W16)
            server db2 (line 11): next 5 due backups:
              2026-03-22 02:30 +01:00 (2026-W12)
              2026-03-29 03:00 +02:00 (2026-W13)
              2026-04-05 02:30 +02:00 (2026-W14)
              2026-04-12 02:30 +02:00 (2026-W15)
              2026-04-19 02:30 +02:00 (2026-W16)
            """)
    }

    @Test func emptyAndNonMappingFilesAreRefused() {
        #expect(throws: VaultError.self) { try PolicyLoader.parse(yaml: "", file: "p.yaml") }
        #expect(throws: VaultError.self) { try PolicyLoader.parse(yaml: "- a\n- b\n", file: "p.yaml") }
    }
}
