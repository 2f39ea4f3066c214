public import Foundation
public import VaultCore
public import VaultStorage

public let pgVaultVersion = "0.1.0"

/// `vault.json`: what a reader needs to know before it touches anything else.
public struct VaultConfig: Codable, Equatable, Sendable {
    /// 1: Foundation (chunks, points, jobs). 2: adds settings/, state/, audit/, locks/ and
    /// retain-until in manifests. 3: manifests stored zstd-compressed (`ManifestCodec`).
    /// 4: delta chunks written as op deltas (codec 4, `ChunkCodec`), which restore composes
    /// down a chain instead of decoding every link. pgvault reads all four, and writes each
    /// vault in its own format.
    public static let currentFormat = 4
    public var format: Int
    public var kind: String
    public var id: String
    public var createdAt: Date
    public var createdBy: String
    public var chunker: ChunkerParams
    public var compression: CompressionParams
    /// Whether backups store changed chunks as deltas against the previous point's chunks
    /// (nil: yes). Readers always understand delta chunks.
    public var delta: Bool?
    /// Longest delta chain a backup writes: a chunk is stored as a delta against the previous
    /// point's chunk, which may itself be a delta, up to this many steps from a full chunk
    /// (nil: `defaultDeltaDepth`). Restore time of a chunk grows with its depth; bytes stored per
    /// point shrink with it (see vault/FORMAT.md § Delta chunks).
    public var deltaDepth: Int?
    public static let defaultDeltaDepth = 16
    public static let deltaDepthRange = 1...64

    public struct CompressionParams: Codable, Equatable, Sendable {
        public var codec: String
        public var level: Int32
    }
}

/// An open vault: its storage, its configuration and the operations every command shares.
public struct Vault: Sendable {
    public let storage: any Storage
    public let config: VaultConfig
    public static let configKey = "vault.json"

    /// Creates a new vault. Refuses an existing vault and a non-empty non-vault location.
    public static func create(storage: any Storage, now: Date = Date(), deltaDepth: Int? = nil) throws -> Vault {
        let storage = LockingStorage.wrap(storage)   // S3 Object Lock (ObjectLock.swift); others unchanged
        if try storage.exists(configKey) {
            throw VaultError(.vaultExists, "\(storage.location) is already a pgvault vault; nothing was changed.",
                             location: storage.location)
        }
        let existing = try storage.list(prefix: "")
        if !existing.isEmpty {
            throw VaultError(.targetExists, "\(storage.location) is not empty and not a vault: create the vault in a new or empty directory.",
                             location: storage.location)
        }
        let config = VaultConfig(format: VaultConfig.currentFormat, kind: "pgvault-vault",
                                 id: "vault-" + Identifier.randomHex(8), createdAt: Timestamp.millis(now),
                                 createdBy: "pgvault \(pgVaultVersion)", chunker: .v1,
                                 compression: .init(codec: "zstd", level: 1),
                                 deltaDepth: deltaDepth ?? VaultConfig.defaultDeltaDepth)
        try storage.put(configKey, try VaultJSON.encode(config), mode: .createOnly)
        try AuditLog(storage: storage).append(operation: "vault.init", target: "vault",
                                              details: ["id": config.id, "format": "\(config.format)"], now: now)
        try storage.sync()
        return Vault(storage: storage, config: config)
    }

    /// Opens an existing vault; `.notAVault` (exit 10) when there is none at this location.
    public static func open(storage: any Storage) throws -> Vault {
        let storage = LockingStorage.wrap(storage)   // S3 Object Lock (ObjectLock.swift); others unchanged
        let data: Data
        do { data = try storage.get(configKey) }
        catch let e as VaultError where e.code == .objectMissing {
            throw VaultError(.notAVault,
                "\(storage.location) is not a pgvault vault (it has no vault.json). Create one with `pgvault init \(storage.location)`, or point --vault (or PGVAULT_VAULT) at an existing vault.",
                location: storage.location)
        }
        let config = try VaultJSON.decode(VaultConfig.self, from: data, what: "\(storage.location)/vault.json")
        guard config.kind == "pgvault-vault" else {
            throw VaultError(.notAVault, "\(storage.location)/vault.json does not describe a pgvault vault.", location: storage.location)
        }
        guard config.format <= VaultConfig.currentFormat else {
            throw VaultError(.unsupportedFormat,
                "The vault at \(storage.location) uses format \(config.format); this pgvault (\(pgVaultVersion)) reads format \(VaultConfig.currentFormat) and older. Upgrade pgvault.",
                location: storage.location)
        }
        return Vault(storage: storage, config: config)
    }

    public init(storage: any Storage, config: VaultConfig) {
        self.storage = storage
        self.config = config
    }

    // MARK: points

    public static func pointKey(_ id: String) -> String { "points/\(id).json" }

    /// Writes a recovery point's manifest: the last step of a backup. Chunks first (the caller
    /// wrote them), then a durability barrier, then the manifest (create-only), then a barrier.
    /// Returns the SHA-256 of the manifest's JSON.
    @discardableResult
    public func commit(_ manifest: Manifest) throws -> String {
        try storage.sync()
        // Encoded as it is written (the stored manifest of a 1 TiB point is ~400 MB): on the
        // filesystem into a temporary file linked into place once whole, on S3 in one PUT or,
        // when large, as a multipart upload of parts sent as they fill (its Object Lock
        // retention known beforehand: `forManifest`); the memory driver gathers it.
        var sha256 = ""
        let format = config.format
        try ObjectLock.forManifest(storage, until: manifest.retainUntil).put(Vault.pointKey(manifest.id), mode: .createOnly) { emit in
            sha256 = try ManifestCodec.encode(manifest, format: format, emit: emit)
        }
        try storage.sync()
        writeSummary(manifest)
        return sha256
    }

    /// What this vault stores for manifest JSON `json` (compressed from format 3 on).
    public func storedManifest(_ json: Data) -> Data {
        ManifestCodec.stored(json, format: config.format)
    }

    // MARK: catalog

    /// `catalog/<point-id>.json`: the manifest without its chunk lists, for listings. Derived
    /// data: written after the manifest, never trusted for restore or integrity, and rebuilt
    /// from the manifest whenever it is missing.
    public static func catalogKey(_ id: String) -> String { "catalog/\(id).json" }

    /// `manifest` with the chunk lists left out.
    public static func summary(of manifest: Manifest) -> Manifest {
        var m = manifest
        m.files = m.files.map { var f = $0; f.chunks = []; return f }
        return m
    }

    /// Writes the catalog summary of a committed point (best effort: listings fall back to the
    /// manifest when it is missing).
    public func writeSummary(_ manifest: Manifest) {
        if let data = try? VaultJSON.encode(Vault.summary(of: manifest), pretty: false) {
            try? storage.put(Vault.catalogKey(manifest.id), data, mode: .createOnly)
        }
    }

    /// Ids of all recovery points, newest first (ids start with the start time), from one
    /// listing: no manifest is read.
    public func pointIds() throws -> [String] {
        try storage.keys(prefix: "points/").compactMap { key -> String? in
            guard key.hasSuffix(".json") else { return nil }
            return String(key.dropFirst("points/".count).dropLast(".json".count))
        }.sorted(by: >)
    }

    /// Every point's manifest without chunk lists, newest first, from the catalog index
    /// (`CatalogIndex`: the newest pack, loose entries, and the manifest where neither has the
    /// point, healing the index for next time). Index entries whose manifest is gone are ignored.
    public func summaries() throws -> [Manifest] {
        try CatalogIndex(vault: self).summaries()
    }

    /// All recovery points with their chunk lists, newest first. A manifest that does not
    /// decode is reported, not skipped. Reads every manifest: listings use `summaries()`.
    public func points() throws -> [Manifest] {
        var out: [Manifest] = []
        for obj in try storage.list(prefix: "points/") where obj.key.hasSuffix(".json") {
            out.append(try loadPoint(key: obj.key))
        }
        return out.sorted { ($0.startedAt, $0.id) > ($1.startedAt, $1.id) }
    }

    /// Every recovery point's chunk entries, a batch at a time, one manifest after the other in
    /// key order, holding none of them (garbage collection's mark). Points whose id is in
    /// `skipping` are not read.
    public func forEachPointChunks(skipping: Set<String> = [], _ body: @escaping ([ChunkRef]) throws -> Void) throws {
        for key in try storage.keys(prefix: "points/") where key.hasSuffix(".json") {
            let id = String(key.dropFirst("points/".count).dropLast(".json".count))
            guard !skipping.contains(id) else { continue }
            _ = try ManifestCodec.decode(storage, key: key) { _, batch in try body(batch) }
        }
    }

    public func loadPoint(key: String) throws -> Manifest {
        try ManifestCodec.decode(storage, key: key).manifest
    }

    /// The manifest's JSON, as the backup wrote it (restore writes it out as manifest.json,
    /// unchanged; decompressed when the vault stores it compressed).
    public func manifestData(_ id: String) throws -> Data {
        try manifestJSON(key: Vault.pointKey(id))
    }

    /// The JSON of the manifest stored at `key`, in whichever form this vault stores it.
    func manifestJSON(key: String) throws -> Data {
        try ManifestCodec.json(storage.get(key), what: key)
    }

    /// Resolves a point reference: an exact id, a unique prefix of one, or `latest` (the newest
    /// point that is not soft-deleted, unless `includeDeleted`).
    public func resolvePoint(_ ref: String, includeDeleted: Bool = false) throws -> Manifest {
        try loadPoint(key: Vault.pointKey(try resolvePointId(ref, includeDeleted: includeDeleted)))
    }

    /// `resolvePoint` without the chunk lists (`ManifestCodec.decodeSummary`): for what needs
    /// a point's files, not its chunks.
    public func resolveSummary(_ ref: String, includeDeleted: Bool = false) throws -> Manifest {
        try ManifestCodec.decodeSummary(storage, key: Vault.pointKey(try resolvePointId(ref, includeDeleted: includeDeleted))).manifest
    }

    /// The id `resolvePoint` resolves `ref` to, reading no manifest unless two live points
    /// started in the same second as the newest (then their summaries decide).
    public func resolvePointId(_ ref: String, includeDeleted: Bool = false) throws -> String {
        if ref != "latest", Self.isSafeId(ref), try storage.exists(Vault.pointKey(ref)) { return ref }
        // Resolved from the listing of points/ (ids start with the start time).
        let ids = try pointIds()
        if ref == "latest" {
            func live(_ id: String) throws -> Bool {
                if includeDeleted { return true }
                let state = try Series(storage: storage, prefix: VaultControl.statePrefix(id)).latest(PointState.self)?.value
                return !(state?.isSoftDeleted == true || state?.removingAt != nil)
            }
            for id in ids where try live(id) {
                // Ids carry the start time to the second: among points of that same second,
                // the manifests' start times decide.
                let second = id.prefix(16)
                let sameSecond = try ids.filter { $0.hasPrefix(second) && $0 != id }.filter { try live($0) }
                if sameSecond.isEmpty { return id }
                let candidates = try ([id] + sameSecond).map { try ManifestCodec.decodeSummary(storage, key: Vault.pointKey($0)).manifest }
                return (candidates.max { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) } ?? candidates[0]).id
            }
            throw VaultError(.pointNotFound, "The vault at \(storage.location) has no recovery points yet: run `pgvault backup` first.")
        }
        let matches = ids.filter { $0.hasPrefix(ref) }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty {
            throw VaultError(.pointNotFound, "No recovery point \"\(ref)\" in the vault at \(storage.location). List them with `pgvault points`." + Unhide.hint(storage),
                             location: ref)
        }
        throw VaultError(.ambiguousPoint, "\"\(ref)\" matches \(matches.count) points (\(matches.prefix(5).joined(separator: ", "))); give more of the id.",
                         location: ref)
    }

    static func isSafeId(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 95
        }
    }

    // MARK: stored size

    /// Bytes of all chunk objects in the vault.
    public func storedChunkBytes() throws -> Int64 {
        try storage.list(prefix: "chunks/").reduce(0) { $0 + $1.size }
    }
}
