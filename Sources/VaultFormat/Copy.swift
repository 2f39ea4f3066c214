public import Foundation
public import VaultCore
import VaultStorage

/// What `pgvault copy` did.
public struct CopyReport: Codable, Sendable, Equatable {
    public struct Copied: Codable, Sendable, Equatable {
        public var point: String
        public var chunksSent: Int
        public var bytesSent: Int64
        public var chunksReused: Int
        public var retainUntil: Date?
        public var held: Bool
    }
    public var from: String
    public var to: String
    public var copied: [Copied] = []
    /// Points the target already has (left as they are).
    public var skipped: [String] = []
}

/// Copies recovery points between vaults of any kind (3-2-1): the chunks the target lacks
/// (each verified against its id on the way), the manifest byte for byte, and the point's
/// state (retain-until, legal hold, soft deletion). The target keeps its own id and records
/// `point.copy` in its audit log. A point the target already has is skipped, so a copy that
/// was interrupted is finished by running it again. Into a vault of format 3 or older, whose
/// readers know no op deltas, a codec 4 chunk is written as the codec 2/3 delta against the
/// same bases (or whole, when that is not smaller): same id, same plaintext, same chain.
public enum VaultCopy {
    public static func copy(from src: Vault, to dst: Vault, points refs: [String],
                            actor: String = Actor.current, progress: ((String) -> Void)? = nil) throws -> CopyReport {
        guard src.config.id != dst.config.id else {
            throw VaultError(.invalidArgument,
                "\(src.storage.location) and \(dst.storage.location) are the same vault (\(src.config.id)): copy needs a target vault with its own id (`pgvault init` it first).")
        }
        var report = CopyReport(from: src.storage.location, to: dst.storage.location)
        let source = VaultControl(vault: src)
        var selected: [PointView]
        if refs.isEmpty {
            // Which points, from the catalog; each is then read from its own manifest and state
            // records when its turn comes (the catalog is never trusted for what is copied).
            selected = try source.pointViews(summaries: true).filter { !$0.state.isSoftDeleted }
        } else {
            selected = try refs.map { ref in
                var v = try source.view(ref)
                v.manifest = Vault.summary(of: v.manifest)   // only one manifest's chunk lists in memory at a time
                return v
            }
        }
        selected.sort { $0.id < $1.id }

        // Like a backup: hold a backup-* lease in the target so its garbage collection never
        // removes a chunk this copy relies on, and wait while a sweep runs.
        let lease = try Lease.acquireWriter("backup-copy-" + Identifier.make(), storage: dst.storage)
        defer { lease.release() }

        let target = VaultControl(vault: dst, actor: actor)
        for picked in selected {
            let v = try source.view(picked.id)
            let key = Vault.pointKey(v.id)
            if try dst.storage.exists(key) {
                // Already there (perhaps from a copy killed before it wrote the state): bring
                // over a longer retain-until or a hold the target lacks, never weaken anything.
                let tv = try target.view(v.id)
                var merged = tv.state
                if let u = v.state.retainUntil, u > (tv.state.retainUntil ?? .distantPast) { merged.retainUntil = u }
                if merged.hold == nil, let h = v.state.hold { merged.hold = h }
                if merged != tv.state {
                    if let u = merged.retainUntil, u != tv.state.retainUntil { try ObjectLock.extendKey(dst.storage, key: key, until: u) }
                    let series = Series(storage: dst.storage, prefix: VaultControl.statePrefix(v.id))
                    try series.append(try VaultJSON.encode(merged), seq: tv.stateSeq + 1)
                    if merged.isHeld && !tv.state.isHeld { try ObjectLock.legalHold(control: target, point: tv.manifest, on: true) }
                    try AuditLog(storage: dst.storage).append(operation: "point.copy", target: v.id,
                        details: ["from": src.config.id, "state": "completed an earlier, interrupted copy"], actor: actor)
                }
                report.skipped.append(v.id)
                continue
            }
            progress?("copying point \(v.id)")
            let manifest = v.manifest
            let until = v.state.retainUntil
            let chunkStorage = ObjectLock.forChunks(dst.storage, until: until)
            // Every object the point needs, each once, as 32-byte digests (a 1 TiB point with
            // 11-deep chains needs ~7 million: as strings they took over a gigabyte).
            var seen = Set<ChunkDigest>()
            var order: [ChunkDigest] = []
            var sizes: [ChunkDigest: Int] = [:]   // of the file's own chunks (not of chain links)
            var odd: [String] = []                  // ids that are not a SHA-256 (no pgvault writes one)
            func add(_ id: String) -> ChunkDigest? {
                guard let d = ChunkDigest(hex: id) else {
                    if !odd.contains(id) { odd.append(id) }
                    return nil
                }
                if seen.insert(d).inserted { order.append(d) }
                return d
            }
            for f in manifest.files {
                for c in f.chunks {
                    // The chain first, root first: a delta chunk is only readable with its bases.
                    for b in c.bases.reversed() { _ = add(b) }
                    if let d = add(c.id), sizes[d] == nil { sizes[d] = c.size }
                }
            }
            seen = []
            let sent = Locked<(Int, Int64)>((0, 0))
            let expected = sizes
            @Sendable func copyOne(_ id: String, size: Int?) throws {
                let ckey = ChunkCodec.key(for: id)
                if try chunkStorage.exists(ckey) {
                    try ObjectLock.extendChunk(chunkStorage, key: ckey)
                    return
                }
                var object = try src.storage.get(ckey)
                let bases = BaseCache(storage: src.storage)
                let plain = try ChunkCodec.decode(object, id: id, expectedSize: size, decompressor: Decompressor(),
                                                  base: { try bases.plaintext($0, verify: false) })
                if dst.config.format < 4, ChunkCodec.codec(of: object) == ChunkCodec.Codec.opDelta.rawValue {
                    object = try ChunkCodec.forOlderReaders(object, plain: plain, level: dst.config.compression.level) {
                        try bases.plaintext($0, verify: false)
                    }
                }
                do { try chunkStorage.put(ckey, object, mode: .createOnly) }
                catch let e as VaultError where e.code == .objectExists {
                    try ObjectLock.extendChunk(chunkStorage, key: ckey)
                    return
                }
                sent.withLock { $0 = ($0.0 + 1, $0.1 + Int64(object.count)) }
            }
            try ObjectLock.parallel(order) { d in try copyOne(d.hex, size: expected[d]) }
            try ObjectLock.parallel(odd) { try copyOne($0, size: nil) }
            try dst.storage.sync()
            // As for a backup: never commit on a lease that lapsed (a sweep may have run).
            try lease.check()
            // The manifest, unchanged (it still names the vault and job that made it), stored
            // as the target's format stores manifests: the stored object itself when both
            // compress them (no need to hold its JSON), else converted.
            let stored = try src.storage.get(key)
            let compressed = ManifestCodec.isCompressed(stored)
            try dst.storage.put(key, compressed == (dst.config.format >= 3) ? stored : dst.storedManifest(try ManifestCodec.json(stored, what: key)),
                                mode: .createOnly)
            dst.writeSummary(manifest)
            if let until, until != v.manifest.retainUntil { try ObjectLock.extendKey(dst.storage, key: key, until: until) }
            // The state, when it differs from what the manifest implies.
            if v.state != PointState(pointId: v.id, retainUntil: v.manifest.retainUntil) {
                let series = Series(storage: dst.storage, prefix: VaultControl.statePrefix(v.id))
                try series.append(try VaultJSON.encode(v.state), seq: (try series.entries().last?.seq ?? 0) + 1)
            }
            if v.state.isHeld { try ObjectLock.legalHold(control: target, point: manifest, on: true) }
            var details = ["from": src.config.id, "source": src.storage.location]
            if let until { details["retainUntil"] = Timestamp.rfc3339(until) }
            if let h = v.state.hold { details["hold"] = h.reason }
            try AuditLog(storage: dst.storage).append(operation: "point.copy", target: v.id, details: details, actor: actor)
            try dst.storage.sync()
            let s = sent.get()
            report.copied.append(.init(point: v.id, chunksSent: s.0, bytesSent: s.1, chunksReused: order.count + odd.count - s.0,
                                       retainUntil: until, held: v.state.isHeld))
        }
        return report
    }
}
