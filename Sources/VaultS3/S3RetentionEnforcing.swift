public import Foundation
public import VaultCore
public import VaultStorage

/// S3 Object Lock behind the storage-neutral `RetentionEnforcing` capability, plus the bucket
/// probes and the streaming multipart upload that the commands and the S3 restore sink use.
extension S3Storage: RetentionEnforcing {
    private func fullPath(_ key: String) -> String { "/" + bucket + "/" + objectKey(key) }

    /// One request; a transport failure (no answer) becomes a clear `.storage` error.
    func send(_ op: String, key: String?, method: String, path: String,
              query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
              body: Data? = nil, retryConflict: Bool = false) throws -> S3Response {
        do {
            return try client.send(method: method, path: path, query: query, headers: headers, body: body,
                                   retryConflict: retryConflict)
        } catch {
            throw VaultError(.storage,
                "cannot reach S3 endpoint \(client.endpointText) (\(op) failed after \(client.retry.attempts) tries): check --s3-endpoint and that the server is up and reachable.",
                cause: error.description, location: S3Location(bucket: bucket, prefix: key.map(objectKey) ?? prefix).description)
        }
    }

    public func objectLockEnabled() throws -> Bool { try bucketObjectLockEnabled() }

    private static func s3(_ retention: ObjectRetention?) -> S3Retention? {
        retention.map { S3Retention(mode: S3LockMode(rawValue: $0.mode.rawValue) ?? .governance, retainUntil: $0.until) }
    }

    public func putLocked(_ key: String, _ data: Data, mode: PutMode, retention: ObjectRetention?, legalHold: Bool) throws {
        try put(key, data, mode: mode, lock: S3Storage.s3(retention), legalHold: legalHold)
    }

    public func putLocked(_ key: String, mode: PutMode, retention: ObjectRetention?, legalHold: Bool,
                          write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try put(key, mode: mode, lock: S3Storage.s3(retention), legalHold: legalHold, write: write)
    }

    public func retention(key: String) throws -> ObjectRetention? {
        try StorageKey.validate(key)
        let r = try send("GET retention", key: key, method: "GET", path: fullPath(key), query: [("retention", "")])
        if r.status == 200, let doc = XMLElementNode.parse(r.body) {
            guard let m = doc.value("Mode").flatMap(ObjectLockMode.init(rawValue:)),
                  let d = doc.value("RetainUntilDate").flatMap(S3Storage.parseISODate) else { return nil }
            return ObjectRetention(mode: m, until: d)
        }
        if r.status == 404 && (r.errorCode == "NoSuchKey" || r.errorCode == "NoSuchVersion") {
            throw VaultError(.objectMissing, "object \(key) is missing from \(location)", cause: "HTTP 404 \(r.errorCode ?? "")",
                             location: key)
        }
        if r.status == 404 && r.errorCode != "NoSuchBucket" { return nil }   // no retention on this version
        throw failure(r, op: "GET retention", key: key)
    }

    public func setRetention(key: String, _ retention: ObjectRetention) throws {
        try putObjectLock(key: key, mode: S3LockMode(rawValue: retention.mode.rawValue) ?? .governance,
                          retainUntil: retention.until)
    }

    public func applyLegalHold(key: String, on: Bool) throws {
        try setLegalHold(key: key, on: on)
    }

    public func removeNoncurrentVersions(prefix listPrefix: String, olderThan: Date) throws -> VersionSweep {
        var sweep = VersionSweep()
        var byKey: [String: [S3ObjectVersion]] = [:]
        var order: [String] = []
        for v in try listVersions(prefix: listPrefix) {
            if byKey[v.key] == nil { order.append(v.key) }
            byKey[v.key, default: []].append(v)
        }
        for key in order {
            let versions = byKey[key] ?? []
            let latestIsMarker = versions.contains { $0.isLatest && $0.isDeleteMarker }
            var remaining = 0
            for v in versions where !v.isDeleteMarker {
                if v.isLatest { remaining += 1; continue }
                if let m = v.modified, m >= olderThan { remaining += 1; continue }
                if try removeVersion(key, v.versionId) { sweep.removed += 1 } else { sweep.locked += 1; remaining += 1 }
            }
            // Delete markers: a noncurrent one hides nothing; the current one only once no
            // version is left behind it (removing it earlier would bring the object back).
            for v in versions where v.isDeleteMarker && (!v.isLatest || (latestIsMarker && remaining == 0)) {
                if try removeVersion(key, v.versionId) { sweep.removed += 1 }
            }
        }
        return sweep
    }

    public func hiddenObjects(prefix listPrefix: String) throws -> [HiddenObject] {
        // ListObjectVersions lists each key's versions and delete markers newest first.
        var out: [HiddenObject] = []
        var key: String?
        var markers: [String] = []
        var decided = false
        for v in try listVersions(prefix: listPrefix) {
            if v.key != key { key = v.key; markers = []; decided = false }
            if decided { continue }
            if v.isDeleteMarker {
                if markers.isEmpty && !v.isLatest { decided = true; continue }   // a live object: not hidden
                markers.append(v.versionId)
            } else {
                decided = true
                if !markers.isEmpty { out.append(HiddenObject(key: v.key, version: v.versionId, markers: markers)) }
            }
        }
        return out
    }

    public func unhide(_ object: HiddenObject) throws {
        for m in object.markers { try deleteVersion(object.key, versionId: m) }
    }

    /// DELETE ?versionId; false when the server refuses because the version is protected.
    private func removeVersion(_ key: String, _ versionId: String) throws -> Bool {
        let r = try send("DELETE version", key: key, method: "DELETE", path: fullPath(key), query: [("versionId", versionId)])
        if (200..<300).contains(r.status) || (r.status == 404 && r.errorCode != "NoSuchBucket") { return true }
        if r.status == 403 && r.errorCode != "SignatureDoesNotMatch" && r.errorCode != "InvalidAccessKeyId" { return false }
        throw failure(r, op: "DELETE version \(versionId)", key: key)
    }

    public func abortUploads(prefix: String, olderThan: Date) throws -> Int {
        try abortIncompleteUploads(prefix: prefix, olderThan: olderThan)
    }

    // MARK: - Bucket probes

    /// What a probe of the bucket found.
    public enum BucketState: Sendable, Equatable { case present, missing }

    /// Checks that the bucket exists and that the credentials work, with a request whose error
    /// answer has a body (a HEAD has none), so a wrong key reads as such. `.storage` errors for
    /// credentials, an unreachable endpoint or anything else.
    public func probeBucket() throws -> BucketState {
        let r = try send("LIST bucket", key: nil, method: "GET", path: "/" + bucket,
                         query: [("list-type", "2"), ("max-keys", "1")])
        if r.status == 200 { return .present }
        if r.status == 404 && (r.errorCode == nil || r.errorCode == "NoSuchBucket") { return .missing }
        throw failure(r, op: "LIST bucket", key: nil)
    }

    /// The error for a missing bucket, saying how to create one with Object Lock.
    public func missingBucketError() -> VaultError {
        VaultError(.storage,
            "bucket \(bucket) does not exist at \(client.endpointText): create it with Object Lock enabled (e.g. `aws s3api create-bucket --bucket \(bucket) --object-lock-enabled-for-bucket`, or `pgvault init \(S3Location(bucket: bucket, prefix: prefix)) --create-bucket`), or check the vault URL and --s3-endpoint.",
            cause: "NoSuchBucket", location: S3Location(bucket: bucket, prefix: prefix).description + " at " + client.endpointText)
    }

    /// Whether nothing is stored under the storage prefix (one ListObjectsV2 of one key).
    public func prefixIsEmpty() throws -> Bool {
        let p = prefix.isEmpty ? "" : prefix + "/"
        var query: [(name: String, value: String)] = [("list-type", "2"), ("max-keys", "1")]
        if !p.isEmpty { query.append(("prefix", p)) }
        let r = try send("LIST", key: nil, method: "GET", path: "/" + bucket, query: query)
        guard r.status == 200, let doc = XMLElementNode.parse(r.body) else { throw failure(r, op: "LIST", key: nil) }
        return doc.all("Contents").isEmpty
    }

    // MARK: - Streaming multipart upload

    /// Starts a multipart upload of `key` (the caller uploads parts and completes or aborts);
    /// `headers`: the Object Lock headers of the object the upload makes.
    public func startUpload(key: String, headers: [(name: String, value: String)] = []) throws -> S3Upload {
        try StorageKey.validate(key)
        let r = try send("INITIATE multipart", key: key, method: "POST", path: fullPath(key), query: [("uploads", "")],
                         headers: headers)
        guard r.status == 200, let doc = XMLElementNode.parse(r.body), let id = doc.value("UploadId") else {
            throw failure(r, op: "INITIATE multipart", key: key)
        }
        return S3Upload(storage: self, key: key, uploadId: id)
    }

    func uploadPart(_ upload: S3Upload, number: Int, _ data: Data) throws -> String {
        let r = try send("UPLOAD part \(number)", key: upload.key, method: "PUT", path: fullPath(upload.key),
                         query: [("partNumber", String(number)), ("uploadId", upload.uploadId)],
                         headers: [("Content-MD5", SigV4Signer.base64MD5(data))], body: data)
        guard (200..<300).contains(r.status), let etag = r.header("etag") else {
            throw failure(r, op: "UPLOAD part \(number)", key: upload.key)
        }
        return etag
    }

    func completeUpload(_ upload: S3Upload, parts: [(Int, String)], createOnly: Bool) throws -> S3PutResult {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (n, etag) in parts { xml += "<Part><PartNumber>\(n)</PartNumber><ETag>\(XMLText.escape(etag))</ETag></Part>" }
        xml += "</CompleteMultipartUpload>"
        var headers: [(name: String, value: String)] = [("Content-Type", "application/xml")]
        if createOnly { headers.append(("If-None-Match", "*")) }
        let r = try send("COMPLETE multipart", key: upload.key, method: "POST", path: fullPath(upload.key),
                         query: [("uploadId", upload.uploadId)], headers: headers, body: Data(xml.utf8),
                         retryConflict: createOnly)
        if createOnly && r.status == 412 {
            throw VaultError(.objectExists, "object \(upload.key) already exists in \(location)", cause: "HTTP 412 PreconditionFailed",
                             location: upload.key)
        }
        // CompleteMultipartUpload can answer 200 with an <Error> document.
        guard (200..<300).contains(r.status), r.errorDocument == nil else {
            throw failure(r, op: "COMPLETE multipart", key: upload.key)
        }
        return S3PutResult(versionId: r.header("x-amz-version-id"), etag: r.header("etag"))
    }
}

/// One multipart upload in progress: parts are sent as they come (the caller bounds memory),
/// nothing is visible under the key until `complete`.
public final class S3Upload: @unchecked Sendable {
    public let key: String
    public let uploadId: String
    let storage: S3Storage
    private var parts: [(Int, String)] = []

    init(storage: S3Storage, key: String, uploadId: String) {
        self.storage = storage; self.key = key; self.uploadId = uploadId
    }

    /// Uploads the next part (at least 5 MiB except the last).
    public func upload(_ data: Data) throws {
        let n = parts.count + 1
        parts.append((n, try storage.uploadPart(self, number: n, data)))
    }

    /// Parts uploaded so far.
    public var partCount: Int { parts.count }

    /// Makes the object visible; `createOnly`: fails with `.objectExists` when the key is taken.
    @discardableResult
    public func complete(createOnly: Bool) throws -> S3PutResult {
        try storage.completeUpload(self, parts: parts, createOnly: createOnly)
    }

    public func abort() { try? storage.abortUpload(key: key, uploadId: uploadId) }
}
