public import Foundation
import VaultCore
public import VaultStorage

/// Object Lock retention modes.
public enum S3LockMode: String, Sendable, Codable, Equatable {
    /// Can be shortened or removed by a user allowed to bypass governance retention.
    case governance = "GOVERNANCE"
    /// Nobody, not even the root account, can shorten it or delete the version before it ends.
    case compliance = "COMPLIANCE"
}

/// An Object Lock retention: a mode and the instant until which the version is protected.
public struct S3Retention: Sendable, Equatable {
    public var mode: S3LockMode
    public var retainUntil: Date
    public init(mode: S3LockMode, retainUntil: Date) {
        self.mode = mode
        self.retainUntil = retainUntil
    }
}

/// The lock state of one object version.
public struct S3LockState: Sendable, Equatable {
    public var retention: S3Retention?
    public var legalHold: Bool
    public init(retention: S3Retention?, legalHold: Bool) {
        self.retention = retention
        self.legalHold = legalHold
    }
}

/// What a PUT answered.
public struct S3PutResult: Sendable, Equatable {
    /// `x-amz-version-id` (versioned buckets, which Object Lock buckets always are).
    public var versionId: String?
    public var etag: String?
}

/// One object version (or delete marker) as ListObjectVersions reports it.
public struct S3ObjectVersion: Sendable, Equatable {
    /// The key relative to the storage prefix.
    public var key: String
    public var versionId: String
    public var isLatest: Bool
    public var isDeleteMarker: Bool
    public var size: Int64
    public var modified: Date?
}

/// One unfinished multipart upload.
public struct S3MultipartUpload: Sendable, Equatable {
    /// The key relative to the storage prefix.
    public var key: String
    public var uploadId: String
    public var initiated: Date?
}

/// `s3://bucket/prefix`, parsed.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    public var bucket: String
    /// Without leading or trailing `/`; empty for the bucket root.
    public var prefix: String

    public init(bucket: String, prefix: String = "") {
        self.bucket = bucket
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
    }

    /// Parses `s3://bucket[/prefix]`; `.invalidArgument` otherwise.
    public init(url: String) throws {
        guard url.hasPrefix("s3://") else {
            throw VaultError(.invalidArgument, "\(url) is not an S3 URL: write s3://bucket/prefix", location: url)
        }
        let rest = url.dropFirst(5)
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let bucket = parts.first.map(String.init) ?? ""
        guard S3Location.validBucket(bucket) else {
            throw VaultError(.invalidArgument,
                "\"\(bucket)\" is not a valid S3 bucket name (3-63 characters: lower-case letters, digits, dots, hyphens): write s3://bucket/prefix",
                location: url)
        }
        let prefix = parts.count > 1 ? String(parts[1]) : ""
        if !prefix.isEmpty {
            let trimmed = prefix.split(separator: "/").joined(separator: "/")
            if !trimmed.isEmpty { try StorageKey.validate(trimmed) }
        }
        self.init(bucket: bucket, prefix: prefix)
    }

    public var description: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }

    static func validBucket(_ b: String) -> Bool {
        guard (3...63).contains(b.utf8.count) else { return false }
        let ok = b.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }
        guard ok, let f = b.utf8.first, let l = b.utf8.last else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        return alnum(f) && alnum(l)
    }
}

/// The S3 driver: one object per key under `s3://bucket/prefix`, path-style addressing
/// (`endpoint/bucket/key`), AWS Signature V4.
///
/// - `put` sends the body's SHA-256 both signed (`x-amz-content-sha256`) and as
///   `x-amz-checksum-sha256`, so the server verifies the bytes it stores. `createOnly` is a
///   conditional write (`If-None-Match: *`; 412 → `.objectExists`). Bodies over
///   `multipartThreshold` go up as a multipart upload, aborted on failure.
/// - `sync()` is a no-op: an S3 PUT is durable when it returns.
/// - `delete` is a plain DELETE: on a versioned (Object Lock) bucket it adds a delete marker
///   and the protected versions stay; use `deleteVersion` to remove a version for good.
public final class S3Storage: Storage, @unchecked Sendable {
    public let bucket: String
    public let prefix: String
    public let endpoint: URL
    public let region: String
    /// Keys per ListObjectsV2 page (S3's maximum is 1000; smaller in tests).
    public let listPageSize: Int
    /// Bodies larger than this go up as multipart uploads.
    public let multipartThreshold: Int
    /// Part size of multipart uploads (S3's minimum is 5 MiB except for the last part).
    public let partSize: Int
    /// Bytes per ranged GET of `read` (large manifests).
    public let readPieceSize: Int
    let client: S3Client
    private let lock = NSLock()
    private var bucketVerified = false

    public var location: String { S3Location(bucket: bucket, prefix: prefix).description + " at " + client.endpointText }

    public init(location: S3Location, endpoint: URL, region: String = "us-east-1", credentials: S3Credentials,
                retry: S3RetryPolicy = .standard, timeout: TimeInterval = 60, listPageSize: Int = 1000,
                multipartThreshold: Int = 16 << 20, partSize: Int = 8 << 20, readPieceSize: Int = 8 << 20) {
        self.bucket = location.bucket
        self.prefix = location.prefix
        self.endpoint = endpoint
        self.region = region
        self.listPageSize = max(1, min(listPageSize, 1000))
        self.multipartThreshold = multipartThreshold
        self.partSize = max(partSize, 1)
        self.readPieceSize = max(readPieceSize, 1)
        self.client = S3Client(endpoint: endpoint,
                               signer: SigV4Signer(credentials: credentials, region: region, service: "s3"),
                               retry: retry, timeout: timeout)
    }

    /// `s3://bucket/prefix` with an endpoint such as `https://s3.eu-west-1.amazonaws.com`
    /// or `http://127.0.0.1:8333`.
    public convenience init(url: String, endpoint: String, region: String = "us-east-1", credentials: S3Credentials,
                            retry: S3RetryPolicy = .standard, timeout: TimeInterval = 60) throws {
        guard let ep = URL(string: endpoint), let scheme = ep.scheme, scheme == "http" || scheme == "https", ep.host != nil else {
            throw VaultError(.invalidArgument, "\(endpoint) is not an S3 endpoint URL: write http(s)://host[:port]", location: endpoint)
        }
        self.init(location: try S3Location(url: url), endpoint: ep, region: region, credentials: credentials,
                  retry: retry, timeout: timeout)
    }

    // MARK: - Paths

    func objectKey(_ key: String) -> String { prefix.isEmpty ? key : prefix + "/" + key }
    private func objectPath(_ key: String) -> String { "/" + bucket + "/" + objectKey(key) }
    private var bucketPath: String { "/" + bucket }
    private func relative(_ fullKey: String) -> String? {
        if prefix.isEmpty { return fullKey }
        let p = prefix + "/"
        return fullKey.hasPrefix(p) ? String(fullKey.dropFirst(p.count)) : nil
    }
    private func where_(_ key: String?) -> String {
        let loc = S3Location(bucket: bucket, prefix: key.map(objectKey) ?? prefix).description
        return loc + " at " + client.endpointText
    }

    // MARK: - Requests and errors

    private func request(_ op: String, key: String?, method: String, path: String,
                         query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
                         body: Data? = nil, retryConflict: Bool = false) throws -> S3Response {
        do {
            let r = try client.send(method: method, path: path, query: query, headers: headers, body: body,
                                    retryConflict: retryConflict)
            if r.status < 400 { markBucketVerified() }
            return r
        } catch {
            throw VaultError(.storage,
                "cannot reach S3 endpoint \(client.endpointText) (\(op) failed after \(client.retry.attempts) tries): check --s3-endpoint and that the server is up and reachable.",
                cause: error.description, location: where_(key))
        }
    }

    private func markBucketVerified() {
        lock.lock(); bucketVerified = true; lock.unlock()
    }

    /// The error for an S3 answer that is not a success.
    func failure(_ r: S3Response, op: String, key: String?) -> VaultError {
        let code = r.errorCode
        let message = r.errorMessage
        var cause = "HTTP \(r.status)"
        if let code { cause += " \(code)" }
        if let message, !message.isEmpty { cause += ": \(message)" }
        let loc = where_(key)
        switch code {
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
             "AuthorizationHeaderMalformed", "InvalidSecurity", "MissingSecurityHeader":
            return VaultError(.storage,
                "S3 refused the credentials for \(client.endpointText) (\(code!)): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, or the AWS_PROFILE in ~/.aws/credentials).",
                cause: cause, location: loc)
        case "RequestTimeTooSkewed":
            return VaultError(.storage,
                "S3 refused the request because this machine's clock is off: synchronize the clock (NTP) and try again.",
                cause: cause, location: loc)
        case "NoSuchBucket":
            return noSuchBucket(cause: cause)
        default:
            break
        }
        if r.status == 403 && code == nil {
            return VaultError(.storage,
                "S3 refused \(op) (HTTP 403) at \(client.endpointText): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that they may use bucket \(bucket).",
                cause: cause, location: loc)
        }
        if r.status == 403 {
            return VaultError(.storage,
                "S3 refused \(op)\(key.map { " of \($0)" } ?? "") (\(code ?? "HTTP 403")): the credentials lack the permission, or Object Lock (retention or legal hold) protects the object.",
                cause: cause, location: loc)
        }
        if r.status >= 500 {
            return VaultError(.storage,
                "S3 at \(client.endpointText) failed \(op) after \(client.retry.attempts) tries (HTTP \(r.status)\(code.map { " \($0)" } ?? "")): the server is in trouble; try again later.",
                cause: cause, location: loc)
        }
        return VaultError(.storage,
            "S3 refused \(op)\(key.map { " of \($0)" } ?? "") (HTTP \(r.status)\(code.map { " \($0)" } ?? "")).",
            cause: cause, location: loc)
    }

    private func noSuchBucket(cause: String) -> VaultError {
        VaultError(.storage,
            "bucket \(bucket) does not exist at \(client.endpointText): create it (with Object Lock enabled for immutability, e.g. `aws s3api create-bucket --bucket \(bucket) --object-lock-enabled-for-bucket`) or check the vault URL and --s3-endpoint.",
            cause: cause, location: where_(nil))
    }

    /// Turns a 404 without a body (HEAD) into NoSuchBucket when the bucket is missing.
    private func checkBucketAfter404() throws {
        lock.lock(); let known = bucketVerified; lock.unlock()
        if known { return }
        let r = try request("HEAD bucket", key: nil, method: "HEAD", path: bucketPath)
        if r.status == 404 { throw noSuchBucket(cause: "HTTP 404 on HEAD bucket") }
        if r.status >= 400 { throw failure(r, op: "HEAD bucket", key: nil) }
    }

    // MARK: - Storage

    public func put(_ key: String, _ data: Data, mode: PutMode) throws {
        try put(key, data, mode: mode, lock: nil)
    }

    /// `put` of an object written in pieces, held whole only up to `multipartThreshold`
    /// bytes (then one PUT, as `put`); a larger object goes up as a multipart upload whose
    /// `partSize` parts are sent as the pieces come, so at most ~`multipartThreshold` bytes
    /// are held whatever the object's size (the manifest of a 1 TiB point is ~400 MB).
    public func put(_ key: String, mode: PutMode, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try put(key, mode: mode, lock: nil, write: write)
    }

    private static func lockHeaders(_ retention: S3Retention?, legalHold: Bool) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        if let retention {
            headers.append(("x-amz-object-lock-mode", retention.mode.rawValue))
            headers.append(("x-amz-object-lock-retain-until-date", S3Storage.isoDate(retention.retainUntil)))
        }
        if legalHold { headers.append(("x-amz-object-lock-legal-hold", "ON")) }
        return headers
    }

    /// PUT with an optional Object Lock retention (and legal hold) set on the new version
    /// itself (`x-amz-object-lock-mode` / `x-amz-object-lock-retain-until-date`).
    @discardableResult
    public func put(_ key: String, _ data: Data, mode: PutMode, lock retention: S3Retention?,
                    legalHold: Bool = false) throws -> S3PutResult {
        if data.count > multipartThreshold {
            return try put(key, mode: mode, lock: retention, legalHold: legalHold) { emit in
                try data.withUnsafeBytes { try emit($0) }
            }
        }
        try StorageKey.validate(key)
        return try singlePut(key, data, mode: mode, headers: S3Storage.lockHeaders(retention, legalHold: legalHold))
    }

    /// The streaming `put` with an optional Object Lock retention and legal hold: the lock
    /// headers go on the single PUT or on the multipart upload's initiation (where S3 takes
    /// them for the object the upload completes). A writer that throws, or a failed part,
    /// aborts the upload: nothing is stored.
    @discardableResult
    public func put(_ key: String, mode: PutMode, lock retention: S3Retention?, legalHold: Bool = false,
                    write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> S3PutResult {
        try StorageKey.validate(key)
        let headers = S3Storage.lockHeaders(retention, legalHold: legalHold)
        var buffer = Data()
        buffer.reserveCapacity(multipartThreshold + 1)   // pages never written are not memory
        var upload: S3Upload?
        do {
            try write { piece in
                var at = 0
                while at < piece.count {
                    // Until the object is known to be over the threshold it may still go up in
                    // one PUT; after that, parts of partSize leave as soon as they are full.
                    let limit = upload == nil ? multipartThreshold + 1 : partSize
                    let n = min(max(limit - buffer.count, 0), piece.count - at)
                    buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece[at..<(at + n)]))
                    at += n
                    guard buffer.count >= limit else { continue }
                    if upload == nil { upload = try startMultipart(key, mode: mode, headers: headers) }
                    guard let u = upload else { continue }
                    var sent = 0
                    while buffer.count - sent >= partSize {
                        try u.upload(buffer[sent..<(sent + partSize)])
                        sent += partSize
                    }
                    // Reuse the buffer (Data's removeFirst keeps the storage and grows it).
                    if sent == buffer.count {
                        buffer.removeAll(keepingCapacity: true)
                    } else if sent > 0 {
                        var rest = Data(capacity: partSize)
                        rest.append(buffer[sent...])
                        buffer = rest
                    }
                }
            }
            if let upload {
                if !buffer.isEmpty || upload.partCount == 0 { try upload.upload(buffer) }
                return try upload.complete(createOnly: mode == .createOnly)
            }
        } catch {
            upload?.abort()
            throw error
        }
        return try singlePut(key, buffer, mode: mode, headers: headers)
    }

    private func singlePut(_ key: String, _ data: Data, mode: PutMode,
                           headers lockHeaders: [(name: String, value: String)]) throws -> S3PutResult {
        var headers = lockHeaders
        headers.append(("x-amz-checksum-sha256", SigV4Signer.base64SHA256(data)))
        if mode == .createOnly { headers.append(("If-None-Match", "*")) }
        let r = try request("PUT", key: key, method: "PUT", path: objectPath(key), headers: headers, body: data,
                            retryConflict: mode == .createOnly)
        if mode == .createOnly && r.status == 412 {
            throw VaultError(.objectExists, "object \(key) already exists in \(location)", cause: "HTTP 412 PreconditionFailed",
                             location: where_(key))
        }
        guard (200..<300).contains(r.status) else { throw failure(r, op: "PUT", key: key) }
        return S3PutResult(versionId: r.header("x-amz-version-id"), etag: r.header("etag"))
    }

    public func get(_ key: String) throws -> Data {
        try getObject(key, range: nil, versionId: nil)
    }

    /// Bytes `range` of the object (a ranged GET).
    public func get(_ key: String, range: Range<Int64>) throws -> Data {
        if range.isEmpty { return Data() }
        return try getObject(key, range: range, versionId: nil)
    }

    /// The object in ranged GETs of `readPieceSize` bytes, so that a large manifest (hundreds
    /// of MB for a 1 TiB database) is never held whole. Its size comes from a HEAD first; the
    /// objects read so are written once (`createOnly`), so the ranges are of one version.
    public func read(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try StorageKey.validate(key)
        let h = try request("HEAD", key: key, method: "HEAD", path: objectPath(key))
        if h.status == 404 {
            try checkBucketAfter404()
            throw VaultError(.objectMissing, "object \(key) is missing from \(location)", cause: "HTTP 404 on HEAD", location: where_(key))
        }
        guard (200..<300).contains(h.status) else { throw failure(h, op: "HEAD", key: key) }
        guard let size = h.header("Content-Length").flatMap({ Int64($0) }), size >= 0 else {
            throw VaultError(.io, "HEAD \(key) at \(location) gave no Content-Length", location: where_(key))
        }
        var at: Int64 = 0
        while at < size {
            let piece = try get(key, range: at..<min(size, at + Int64(readPieceSize)))
            guard !piece.isEmpty else {
                throw VaultError(.io, "object \(key) at \(location) ended at byte \(at) of the \(size) its HEAD gave", location: where_(key))
            }
            try piece.withUnsafeBytes { try body($0) }
            at += Int64(piece.count)
        }
    }

    /// A specific version of the object.
    public func get(_ key: String, versionId: String) throws -> Data {
        try getObject(key, range: nil, versionId: versionId)
    }

    private func getObject(_ key: String, range: Range<Int64>?, versionId: String?) throws -> Data {
        try StorageKey.validate(key)
        var headers: [(name: String, value: String)] = []
        if let range { headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")) }
        let query: [(name: String, value: String)] = versionId.map { [("versionId", $0)] } ?? []
        let r = try request("GET", key: key, method: "GET", path: objectPath(key), query: query, headers: headers)
        if r.status == 404 && r.errorCode != "NoSuchBucket" {
            throw VaultError(.objectMissing, "object \(key) is missing from \(location)",
                             cause: "HTTP 404 \(r.errorCode ?? "")", location: where_(key))
        }
        guard (200..<300).contains(r.status) else { throw failure(r, op: "GET", key: key) }
        return r.body
    }

    public func exists(_ key: String) throws -> Bool {
        try StorageKey.validate(key)
        let r = try request("HEAD", key: key, method: "HEAD", path: objectPath(key))
        if (200..<300).contains(r.status) { return true }
        if r.status == 404 {
            try checkBucketAfter404()
            return false
        }
        throw failure(r, op: "HEAD", key: key)
    }

    public func list(prefix listPrefix: String) throws -> [ObjectInfo] {
        let full = prefix.isEmpty ? listPrefix : prefix + "/" + listPrefix
        var out: [ObjectInfo] = []
        var token: String?
        repeat {
            var query: [(name: String, value: String)] = [("list-type", "2"), ("max-keys", String(listPageSize))]
            if !full.isEmpty { query.append(("prefix", full)) }
            if let token { query.append(("continuation-token", token)) }
            let r = try request("LIST", key: nil, method: "GET", path: bucketPath, query: query)
            guard r.status == 200, let doc = XMLElementNode.parse(r.body), doc.name == "ListBucketResult" else {
                if r.status == 200 { throw unparsable("ListObjectsV2") }
                throw failure(r, op: "LIST \(listPrefix)", key: nil)
            }
            for c in doc.all("Contents") {
                guard let k = c.value("Key"), let rel = relative(k) else { continue }
                out.append(ObjectInfo(key: rel, size: Int64(c.value("Size") ?? "0") ?? 0,
                                      modified: c.value("LastModified").flatMap(S3Storage.parseISODate)
                                          ?? Date(timeIntervalSince1970: 0)))
            }
            token = doc.value("IsTruncated") == "true" ? doc.value("NextContinuationToken") : nil
            if doc.value("IsTruncated") == "true" && token == nil { throw unparsable("ListObjectsV2 (truncated without a continuation token)") }
        } while token != nil
        return out.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    public func delete(_ key: String) throws {
        try StorageKey.validate(key)
        let r = try request("DELETE", key: key, method: "DELETE", path: objectPath(key))
        if (200..<300).contains(r.status) || (r.status == 404 && r.errorCode != "NoSuchBucket") { return }
        throw failure(r, op: "DELETE", key: key)
    }

    /// No-op: a PUT to S3 is durable when it returns.
    public func sync() throws {}

    private func unparsable(_ what: String) -> VaultError {
        VaultError(.storage, "S3 at \(client.endpointText) answered \(what) with a document pgvault cannot read.",
                   location: where_(nil))
    }

    // MARK: - Versions

    /// Permanently deletes one version (DELETE ?versionId). Object Lock refuses this while the
    /// version is retained or held (403 AccessDenied), except GOVERNANCE with `bypassGovernance`.
    public func deleteVersion(_ key: String, versionId: String, bypassGovernance: Bool = false) throws {
        try StorageKey.validate(key)
        var headers: [(name: String, value: String)] = []
        if bypassGovernance { headers.append(("x-amz-bypass-governance-retention", "true")) }
        let r = try request("DELETE version", key: key, method: "DELETE", path: objectPath(key),
                            query: [("versionId", versionId)], headers: headers)
        guard (200..<300).contains(r.status) else { throw failure(r, op: "DELETE version \(versionId)", key: key) }
    }

    /// Every version and delete marker under `prefix` (relative to the storage prefix).
    public func listVersions(prefix listPrefix: String) throws -> [S3ObjectVersion] {
        let full = prefix.isEmpty ? listPrefix : prefix + "/" + listPrefix
        var out: [S3ObjectVersion] = []
        var keyMarker: String?
        var versionMarker: String?
        while true {
            var query: [(name: String, value: String)] = [("versions", ""), ("max-keys", String(listPageSize))]
            if !full.isEmpty { query.append(("prefix", full)) }
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let versionMarker { query.append(("version-id-marker", versionMarker)) }
            let r = try request("LIST versions", key: nil, method: "GET", path: bucketPath, query: query)
            guard r.status == 200, let doc = XMLElementNode.parse(r.body) else {
                if r.status == 200 { throw unparsable("ListObjectVersions") }
                throw failure(r, op: "LIST versions", key: nil)
            }
            for c in doc.children where c.name == "Version" || c.name == "DeleteMarker" {
                guard let k = c.value("Key"), let rel = relative(k) else { continue }
                out.append(S3ObjectVersion(key: rel, versionId: c.value("VersionId") ?? "null",
                                           isLatest: c.value("IsLatest") == "true",
                                           isDeleteMarker: c.name == "DeleteMarker",
                                           size: Int64(c.value("Size") ?? "0") ?? 0,
                                           modified: c.value("LastModified").flatMap(S3Storage.parseISODate)))
            }
            guard doc.value("IsTruncated") == "true" else { break }
            keyMarker = doc.value("NextKeyMarker")
            versionMarker = doc.value("NextVersionIdMarker")
            if keyMarker == nil { throw unparsable("ListObjectVersions (truncated without a marker)") }
        }
        return out
    }

    // MARK: - Object Lock

    /// Sets the retention of the object's current version (or `versionId`): PUT ?retention.
    /// The server refuses to shorten a COMPLIANCE retention, and a GOVERNANCE one unless
    /// `bypassGovernance`.
    public func putObjectLock(key: String, mode: S3LockMode, retainUntil: Date, versionId: String? = nil,
                              bypassGovernance: Bool = false) throws {
        try StorageKey.validate(key)
        let body = Data(("<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>\(mode.rawValue)</Mode>"
            + "<RetainUntilDate>\(S3Storage.isoDate(retainUntil))</RetainUntilDate></Retention>").utf8)
        var query: [(name: String, value: String)] = [("retention", "")]
        if let versionId { query.append(("versionId", versionId)) }
        var headers: [(name: String, value: String)] = [("Content-MD5", SigV4Signer.base64MD5(body)),
                                                        ("Content-Type", "application/xml")]
        if bypassGovernance { headers.append(("x-amz-bypass-governance-retention", "true")) }
        let r = try request("PUT retention", key: key, method: "PUT", path: objectPath(key), query: query,
                            headers: headers, body: body)
        guard (200..<300).contains(r.status) else { throw failure(r, op: "PUT retention", key: key) }
    }

    /// Retention and legal hold of the current version (or `versionId`).
    public func getObjectLock(key: String, versionId: String? = nil) throws -> S3LockState {
        try StorageKey.validate(key)
        var query: [(name: String, value: String)] = [("retention", "")]
        if let versionId { query.append(("versionId", versionId)) }
        let r = try request("GET retention", key: key, method: "GET", path: objectPath(key), query: query)
        var retention: S3Retention?
        if r.status == 200, let doc = XMLElementNode.parse(r.body) {
            if let m = doc.value("Mode").flatMap(S3LockMode.init(rawValue:)),
               let d = doc.value("RetainUntilDate").flatMap(S3Storage.parseISODate) {
                retention = S3Retention(mode: m, retainUntil: d)
            }
        } else if r.status == 404 && r.errorCode != "NoSuchKey" && r.errorCode != "NoSuchBucket" && r.errorCode != "NoSuchVersion" {
            retention = nil   // NoSuchObjectLockConfiguration: no retention on this version
        } else if r.status == 404 && r.errorCode != "NoSuchBucket" {
            throw VaultError(.objectMissing, "object \(key) is missing from \(location)", cause: "HTTP 404 \(r.errorCode ?? "")",
                             location: where_(key))
        } else {
            throw failure(r, op: "GET retention", key: key)
        }
        var hq: [(name: String, value: String)] = [("legal-hold", "")]
        if let versionId { hq.append(("versionId", versionId)) }
        let h = try request("GET legal-hold", key: key, method: "GET", path: objectPath(key), query: hq)
        var hold = false
        if h.status == 200, let doc = XMLElementNode.parse(h.body) {
            hold = doc.value("Status") == "ON"
        } else if h.status >= 400 && h.status != 404 {
            throw failure(h, op: "GET legal-hold", key: key)
        }
        return S3LockState(retention: retention, legalHold: hold)
    }

    /// Turns S3 legal hold on or off for the current version (or `versionId`).
    public func setLegalHold(key: String, on: Bool, versionId: String? = nil) throws {
        try StorageKey.validate(key)
        let body = Data(("<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>\(on ? "ON" : "OFF")</Status></LegalHold>").utf8)
        var query: [(name: String, value: String)] = [("legal-hold", "")]
        if let versionId { query.append(("versionId", versionId)) }
        let r = try request("PUT legal-hold", key: key, method: "PUT", path: objectPath(key), query: query,
                            headers: [("Content-MD5", SigV4Signer.base64MD5(body)), ("Content-Type", "application/xml")],
                            body: body)
        guard (200..<300).contains(r.status) else { throw failure(r, op: "PUT legal-hold", key: key) }
    }

    /// Whether the bucket has Object Lock enabled (GET ?object-lock).
    public func bucketObjectLockEnabled() throws -> Bool {
        let r = try request("GET object-lock", key: nil, method: "GET", path: bucketPath, query: [("object-lock", "")])
        if r.status == 200, let doc = XMLElementNode.parse(r.body) {
            return doc.value("ObjectLockEnabled") == "Enabled"
        }
        if r.status == 404 && r.errorCode != "NoSuchBucket" { return false }   // ObjectLockConfigurationNotFoundError
        throw failure(r, op: "GET object-lock", key: nil)
    }

    /// Creates the bucket (with Object Lock, which also turns versioning on, when asked).
    /// Returns false when it already existed and belongs to these credentials.
    @discardableResult
    public func createBucket(objectLock: Bool) throws -> Bool {
        var headers: [(name: String, value: String)] = []
        if objectLock { headers.append(("x-amz-bucket-object-lock-enabled", "true")) }
        var body: Data?
        if region != "us-east-1" {
            body = Data(("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + "<LocationConstraint>\(XMLText.escape(region))</LocationConstraint></CreateBucketConfiguration>").utf8)
        }
        let r = try request("CREATE bucket", key: nil, method: "PUT", path: bucketPath, headers: headers, body: body)
        if (200..<300).contains(r.status) { return true }
        if r.errorCode == "BucketAlreadyOwnedByYou" { return false }
        if r.errorCode == "BucketAlreadyExists" {
            throw VaultError(.storage, "bucket \(bucket) already exists at \(client.endpointText) and belongs to someone else: choose another name.",
                             cause: "HTTP \(r.status) BucketAlreadyExists", location: where_(nil))
        }
        throw failure(r, op: "CREATE bucket", key: nil)
    }

    /// Whether the bucket exists (HEAD bucket).
    public func bucketExists() throws -> Bool {
        let r = try request("HEAD bucket", key: nil, method: "HEAD", path: bucketPath)
        if (200..<300).contains(r.status) { return true }
        if r.status == 404 { return false }
        throw failure(r, op: "HEAD bucket", key: nil)
    }

    // MARK: - Multipart

    /// Starts the multipart upload of a streamed `put` (S3 takes the lock headers here).
    /// `createOnly` is checked before (an existing key fails fast) and again when the upload
    /// completes (`If-None-Match`), which is what makes it atomic.
    private func startMultipart(_ key: String, mode: PutMode,
                                headers: [(name: String, value: String)]) throws -> S3Upload {
        if mode == .createOnly, try exists(key) {
            throw VaultError(.objectExists, "object \(key) already exists in \(location)", location: where_(key))
        }
        return try startUpload(key: key, headers: headers)
    }

    /// Aborts one multipart upload.
    public func abortUpload(key: String, uploadId: String) throws {
        let r = try request("ABORT multipart", key: key, method: "DELETE", path: objectPath(key),
                            query: [("uploadId", uploadId)])
        if (200..<300).contains(r.status) || r.status == 404 { return }
        throw failure(r, op: "ABORT multipart", key: key)
    }

    /// Unfinished multipart uploads under `prefix` (relative to the storage prefix).
    public func listIncompleteUploads(prefix listPrefix: String = "") throws -> [S3MultipartUpload] {
        let full = prefix.isEmpty ? listPrefix : prefix + "/" + listPrefix
        var out: [S3MultipartUpload] = []
        var keyMarker: String?
        var idMarker: String?
        while true {
            var query: [(name: String, value: String)] = [("uploads", ""), ("max-uploads", String(listPageSize))]
            if !full.isEmpty { query.append(("prefix", full)) }
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let idMarker { query.append(("upload-id-marker", idMarker)) }
            let r = try request("LIST multipart", key: nil, method: "GET", path: bucketPath, query: query)
            guard r.status == 200, let doc = XMLElementNode.parse(r.body) else {
                if r.status == 200 { throw unparsable("ListMultipartUploads") }
                throw failure(r, op: "LIST multipart", key: nil)
            }
            for u in doc.all("Upload") {
                guard let k = u.value("Key"), let id = u.value("UploadId"), let rel = relative(k) else { continue }
                out.append(S3MultipartUpload(key: rel, uploadId: id, initiated: u.value("Initiated").flatMap(S3Storage.parseISODate)))
            }
            guard doc.value("IsTruncated") == "true" else { break }
            keyMarker = doc.value("NextKeyMarker")
            idMarker = doc.value("NextUploadIdMarker")
            if keyMarker == nil { break }
        }
        return out
    }

    /// Aborts every unfinished multipart upload under `prefix` started before `olderThan`
    /// (all when nil). Returns how many were aborted. For garbage collection.
    @discardableResult
    public func abortIncompleteUploads(prefix: String = "", olderThan: Date? = nil) throws -> Int {
        var n = 0
        for u in try listIncompleteUploads(prefix: prefix) {
            if let olderThan, let started = u.initiated, started >= olderThan { continue }
            try abortUpload(key: u.key, uploadId: u.uploadId)
            n += 1
        }
        return n
    }

    // MARK: - Dates

    /// `yyyy-MM-ddTHH:mm:ssZ` (UTC), as Object Lock headers and documents carry it.
    public static func isoDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.up))
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    /// Parses `yyyy-MM-ddTHH:mm:ss[.fff]Z` (what S3 sends) without a formatter per call.
    static func parseISODate(_ s: String) -> Date? {
        let b = Array(s.utf8)
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58, b.last == 90 else {
            return nil
        }
        func num(_ from: Int, _ len: Int) -> Int? {
            var v = 0
            for i in from..<from + len {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
              let sec = num(17, 2) else { return nil }
        var frac = 0.0
        if b.count > 20 {
            guard b[19] == 46, b.count > 21 else { return nil }
            var scale = 0.1
            for i in 20..<(b.count - 1) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                frac += Double(b[i] - 48) * scale
                scale /= 10
            }
        } else if b[19] != 90 {
            return nil
        }
        var t = tm()
        t.tm_year = Int32(y - 1900); t.tm_mon = Int32(mo - 1); t.tm_mday = Int32(d)
        t.tm_hour = Int32(h); t.tm_min = Int32(mi); t.tm_sec = Int32(sec)
        return Date(timeIntervalSince1970: Double(timegm(&t)) + frac)
    }
}
