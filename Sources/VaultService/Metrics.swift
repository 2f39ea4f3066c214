import Foundation
import VaultCore
import VaultFormat

/// Prometheus text exposition (format 0.0.4) of the vault's state, computed from the vault
/// itself, so it survives restarts and counts the work of `pgvault run` from cron too.
enum MetricsRenderer {
    static func escape(_ v: String) -> String {
        v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func render(points: [PointView], jobs: [JobRecord], storedBytes: Int64, running: Int, audit: AuditWatch.Status? = nil) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [String: String], value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples {
                let labels = s.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",")
                let value = s.value == s.value.rounded() && abs(s.value) < 1e15 ? String(Int64(s.value)) : String(s.value)
                out += labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(labels)} \(value)\n"
            }
        }
        // Last successful backup per server and database.
        var lastOK: [String: [String: Date]] = [:]
        for p in points where !p.state.isSoftDeleted {
            for d in p.manifest.databases where d.outcome == .ok {
                let prev = lastOK[p.manifest.server.name]?[d.name] ?? .distantPast
                if p.manifest.finishedAt > prev { lastOK[p.manifest.server.name, default: [:]][d.name] = p.manifest.finishedAt }
            }
        }
        family("pgvault_last_success_timestamp_seconds", "gauge", "Finish time of the newest successful dump of each database.",
               lastOK.flatMap { server, dbs in dbs.map { (["server": server, "database": $0.key], $0.value.timeIntervalSince1970) } }
                   .sorted { ($0.labels["server"] ?? "", $0.labels["database"] ?? "") < ($1.labels["server"] ?? "", $1.labels["database"] ?? "") })
        let backups = jobs.filter { $0.kind == .backup }
        var dumped: [String: Double] = [:], stored: [String: Double] = [:], failures: [String: Double] = [:], duration: [String: Double] = [:]
        for j in backups {
            let s = j.server ?? "unknown"
            failures[s, default: 0] += 0   // every server gets a sample, 0 until something fails
            dumped[s, default: 0] += Double(j.bytes ?? 0)
            stored[s, default: 0] += Double(j.storedBytes ?? 0)
            if [.failed, .interrupted, .abandoned, .partial].contains(j.status) { failures[s, default: 0] += 1 }
            if let f = j.finishedAt, duration[s] == nil { duration[s] = f.timeIntervalSince(j.startedAt) }  // newest first
        }
        family("pgvault_backup_bytes_dumped_total", "counter", "Bytes pg_dump produced, over all backup jobs in the vault.",
               dumped.sorted { $0.key < $1.key }.map { (["server": $0.key], $0.value) })
        family("pgvault_backup_bytes_stored_total", "counter", "Bytes backups added to the vault after dedup and compression.",
               stored.sorted { $0.key < $1.key }.map { (["server": $0.key], $0.value) })
        family("pgvault_backup_failures_total", "counter", "Backup jobs that failed, were partial, interrupted or abandoned.",
               failures.sorted { $0.key < $1.key }.map { (["server": $0.key], $0.value) })
        family("pgvault_backup_last_duration_seconds", "gauge", "Wall time of the newest finished backup job.",
               duration.sorted { $0.key < $1.key }.map { (["server": $0.key], $0.value) })
        family("pgvault_vault_stored_bytes", "gauge", "Bytes of chunk objects in the vault.", [([:], Double(storedBytes))])
        family("pgvault_points", "gauge", "Recovery points by state.", [
            (["state": "active"], Double(points.filter { !$0.state.isSoftDeleted }.count)),
            (["state": "soft-deleted"], Double(points.filter { $0.state.isSoftDeleted }.count)),
        ])
        family("pgvault_jobs_running", "gauge", "Jobs this service is running now.", [([:], Double(running))])
        if let audit {
            family("pgvault_audit_chain_ok", "gauge", "1 while the audit log's hash chain verifies (GET /v1/audit says why not).",
                   [([:], audit.ok ? 1 : 0)])
            family("pgvault_audit_records", "gauge", "Records in the audit log, as of the last check.", [([:], Double(audit.records))])
        }
        return out
    }
}
