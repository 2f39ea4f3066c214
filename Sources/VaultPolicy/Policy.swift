public import Foundation
public import VaultCore

/// A validated backup policy, as read from a YAML policy file by `PolicyLoader`.
///
/// The reference of every key is `vault/POLICY.md`; `vault/examples/policy.yaml` is a
/// commented example.
public struct Policy: Equatable, Sendable {
    /// The file the policy was read from (as given to the loader).
    public var file: String
    /// Where the backups go.
    public var vault: VaultTarget
    /// An optional second vault that receives a copy of every point.
    public var copyTo: VaultTarget?
    /// The servers to back up, in file order; names are unique.
    public var servers: [ServerPolicy]
    /// When backups are due.
    public var schedule: Schedule
    /// How long each tag keeps a point.
    public var retention: RetentionPolicy
    /// Protection settings to apply to the vault; nil leaves the vault's settings alone.
    public var protection: ProtectionPolicy?
    /// Things that are allowed but unwise (e.g. a password inside `conninfo`), one sentence
    /// each, naming file, line and key; `pgvault policy check` prints them.
    public var warnings: [String]

    /// A policy from its parts (the loader validates; this initializer does not).
    public init(file: String, vault: VaultTarget, copyTo: VaultTarget? = nil, servers: [ServerPolicy],
                schedule: Schedule, retention: RetentionPolicy, protection: ProtectionPolicy? = nil,
                warnings: [String] = []) {
        self.file = file; self.vault = vault; self.copyTo = copyTo; self.servers = servers
        self.schedule = schedule; self.retention = retention; self.protection = protection
        self.warnings = warnings
    }

    /// The server named `name`, if the policy has it.
    public func server(named name: String) -> ServerPolicy? { servers.first { $0.name == name } }
}

/// A vault location: an absolute directory or an `s3://bucket/prefix` URL.
public struct VaultTarget: Equatable, Sendable {
    /// S3 connection settings for an `s3://` location.
    public struct S3: Equatable, Sendable {
        /// e.g. `https://s3.eu-central-1.amazonaws.com` or `http://minio:9000`; nil: AWS default.
        public var endpoint: String?
        /// e.g. `eu-central-1`; nil: the driver's default.
        public var region: String?
        /// S3 settings; nil fields use the driver's defaults.
        public init(endpoint: String? = nil, region: String? = nil) { self.endpoint = endpoint; self.region = region }
    }

    /// An absolute path or `s3://bucket[/prefix]`.
    public var location: String
    /// Only for `s3://` locations.
    public var s3: S3?

    /// A location, with S3 settings for an `s3://` one.
    public init(location: String, s3: S3? = nil) { self.location = location; self.s3 = s3 }

    /// True for an `s3://` location.
    public var isS3: Bool { location.hasPrefix("s3://") }
}

/// How pgvault obtains a server's libpq connection string.
public enum ConnectionSource: Equatable, Sendable {
    /// Written in the policy (`conninfo:`).
    case conninfo(String)
    /// Read from this environment variable when a backup starts (`conninfoEnv:`).
    case environment(String)
}

/// One server of the policy (`servers:` item).
public struct ServerPolicy: Equatable, Sendable {
    /// Unique, non-empty, without `/`; recorded in every point as the server name.
    public var name: String
    /// Where the conninfo comes from.
    public var connection: ConnectionSource
    /// A libpq password file (`.pgpass` format) for this server, absolute path; nil: libpq's
    /// defaults (PGPASSFILE, ~/.pgpass).
    public var passfile: String?
    /// Exact database names to back up; empty: every database that allows connections.
    public var includeDatabases: [String]
    /// Shell patterns (`tmp_*`) of databases to skip.
    public var excludeDatabases: [String]
    /// Databases dumped at once, 1…64.
    public var jobs: Int
    /// Limits checked before dumping a database.
    public var limits: Limits
    /// Dump roles without their password hashes.
    public var noRolePasswords: Bool
    /// The line of the policy file where this server's entry starts.
    public var line: Int

    /// A server entry; the defaults are the policy file's defaults.
    public init(name: String, connection: ConnectionSource, passfile: String? = nil, includeDatabases: [String] = [],
                excludeDatabases: [String] = [], jobs: Int = 1, limits: Limits = Limits(), noRolePasswords: Bool = false,
                line: Int = 0) {
        self.name = name; self.connection = connection; self.passfile = passfile
        self.includeDatabases = includeDatabases; self.excludeDatabases = excludeDatabases
        self.jobs = jobs; self.limits = limits; self.noRolePasswords = noRolePasswords; self.line = line
    }

    /// The conninfo to connect with; for `conninfoEnv` read from `environment`.
    /// Throws `.invalidArgument` naming the variable when it is unset or empty.
    public func resolvedConninfo(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        switch connection {
        case .conninfo(let text): return text
        case .environment(let variable):
            guard let value = environment[variable], !value.isEmpty else {
                throw VaultError(.invalidArgument,
                    "Server \(name): the environment variable \(variable) named by conninfoEnv is not set; export it for the pgvault process (e.g. in the systemd unit's EnvironmentFile).",
                    location: variable)
            }
            return value
        }
    }
}

/// Retention per tag (`retention:`). A point is kept for the longest retention among its
/// tags; the loader guarantees yearly ≥ monthly ≥ weekly.
public struct RetentionPolicy: Equatable, Sendable {
    /// How long the `weekly` tag keeps a point.
    public var weekly: RetentionPeriod
    /// How long the `monthly` tag keeps a point (never shorter than `weekly`).
    public var monthly: RetentionPeriod
    /// How long the `yearly` tag keeps a point (never shorter than `monthly`).
    public var yearly: RetentionPeriod
    /// For on-demand backups that give no `--retain`.
    public var onDemand: RetentionPeriod

    /// The on-demand default when the policy does not set one.
    public static let defaultOnDemand = RetentionPeriod(count: 30, unit: .days)

    /// Retention per tag; `onDemand` defaults to 30 days.
    public init(weekly: RetentionPeriod, monthly: RetentionPeriod, yearly: RetentionPeriod,
                onDemand: RetentionPeriod = RetentionPolicy.defaultOnDemand) {
        self.weekly = weekly; self.monthly = monthly; self.yearly = yearly; self.onDemand = onDemand
    }

    /// The retention of one tag.
    public func period(for tag: Tag) -> RetentionPeriod {
        switch tag {
        case .weekly: return weekly
        case .monthly: return monthly
        case .yearly: return yearly
        case .onDemand: return onDemand
        }
    }
}

/// Protection settings the policy asks for (`protection:`); nil fields are left as they are.
/// `locked` immutability is not a policy setting: locking is its own, irreversible command.
public struct ProtectionPolicy: Equatable, Sendable {
    /// `disabled` or `unlocked` (never `locked`).
    public var immutability: ProtectionSettings.Immutability?
    /// `disabled`, `enabled` or `always-on`.
    public var softDelete: ProtectionSettings.SoftDelete?
    /// 14…180
    public var softDeleteDays: Int?

    /// Settings to apply; nil leaves a setting unchanged.
    public init(immutability: ProtectionSettings.Immutability? = nil, softDelete: ProtectionSettings.SoftDelete? = nil,
                softDeleteDays: Int? = nil) {
        self.immutability = immutability; self.softDelete = softDelete; self.softDeleteDays = softDeleteDays
    }
}

extension Policy {
    /// The text `pgvault policy check FILE` prints for a valid policy: the vault, schedule,
    /// retention and protection in words, the next `count` due backups of every server (in
    /// the schedule's time zone, with their slot ids), then the warnings.
    public func checkReport(now: Date, count: Int = 5) -> String {
        var lines = ["\(file): valid"]
        lines.append("vault: \(vault.location)" + (copyTo.map { ", copied to \($0.location)" } ?? ""))
        lines.append("schedule: weekly, \(schedule.summary)")
        lines.append("retention: weekly \(retention.weekly), monthly \(retention.monthly), yearly \(retention.yearly), on-demand \(retention.onDemand)")
        if let p = protection {
            var parts: [String] = []
            if let i = p.immutability { parts.append("immutability \(i.rawValue)") }
            if let s = p.softDelete { parts.append("soft delete \(s.rawValue)") }
            if let d = p.softDeleteDays { parts.append("soft-delete window \(d) days") }
            lines.append("protection: " + (parts.isEmpty ? "unchanged" : parts.joined(separator: ", ")))
        } else {
            lines.append("protection: unchanged (not in the policy)")
        }
        let dues = schedule.nextDue(after: now, count: count)
            .map { "\(schedule.localText($0)) (\(schedule.slot(containing: $0).id))" }
        for s in servers {
            lines.append("server \(s.name) (line \(s.line)): next \(dues.count) due backups:")
            lines.append(contentsOf: dues.map { "  " + $0 })
        }
        lines.append(contentsOf: warnings.map { "warning: " + $0 })
        return lines.joined(separator: "\n")
    }
}
