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
            selected = try source.pointViews().filter { !$0.state.isSoftDeleted }
        } else {
            selected = try refs.map { ref in
                try source.view(ref)   // without its chunk lists (read as the point is copied)
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
                    if merged.isHeld && !tv.state.isHeld { try ObjectLock.legalHold(control: target, point: tv.id, on: true) }
                    try AuditLog(storage: dst.storage).append(operation: "point.copy", target: v.id,
                        details: ["from": src.config.id, "state": "completed an earlier, interrupted copy"], actor: actor)
                }
                report.skipped.append(v.id)
                continue
            }
            progress?("copying point \(v.id)")
            let manifest = v.manifest   // without its chunk lists: they are read below, a batch at a time
            let until = v.state.retainUntil
            let chunkStorage = ObjectLock.forChunks(dst.storage, until: until)
            let counts = Locked<(sent: Int, bytes: Int64, reused: Int)>((0, 0, 0))
            @Sendable func copyOne(_ id: String, size: Int?) throws {
                let ckey = ChunkCodec.key(for: id)
                if try chunkStorage.exists(ckey) {
                    try ObjectLock.extendChunk(chunkStorage, key: ckey)
                    counts.withLock { $0.reused += 1 }
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
                    counts.withLock { $0.reused += 1 }
                    return
                }
                counts.withLock { $0 = ($0.sent + 1, $0.bytes + Int64(object.count), $0.reused) }
            }
            // The point's chunk entries come a batch at a time from its manifest (a 1 TiB point
            // lists ~650,000 chunks and, with 11-deep chains, needs ~7 million objects: neither
            // list is held). Each batch's objects are copied before the next batch is read,
            // each chunk's chain first, root first. An object already handled is skipped while
            // it is among the last `recentLimit` (as 32-byte digests); beyond that the target's
            // `exists` answers (it is asked for every object anyway).
            let recentLimit = 1 << 18
            var recent = Set<ChunkDigest>()
            _ = try ManifestCodec.decode(src.storage, key: key) { _, batch in
                var order: [ChunkDigest] = []
                var sizes: [ChunkDigest: Int] = [:]   // of the file's own chunks (not of chain links)
                var odd: [String] = []                  // ids that are not a SHA-256 (no pgvault writes one)
                func add(_ id: String) -> ChunkDigest? {
                    guard let d = ChunkDigest(hex: id) else {
                        if !odd.contains(id) { odd.append(id) }
                        return nil
                    }
                    if recent.insert(d).inserted { order.append(d) }
                    return d
                }
                for c in batch {
                    for b in c.bases.reversed() { _ = add(b) }
                    if let d = add(c.id), sizes[d] == nil { sizes[d] = c.size }
                }
                let expected = sizes
                try ObjectLock.parallel(order) { d in try copyOne(d.hex, size: expected[d]) }
                try ObjectLock.parallel(odd) { try copyOne($0, size: nil) }
                if recent.count > recentLimit { recent = [] }
            }
            try dst.storage.sync()
            // As for a backup: never commit on a lease that lapsed (a sweep may have run).
            try lease.check()
            // The manifest, unchanged (it still names the vault and job that made it), stored
            // as the target's format stores manifests: the stored object itself when both
            // compress them (no need to hold its JSON), else converted.
            let head = try ManifestCodec.storedHead(src.storage, key: key)
            if ManifestCodec.isCompressed(head) == (dst.config.format >= 3) {
                // Streamed through (a 1 TiB point's manifest is ~400 MB stored); on an S3
                // target locked with the manifest's own retain-until, known from its summary.
                try ObjectLock.forManifest(dst.storage, until: v.manifest.retainUntil).put(key, mode: .createOnly) { emit in
                    try src.storage.read(key) { try emit($0) }
                }
            } else {
                // Between a vault of format 3+ and an older one: converted, in memory.
                try dst.storage.put(key, dst.storedManifest(try ManifestCodec.json(try src.storage.get(key), what: key)), mode: .createOnly)
            }
            dst.writeSummary(manifest)
            if let until, until != v.manifest.retainUntil { try ObjectLock.extendKey(dst.storage, key: key, until: until) }
            // The state, when it differs from what the manifest implies.
            if v.state != PointState(pointId: v.id, retainUntil: v.manifest.retainUntil) {
                let series = Series(storage: dst.storage, prefix: VaultControl.statePrefix(v.id))
                try series.append(try VaultJSON.encode(v.state), seq: (try series.entries().last?.seq ?? 0) + 1)
            }
            if v.state.isHeld { try ObjectLock.legalHold(control: target, point: v.id, on: true) }
            var details = ["from": src.config.id, "source": src.storage.location]
            if let until { details["retainUntil"] = Timestamp.rfc3339(until) }
            if let h = v.state.hold { details["hold"] = h.reason }
            try AuditLog(storage: dst.storage).append(operation: "point.copy", target: v.id, details: details, actor: actor)
            try dst.storage.sync()
            let s = counts.get()
            report.copied.append(.init(point: v.id, chunksSent: s.sent, bytesSent: s.bytes, chunksReused: s.reused,
                                       retainUntil: until, held: v.state.isHeld))
        }
        return report
    }
}
