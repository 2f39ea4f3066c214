public import Foundation
public import VaultCore
public import VaultStorage

public enum JobKind: String, Codable, Sendable { case backup, restore }

public enum JobStatus: String, Codable, Sendable {
    case running
    case ok
    case partial
    case failed
    case interrupted
    /// Started, never finished, and the process is gone (killed, machine lost).
    case abandoned
}

/// A job record. `jobs/<id>/started.json` is written when the job starts and
/// `jobs/<id>/finished.json` when it ends; both are write-once.
public struct JobRecord: Codable, Equatable, Sendable {
    public var id: String
    public var kind: JobKind
    public var status: JobStatus
    public var startedAt: Date
    public var finishedAt: Date?
    public var host: String
    public var pid: Int32
    public var server: String?
    public var pointId: String?
    /// Databases the job dumped or restored.
    public var databases: [String]?
    /// Restore: where the files went.
    public var target: String?
    public var bytes: Int64?
    public var storedBytes: Int64?
    public var error: ErrorRecord?
    public var failures: [ErrorRecord]?
    /// Who asked: `user@host`, or the API token's name for jobs started through `serve`.
    public var actor: String?

    public init(id: String, kind: JobKind, startedAt: Date) {
        self.id = id; self.kind = kind; self.status = .running; self.startedAt = startedAt
        self.host = ProcessInfo.processInfo.hostName
        self.pid = ProcessInfo.processInfo.processIdentifier
    }
}

public struct JobLog: Sendable {
    public let storage: any Storage
    public init(storage: any Storage) { self.storage = storage }

    public func started(_ job: JobRecord) throws {
        try storage.put("jobs/\(job.id)/started.json", try VaultJSON.encode(job), mode: .createOnly)
    }

    public func finished(_ job: JobRecord) throws {
        try storage.put("jobs/\(job.id)/finished.json", try VaultJSON.encode(job), mode: .createOnly)
        try storage.sync()
    }

    /// All jobs, newest first. A job with no finished record is `running` while its process is
    /// alive on this host, `abandoned` otherwise.
    public func all() throws -> [JobRecord] {
        var started: [String: JobRecord] = [:]
        var finished: [String: JobRecord] = [:]
        for obj in try storage.list(prefix: "jobs/") {
            let parts = obj.key.split(separator: "/")
            guard parts.count == 3 else { continue }
            let rec = try VaultJSON.decode(JobRecord.self, from: try storage.get(obj.key), what: obj.key)
            if parts[2] == "started.json" { started[String(parts[1])] = rec }
            else if parts[2] == "finished.json" { finished[String(parts[1])] = rec }
        }
        let host = ProcessInfo.processInfo.hostName
        var out: [JobRecord] = []
        for (id, s) in started {
            if let f = finished[id] { out.append(f); continue }
            var r = s
            let alive = s.host == host && kill(s.pid, 0) == 0
            r.status = alive ? .running : .abandoned
            out.append(r)
        }
        for (id, f) in finished where started[id] == nil { out.append(f) }
        return out.sorted { ($0.startedAt, $0.id) > ($1.startedAt, $1.id) }
    }
}
