public import Foundation
import VaultCore

/// The JSON shape of one point in `points --json` and `GET /v1/points` (documented in README).
public struct PointSummary: Encodable, Sendable {
    public struct File: Encodable, Sendable { var path: String; var kind: String; var database: String?; var size: Int64; var sha256: String }
    public var id: String
    public var server: String
    public var serverVersion: String
    public var startedAt: Date
    public var finishedAt: Date
    public var status: String
    public var databases: [String]
    public var refusedOrFailed: [String]
    public var files: [File]
    public var logicalBytes: Int64
    public var storedBytes: Int64
    public var retention: String?
    public var retainUntil: Date?
    /// `active` or `soft-deleted`.
    public var state: String
    public var softDeletedAt: Date?
    public var purgeAfter: Date?
    public var deleteReason: String?
    public var held: Bool
    public var holdReason: String?
    /// GFS tags recorded when the point was taken.
    public var tags: [String]

    public init(_ v: PointView) {
        let m = v.manifest
        id = m.id
        server = m.server.name
        serverVersion = m.server.version
        startedAt = m.startedAt
        finishedAt = m.finishedAt
        status = m.status.rawValue
        databases = m.databases.filter { $0.outcome == .ok }.map(\.name)
        refusedOrFailed = m.databases.filter { $0.outcome != .ok }.map(\.name)
        files = m.files.map { File(path: $0.path, kind: $0.kind.rawValue, database: $0.database, size: $0.size, sha256: $0.sha256) }
        logicalBytes = m.stats.logicalBytes
        storedBytes = m.stats.storedBytes
        retention = m.retention
        retainUntil = v.state.retainUntil
        state = v.state.isSoftDeleted ? "soft-deleted" : "active"
        softDeletedAt = v.state.softDeletedAt
        purgeAfter = v.state.purgeAfter
        deleteReason = v.state.deleteReason
        held = v.state.isHeld
        holdReason = v.state.hold?.reason
        tags = m.tags ?? []
    }
}
