public import Foundation
public import VaultCore
public import VaultStorage

/// What `pgvault verify` found about one recovery point.
public struct PointCheck: Encodable, Sendable {
    public enum Status: String, Encodable, Sendable {
        /// Every file read back and matched the manifest.
        case ok
        /// At least one file (or the manifest itself) is missing or does not match.
        case damaged
        /// Nothing found damaged, but some object could not be read (storage or I/O error,
        /// e.g. the S3 endpoint was unreachable): run verify again.
        case unreadable
    }

    /// One file (or the manifest) that did not verify.
    public struct Failure: Encodable, Equatable, Sendable {
        /// The file's path in the point; nil when the manifest itself is at fault.
        public var file: String?
        /// The error code (`corrupt`, `storage-error`, `io-error`, ...).
        public var code: String
        /// What is wrong, naming the chunk (and the base chunk of a delta).
        public var message: String
        /// The object key at fault (`chunks/ab/ab12…`, `points/<id>.json`), when known.
        public var object: String?
        public var cause: String?

        public init(file: String?, error: VaultError) {
            self.file = file
            code = error.code.rawValue
            message = error.message
            object = error.location
            cause = error.cause
        }

        /// Damage (as opposed to a storage or I/O error that a later run may not see again).
        public var isDamage: Bool {
            code == VaultError.Code.corrupt.rawValue || code == VaultError.Code.objectMissing.rawValue
                || code == VaultError.Code.unsupportedFormat.rawValue
        }
    }

    public var id: String
    /// The manifest's start time (nil when the manifest could not be read).
    public var startedAt: Date?
    public var status: Status
    /// `active`, `soft-deleted`, `removing` (a purge is removing it), or `unknown` when the
    /// manifest or state could not be read.
    public var state: String
    /// Files in the manifest (0 when it could not be read).
    public var files: Int
    public var filesChecked: Int
    /// Bytes of the files that verified completely (size and SHA-256 equal to the manifest's).
    public var bytesVerified: Int64
    /// SHA-256 of the manifest object as stored (the value `show --evidence` prints).
    public var manifestSha256: String?
    public var failures: [Failure]

    public init(id: String, state: String, files: Int = 0, filesChecked: Int = 0, bytesVerified: Int64 = 0,
                manifestSha256: String? = nil, failures: [Failure] = []) {
        self.id = id; self.state = state; self.files = files; self.filesChecked = filesChecked
        self.bytesVerified = bytesVerified; self.manifestSha256 = manifestSha256; self.failures = failures
        status = .ok
        updateStatus()
    }

    mutating func updateStatus() {
        if failures.contains(where: \.isDamage) { status = .damaged }
        else if !failures.isEmpty { status = .unreadable }
        else { status = .ok }
    }
}

/// Progress of a verification, for the command to print. Libraries report; commands print.
public enum VerifyEvent: Sendable {
    /// A point's manifest was read: `files` files of `bytes` bytes to check.
    case point(id: String, files: Int, bytes: Int64)
    /// Partway through a long file.
    case reading(file: String, done: Int64, of: Int64)
    /// A file read back completely and matched the manifest.
    case fileOK(file: String, bytes: Int64, seconds: Double)
    case fileFailed(PointCheck.Failure)
}

/// Reads recovery points back through the restore read path (`FileReader`: every chunk
/// fetched, delta chunks decoded against their bases, each chunk's SHA-256 and every file's
/// size and SHA-256 checked against the manifest), discarding the bytes. Read-only: writes
/// nothing to the vault. Never stops at the first bad file.
public struct PointVerifier {
    public let vault: Vault
    /// How often `.reading` is reported while a file is read.
    public var reportEvery: TimeInterval = 10

    public init(vault: Vault) { self.vault = vault }

    /// A point chosen for verification: its id and state, and the damage already found while
    /// it was resolved (a manifest or state record that does not decode).
    public struct Target: Sendable {
        public var id: String
        public var state: String
        public var failures: [PointCheck.Failure] = []
        /// The manifest was found unreadable: there are no files to check.
        public var manifestDamaged = false
    }

    /// Every point, newest first (by id: ids start with the start time). Soft-deleted points
    /// and points a purge is removing only with `includeDeleted`; a point whose state cannot
    /// be read is always included (as damaged), and so is a point the audit log records as
    /// written and never removed but whose manifest is gone (`missingPoints`).
    public func allTargets(includeDeleted: Bool) throws -> [Target] {
        let ids = try vault.pointIds()
        let present = try ids.compactMap { id in
            let t = try target(id: id)
            return includeDeleted || !t.failures.isEmpty || t.state == "active" ? t : nil
        }
        let hint = Unhide.hint(vault.storage)
        let missing = try missingPoints(present: Set(ids)).map { m in
            Target(id: m.id, state: "missing", failures: [.init(file: nil, error: VaultError(.corrupt,
                "The audit log records point \(m.id) as written (record \(m.seq), \(m.operation)) and never removed, but its manifest is gone: it was deleted outside pgvault." +
                (hint.isEmpty ? " Restore it from a copy of the vault (`pgvault copy`)." : hint),
                location: Vault.pointKey(m.id)))], manifestDamaged: true)
        }
        return (present + missing).sorted { $0.id > $1.id }
    }

    /// Points the audit log records as written (`point.create`, `point.copy`) and not as
    /// removed (`point.purge`, `point.delete` with mode `hard`) that are not in `present`.
    /// pgvault writes a point's manifest before its audit record and its removal record before
    /// removing it, so such a point was deleted by something else (or hidden, on S3).
    func missingPoints(present: Set<String>) throws -> [(id: String, seq: Int, operation: String)] {
        var written: [String: (seq: Int, operation: String)] = [:]
        // An audit log that cannot be read is `audit --verify`'s to report, not this check's.
        for e in (try? AuditLog(storage: vault.storage).entries()) ?? [] {
            switch e.operation {
            case "point.create", "point.copy": written[e.target] = (e.seq, e.operation)
            case "point.purge": written[e.target] = nil
            case "point.delete" where e.details["mode"] == "hard": written[e.target] = nil
            default: break
            }
        }
        return written.filter { !present.contains($0.key) }.map { ($0.key, $0.value.seq, $0.value.operation) }
    }

    /// Resolves a point reference as `restore` and `show` do (id, unique prefix, `latest`).
    /// Throws for an unknown or ambiguous reference; a manifest that does not decode becomes
    /// a damaged target instead.
    public func target(_ ref: String, includeDeleted: Bool) throws -> Target {
        let id: String
        do { id = try vault.resolvePointId(ref, includeDeleted: includeDeleted) }
        catch let e as VaultError where e.code == .corrupt {
            guard let key = e.location, key.hasPrefix("points/"), key.hasSuffix(".json") else { throw e }
            let id = String(key.dropFirst("points/".count).dropLast(".json".count))
            return Target(id: id, state: "unknown", failures: [.init(file: nil, error: e)], manifestDamaged: true)
        }
        return try target(id: id)
    }

    /// The point's state from its latest `state/<id>/<seq>.json` record (none: active).
    func target(id: String) throws -> Target {
        let prefix = "state/\(id)/"
        let latest = try vault.storage.list(prefix: prefix)
            .compactMap { o -> (Int, String)? in
                guard o.key.hasSuffix(".json"), let seq = Int(o.key.dropFirst(prefix.count).dropLast(".json".count)) else { return nil }
                return (seq, o.key)
            }
            .max { $0.0 < $1.0 }
        guard let (_, key) = latest else { return Target(id: id, state: "active") }
        do {
            let state = try VaultJSON.decode(PointState.self, from: try vault.storage.get(key), what: key)
            let label = state.removingAt != nil ? "removing" : state.isSoftDeleted ? "soft-deleted" : "active"
            return Target(id: id, state: label)
        } catch {
            let e = Self.vaultError(error, key: key)
            guard e.code == .corrupt else { throw e }
            return Target(id: id, state: "unknown", failures: [.init(file: nil, error: e)])
        }
    }

    /// Verifies a target: reads the manifest and every file, unless it was found damaged already.
    public func verify(_ target: Target, progress: (VerifyEvent) -> Void = { _ in }) -> PointCheck {
        for f in target.failures { progress(.fileFailed(f)) }
        if target.manifestDamaged { return PointCheck(id: target.id, state: target.state, failures: target.failures) }
        var check = verify(id: target.id, state: target.state, progress: progress)
        check.failures.insert(contentsOf: target.failures, at: 0)
        check.updateStatus()
        return check
    }

    /// Loads the manifest of point `id` (exact id) and verifies it. A manifest that does not
    /// decode, or whose `id` is not the one its key names, is reported as damage.
    public func verify(id: String, state: String, progress: (VerifyEvent) -> Void = { _ in }) -> PointCheck {
        let key = Vault.pointKey(id)
        // Without its chunk lists first (the files to check, the JSON's hash), then once more
        // file by file as they are read (`PointChunkStream`): a point's whole list is never held.
        let manifest: Manifest, counts: [Int], hash: String
        do {
            let r = try ManifestCodec.decodeSummary(vault.storage, key: key, sha256: true)
            (manifest, counts, hash) = (r.manifest, r.chunkCounts, r.sha256 ?? "")
        } catch {
            // The hash of the JSON, when it decompresses, to name the damaged manifest in the report.
            let json = try? vault.manifestJSON(key: key)
            return PointCheck(id: id, state: state, manifestSha256: json.map { d in d.withUnsafeBytes { ChunkCodec.sha256Hex($0) } },
                              failures: [.init(file: nil, error: Self.vaultError(error, key: key))])
        }
        guard manifest.id == id else {
            let e = VaultError(.corrupt,
                "The manifest \(key) names point \(manifest.id), not \(id): it was renamed or replaced. Restore it from a copy of the vault.",
                location: key)
            return PointCheck(id: id, state: state, manifestSha256: hash, failures: [.init(file: nil, error: e)])
        }
        return verify(manifest, counts: counts, key: key, state: state, manifestSha256: hash, progress: progress)
    }

    /// Verifies every file of `manifest` (a summary: its chunk lists are read from `key`,
    /// `counts` entries each, as they are needed).
    func verify(_ manifest: Manifest, counts: [Int], key: String, state: String, manifestSha256: String,
                progress: (VerifyEvent) -> Void) -> PointCheck {
        var check = PointCheck(id: manifest.id, state: state, files: manifest.files.count, manifestSha256: manifestSha256)
        check.startedAt = manifest.startedAt
        progress(.point(id: manifest.id, files: manifest.files.count, bytes: manifest.files.reduce(0) { $0 + $1.size }))
        let reader = FileReader(storage: vault.storage)
        var stream = PointChunkStream(storage: vault.storage, key: key, expected: manifest, counts: counts)
        defer { stream.close() }
        for (k, file) in manifest.files.enumerated() {
            let started = Date()
            var lastReport = started
            var done: Int64 = 0
            do {
                try reader.read(file, count: counts[k], feed: stream.feed(file: k), again: { stream.reopened().feed(file: k) }) { chunk in
                    done += Int64(chunk.count)
                    let now = Date()
                    if now.timeIntervalSince(lastReport) >= reportEvery {
                        lastReport = now
                        progress(.reading(file: file.path, done: done, of: file.size))
                    }
                }
                check.bytesVerified += file.size
                progress(.fileOK(file: file.path, bytes: file.size, seconds: Date().timeIntervalSince(started)))
            } catch {
                let failure = PointCheck.Failure(file: file.path, error: Self.vaultError(error, key: nil))
                check.failures.append(failure)
                progress(.fileFailed(failure))
                // A file that failed may have left its list half read: the next file's comes
                // from a fresh read of the manifest.
                stream.close()
                stream = stream.reopened()
            }
            check.filesChecked += 1
        }
        do { try stream.finish() }
        catch {
            let failure = PointCheck.Failure(file: nil, error: Self.vaultError(error, key: key))
            check.failures.append(failure)
            progress(.fileFailed(failure))
        }
        check.updateStatus()
        return check
    }

    /// Newest first, as `points` lists them: ids carry the start time to the second, and among
    /// points of the same second the manifests' start times decide.
    public static func newestFirst(_ checks: [PointCheck]) -> [PointCheck] {
        checks.sorted {
            let (a, b) = ($0.id.prefix(16), $1.id.prefix(16))
            if a != b { return a > b }
            let (x, y) = ($0.startedAt ?? .distantPast, $1.startedAt ?? .distantPast)
            return x != y ? x > y : $0.id > $1.id
        }
    }

    static func vaultError(_ error: any Error, key: String?) -> VaultError {
        if var e = error as? VaultError {
            if e.code == .objectMissing, let key {
                e = VaultError(.corrupt, "\(key) is missing from the vault.", cause: e.message, location: key)
            }
            return e
        }
        return VaultError(.io, "reading \(key ?? "the vault") failed: \(error)", location: key)
    }
}
