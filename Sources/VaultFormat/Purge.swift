public import Foundation
public import VaultCore
import VaultStorage

public struct PurgeReport: Codable, Sendable, Equatable {
    public struct Purged: Codable, Sendable, Equatable {
        public var point: String
        public var server: String
        public var softDeletedAt: Date?
        public var purgeAfter: Date?
    }
    public struct Kept: Codable, Sendable, Equatable {
        public var point: String
        public var reason: String
        public var allowedFrom: Date?
        /// Kept by protection (legal hold, or retain-until under immutability), not merely
        /// because its soft-delete window has not passed yet.
        public var protected: Bool = false
    }
    public var dryRun: Bool
    public var purged: [Purged] = []
    /// Soft-deleted points that are not due yet (or held, or retained).
    public var kept: [Kept] = []
    public var chunksRemoved = 0
    public var bytesFreed: Int64 = 0
    public var chunksKept = 0
    /// Why the chunk sweep did not run (a backup holds its lease), if it did not.
    public var sweepDeferred: String?
    public var orphanStateRecordsRemoved = 0
    /// Leftover `.tmp-*` files of killed writers removed from a filesystem vault.
    public var temporariesRemoved = 0
    /// S3 vaults: object versions removed for good, versions still locked, uploads aborted.
    public var versionsRemoved = 0
    public var versionsLocked = 0
    public var uploadsAborted = 0
}

extension VaultControl {
    /// Purges soft-deleted points whose window has passed (respecting holds and immutability),
    /// then sweeps chunks no remaining manifest references and that are older than `grace`.
    ///
    /// Safety with backups running beside it: a backup holds a `backup-*` lease for its whole
    /// run and waits while a `gc` lease is held; the sweep takes the `gc` lease, then looks for
    /// live backup leases and, if there is one, skips the sweep (the next purge does it). Both
    /// sides take their own lease before looking at the other's, so at least one of them sees
    /// the other: a backup can never reuse a chunk that a sweep is about to remove.
    public func purge(dryRun: Bool, grace: TimeInterval = 3600) throws -> PurgeReport {
        var report = PurgeReport(dryRun: dryRun)
        if !dryRun { try audit.checkWritable() }
        let s = try settings()
        let views = try pointViews()   // the decision is taken again on each point's own records below
        var purging = Set<String>()
        for v in views where v.state.isSoftDeleted || v.state.removingAt != nil {
            switch Protection.decide(.purge, settings: s, point: v.state, now: now) {
            case .allowed:
                purging.insert(v.id)
                report.purged.append(.init(point: v.id, server: v.manifest.server.name,
                                           softDeletedAt: v.state.softDeletedAt, purgeAfter: v.state.purgeAfter))
            case .refused(let reason, let from, _):
                let retained = s.protectsRetention && (v.state.retainUntil.map { now < $0 } ?? false)
                report.kept.append(.init(point: v.id, reason: reason, allowedFrom: from, protected: v.state.isHeld || retained))
            }
        }
        if !dryRun {
            for id in purging.sorted() {
                // Decide again on fresh state: a hold or undelete may have landed since the listing.
                let fresh = try view(id)
                if case .refused(let reason, let from, _) = Protection.decide(.purge, settings: try settings(), point: fresh.state, now: now) {
                    purging.remove(id)
                    report.purged.removeAll { $0.point == id }
                    report.kept.append(.init(point: id, reason: reason, allowedFrom: from))
                    continue
                }
                // Claim it (compare-and-set on its state): a hold or undelete that lands now wins.
                if fresh.state.removingAt == nil {
                    do { try claimRemoval(fresh) }
                    catch let e as VaultError where e.code == .busy {
                        purging.remove(id)
                        report.purged.removeAll { $0.point == id }
                        report.kept.append(.init(point: id, reason: "it changed while purge ran; the next purge decides again", allowedFrom: nil))
                        continue
                    }
                }
                try audit.append(operation: "point.purge", target: id, actor: actor, now: now)
                try removePoint(id)
            }
            // State records left by a purge that was killed after removing the manifest. Each is
            // checked against the manifest now, so a point committed meanwhile keeps its state.
            for o in try storage.list(prefix: "state/") {
                let parts = o.key.split(separator: "/")
                if parts.count == 3, try !storage.exists(Vault.pointKey(String(parts[1]))) {
                    try storage.delete(o.key)
                    report.orphanStateRecordsRemoved += 1
                }
            }
            // Catalog summaries of points that are gone (derived data: no audit record needed).
            for o in try storage.list(prefix: "catalog/") where o.key.hasSuffix(".json") {
                let id = String(o.key.dropFirst("catalog/".count).dropLast(".json".count))
                if try !storage.exists(Vault.pointKey(id)) { try storage.delete(o.key) }
            }
        }

        var gcLease: Lease?
        if !dryRun {
            gcLease = try Lease.acquire("gc", storage: storage, duration: 600, now: Date())
            let backups = try Lease.live(prefix: "backup-", storage: storage)
            if let b = backups.first {
                report.sweepDeferred = "backup \(b.name.dropFirst("backup-".count)) by \(b.holder) is running; the next purge sweeps"
                gcLease?.release()
                gcLease = nil
            }
        }
        defer { gcLease?.release() }
        if report.sweepDeferred == nil {
            // Mark: every chunk a remaining manifest uses (active, soft-deleted, held alike),
            // read only now, under the gc lease, so a backup that finished a moment ago counts.
            // One manifest at a time: each may be hundreds of MB in memory for a 1 TiB database.
            // Each manifest's entries are visited a batch at a time, not held.
            var marked = ChunkIdSet()
            try vault.forEachPointChunks(skipping: dryRun ? purging : []) { batch in   // a dry run removed nothing
                // A delta chunk's base is marked with it: it is needed to read the chunk.
                for c in batch { marked.insert(objectsOf: c) }
            }
            let cutoff = now.addingTimeInterval(-grace)
            var doomed: [ObjectInfo] = []
            for o in try storage.list(prefix: "chunks/") {
                guard let id = o.key.split(separator: "/").last.map(String.init) else { continue }
                if marked.contains(id) || o.modified > cutoff { report.chunksKept += 1; continue }
                doomed.append(o)
            }
            report.chunksRemoved = doomed.count
            report.bytesFreed = doomed.reduce(0) { $0 + $1.size }
            if !dryRun && !doomed.isEmpty {
                // Audit first, so even a sweep killed half-way is on record.
                try audit.append(operation: "gc.sweep", target: "vault",
                                 details: ["chunks": "\(report.chunksRemoved)", "bytes": "\(report.bytesFreed)"], actor: actor, now: now)
                for (i, o) in doomed.enumerated() {
                    if i % 256 == 0 { try gcLease?.check() }   // stop if the gc lease lapsed
                    try storage.delete(o.key)
                }
                try storage.sync()
            }
            if !dryRun, let local = storage as? LocalStorage {
                report.temporariesRemoved = local.removeStaleTemporaries(olderThan: cutoff)
            }
            if !dryRun, let v = try ObjectLock.sweepVersions(storage, olderThan: cutoff) {   // S3: versions, uploads
                report.versionsRemoved = v.versionsRemoved
                report.versionsLocked = v.versionsLocked
                report.uploadsAborted = v.uploadsAborted
            }
        }
        return report
    }
}

/// The mark set of garbage collection, which holds every chunk id of every point (~7 million
/// for one 1 TiB point with 11-deep chains): each SHA-256 id by its first 64 bits, 8 bytes (as
/// 32-byte digests the set took ~540 MB there, as strings over a gigabyte); ids that are not a
/// SHA-256 (no pgvault writes one) as strings.
///
/// It can only err one way: an unmarked chunk whose id shares its first 64 bits with a marked
/// one is kept (for ~10 million marked ids among ~10 million stored chunks, one chance in
/// ~200,000 that any such pair exists at all); a marked chunk is never taken for unmarked.
struct ChunkIdSet {
    private var prefixes = Set<UInt64>()
    private var others = Set<String>()

    mutating func insert(_ id: String) {
        if let d = ChunkDigest(hex: id) { prefixes.insert(d.prefix) } else { others.insert(id) }
    }

    /// The chunk and every chunk it needs to be read (`ChunkRef.objectIds`).
    mutating func insert(objectsOf ref: ChunkRef) {
        if let d = ref.packedId.digest { prefixes.insert(d.prefix) } else { insert(ref.id) }
        if let b = ref.packedBase { if let d = b.digest { prefixes.insert(d.prefix) } else { insert(b.string) } }
        ref.packedChain?.forEach(digest: { prefixes.insert($0.prefix) }, other: { others.insert($0) })
    }

    /// Whether `id` may be marked: true for every marked id (and, see above, possibly for an
    /// id sharing the first 64 bits with one).
    func contains(_ id: String) -> Bool {
        if let d = ChunkDigest(hex: id) { return prefixes.contains(d.prefix) }
        return others.contains(id)
    }
}
