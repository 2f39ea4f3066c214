public import Foundation
public import VaultCore
import VaultStorage

/// Brings back what a plain DELETE hid in a versioned (S3) vault.
///
/// Object Lock keeps every locked version, but it does not stop a DELETE without a version id:
/// that only puts a delete marker in front of the object, which then vanishes from listings
/// and reads (a point disappears from `pgvault points`, an audit record leaves a gap in the
/// chain, a chunk reads as missing). The versions stay; removing the markers brings the
/// objects back, and markers carry no lock, so removing one destroys nothing.
///
/// pgvault itself hides objects too, and those must stay hidden: a purge (or a delete with soft
/// delete off) hides the manifest, catalog entry and state records of the point it removes
/// (after auditing `point.purge`, or `point.delete` with mode `hard`), and
/// garbage collection hides the chunks no point needs. So this brings back: audit records and
/// settings always (pgvault never deletes them); a manifest and the state records of a point
/// whose removal the audit log does not record; and a chunk only when a point that is present
/// (after the manifests came back) needs it, as one of its chunks or a link of a chain.
public enum Unhide {
    public struct Item: Codable, Sendable, Equatable {
        /// The object's key in the vault.
        public var key: String
        /// audit, settings, point, state or chunk.
        public var kind: String
        /// The point the object belongs to (manifests and state records).
        public var point: String?
        /// Why it stays hidden (only in `Report.kept`).
        public var reason: String?
    }

    public struct Report: Codable, Sendable {
        /// Objects brought back (with `dryRun`: that would be).
        public var restored: [Item] = []
        /// Hidden objects left hidden, with why (pgvault hid them itself).
        public var kept: [Item] = []
        public var dryRun: Bool
        /// Points whose manifest came back.
        public var points: [String] { restored.filter { $0.kind == "point" }.compactMap(\.point) }
    }

    /// Finds the hidden objects and, unless `dryRun`, removes their delete markers: audit
    /// records first (so that the audit record this writes continues the chain, not a fork of
    /// it), then settings, manifests and state records, then the chunks the points present
    /// need. Audits `vault.unhide` when it brought anything back. A vault on a storage that
    /// keeps no versions (a filesystem) is `.invalidArgument`: nothing there is hidden, what is
    /// deleted is gone.
    public static func run(_ vault: Vault, dryRun: Bool, actor: String = Actor.current, now: Date = Date()) throws -> Report {
        let storage = vault.storage
        guard let base = ObjectLock.versioned(storage) else {
            throw VaultError(.invalidArgument,
                "The vault at \(storage.location) keeps no object versions (a filesystem vault): nothing in it can be hidden, and a deleted file is gone. Restore it from a copy of the vault (`pgvault copy`).",
                location: storage.location)
        }
        var report = Report(dryRun: dryRun)
        func bringBack(_ h: HiddenObject, _ item: Item) throws {
            if !dryRun { try base.unhide(h) }
            report.restored.append(item)
        }

        for h in try base.hiddenObjects(prefix: "audit/") { try bringBack(h, Item(key: h.key, kind: "audit")) }
        for h in try base.hiddenObjects(prefix: "settings/") { try bringBack(h, Item(key: h.key, kind: "settings")) }

        // The points pgvault removed itself, as the audit log records them (read after its
        // records came back; in a dry run a hidden record is not seen, so such a point is listed
        // as brought back): a purge, or a delete with soft delete off ("mode": "hard").
        var purged: [String: Int] = [:]
        for e in try AuditLog(storage: storage).entries()
        where e.operation == "point.purge" || (e.operation == "point.delete" && e.details["mode"] == "hard") {
            purged[e.target] = e.seq
        }
        for (prefix, kind) in [("points/", "point"), ("state/", "state")] {
            for h in try base.hiddenObjects(prefix: prefix) {
                guard let id = pointId(of: h.key, prefix: prefix) else { continue }
                if let seq = purged[id] {
                    report.kept.append(Item(key: h.key, kind: kind, point: id,
                                            reason: "pgvault removed point \(id) (audit record \(seq))"))
                } else {
                    try bringBack(h, Item(key: h.key, kind: kind, point: id))
                }
            }
        }

        let chunks = try base.hiddenObjects(prefix: "chunks/")
        if !chunks.isEmpty {
            var hidden: [String: HiddenObject] = [:]
            for h in chunks { hidden[h.key] = h }
            var needed = Set<String>()
            for id in try vault.pointIds() {
                try ObjectLock.forEachChunkBatch(storage, point: id) { ids in
                    for c in ids where hidden[ChunkCodec.key(for: c)] != nil { needed.insert(ChunkCodec.key(for: c)) }
                }
            }
            for h in chunks {
                if needed.contains(h.key) {
                    try bringBack(h, Item(key: h.key, kind: "chunk"))
                } else {
                    report.kept.append(Item(key: h.key, kind: "chunk",
                                            reason: dryRun ? "no point present needs it (a point still hidden may: run without --dry-run)"
                                                           : "no point needs it (garbage collection removed it)"))
                }
            }
        }

        if !dryRun && !report.restored.isEmpty {
            let points = report.points
            var details = ["objects": String(report.restored.count)]
            if !points.isEmpty { details["points"] = points.joined(separator: " ") }
            try AuditLog(storage: storage).append(operation: "vault.unhide", target: "vault", details: details, actor: actor, now: now)
        }
        return report
    }

    /// What to add to a "missing" error about an object of `storage`: on a versioned (S3)
    /// storage a plain DELETE may only have hidden it. Empty elsewhere.
    static func hint(_ storage: any Storage) -> String {
        ObjectLock.versioned(storage) != nil
            ? " On S3 a plain DELETE may only have hidden it: `pgvault vault unhide --dry-run` lists what can be brought back."
            : ""
    }

    /// The point id in `points/<id>.json` or `state/<id>/…`.
    static func pointId(of key: String, prefix: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        if prefix == "points/" { return rest.hasSuffix(".json") ? String(rest.dropLast(".json".count)) : nil }
        return rest.split(separator: "/").first.map(String.init)
    }
}
