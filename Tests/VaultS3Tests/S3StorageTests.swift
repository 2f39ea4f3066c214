import Foundation
import Testing
import VaultCore
import VaultStorage
@testable import VaultS3

@Suite("S3 driver against SeaweedFS")
struct S3StorageTests {
    @Test func createOnlyRaceTwoWritersOneWins() throws {
        let s = try S3TestServer.storage(label: "race")
        for round in 0..<5 {
            let key = "audit/\(round).json"
            let wins = Tally()
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                do {
                    try s.put(key, Data("writer \(i)".utf8), mode: .createOnly)
                    wins.add("writer \(i)")
                } catch let e as VaultError where e.code == .objectExists {
                    wins.lost()
                } catch {
                    wins.failed("\(error)")
                }
            }
            #expect(wins.winners.count == 1, "round \(round): \(wins.winners) \(wins.failures)")
            #expect(wins.losers == 1)
            #expect(try String(decoding: s.get(key), as: UTF8.self) == wins.winners.first)
        }
    }

    @Test func listPaginatesWithContinuationTokens() throws {
        let s = try S3TestServer.storage(label: "page", listPageSize: 7)
        let keys = (0..<20).map { String(format: "chunks/%02x/obj%02d", $0 % 3, $0) }
        for (i, k) in keys.enumerated() { try s.put(k, Data(count: i), mode: .createOnly) }
        try s.put("other/x", Data(count: 1), mode: .createOnly)
        let listed = try s.list(prefix: "chunks/")
        #expect(listed.map(\.key) == keys.sorted())
        #expect(listed.map(\.size).reduce(0, +) == Int64((0..<20).reduce(0, +)))
        #expect(try s.list(prefix: "").count == 21)
        #expect(try s.list(prefix: "chunks/01/").count == 7)
    }

    @Test func rangedGetAndEmptyObjects() throws {
        let s = try S3TestServer.storage(label: "range")
        let payload = Data((0..<1000).map { UInt8(truncatingIfNeeded: $0) })
        try s.put("a", payload, mode: .createOnly)
        #expect(try s.get("a", range: 10..<20) == payload.subdata(in: 10..<20))
        #expect(try s.get("a", range: 990..<1000) == payload.subdata(in: 990..<1000))
        try s.put("empty", Data(), mode: .replace)
        #expect(try s.get("empty").isEmpty)
        #expect(try s.list(prefix: "empty").map { "\($0.key):\($0.size)" } == ["empty:0"])
    }

    @Test func multipartUploadRoundTripAndCreateOnly() throws {
        let s = try S3TestServer.storage(label: "mpu", multipartThreshold: 6 << 20, partSize: 5 << 20)
        var payload = Data(count: 12 << 20 + 12345)
        payload.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: raw.count, by: 4096) { raw[i] = UInt8(truncatingIfNeeded: i / 4096) }
        }
        try s.put("big/object", payload, mode: .createOnly)
        let back = try s.get("big/object")
        #expect(back.count == payload.count)
        #expect(back == payload)
        #expect { try s.put("big/object", payload, mode: .createOnly) } throws: { ($0 as? VaultError)?.code == .objectExists }
        #expect(try s.listIncompleteUploads().isEmpty)
    }

    /// A streamed `put` holds at most the threshold: past it the upload starts and parts leave
    /// while the writer is still writing; a writer that fails after parts were sent leaves
    /// neither an object nor an unfinished upload.
    @Test func aStreamedPutOverTheThresholdIsSentInPartsAsItIsWritten() throws {
        let s = try S3TestServer.storage(label: "spu", multipartThreshold: 6 << 20, partSize: 5 << 20)
        var payload = Data(count: 17 << 20 + 123)
        payload.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: raw.count, by: 511) { raw[i] = UInt8(truncatingIfNeeded: i / 511 &* 7) }
        }
        var uploadsDuring: [Int] = []
        try s.put("big/streamed", mode: .createOnly, lock: nil) { emit in
            var at = 0
            for size in [1, 3 << 20, 7 << 20, 100_000, payload.count] where at < payload.count {
                let end = min(payload.count, at + size)
                try payload[at..<end].withUnsafeBytes { try emit($0) }
                at = end
                uploadsDuring.append(try s.listIncompleteUploads().count)
            }
        }
        #expect(uploadsDuring == [0, 0, 1, 1, 1], "the upload starts once 6 MiB are passed, not at the end")
        #expect(try s.get("big/streamed") == payload)
        #expect(try s.list(prefix: "big/").map(\.size) == [Int64(payload.count)])
        #expect(try s.listIncompleteUploads().isEmpty)
        #expect {
            try s.put("big/streamed", mode: .createOnly) { emit in try payload.withUnsafeBytes { try emit($0) } }
        } throws: { ($0 as? VaultError)?.code == .objectExists }
        #expect(try s.listIncompleteUploads().isEmpty)

        struct WriterFailed: Error {}
        #expect(throws: WriterFailed.self) {
            try s.put("big/half", mode: .createOnly) { emit in
                try payload.prefix(12 << 20).withUnsafeBytes { try emit($0) }
                #expect(try s.listIncompleteUploads().count == 1)
                throw WriterFailed()
            }
        }
        #expect(try !s.exists("big/half"))
        #expect(try s.listIncompleteUploads().isEmpty, "the failed writer's upload is aborted")
        // Under the threshold it is one PUT, whatever the pieces.
        try s.put("small", mode: .createOnly) { emit in
            for _ in 0..<5 { try payload.prefix(1 << 20).withUnsafeBytes { try emit($0) } }
        }
        #expect(try s.list(prefix: "small").map(\.size) == [5 << 20])
    }

    @Test func abortIncompleteUploadsRemovesLeftovers() throws {
        let s = try S3TestServer.storage(label: "abort")
        let path = "/" + s.bucket + "/" + s.objectKey("left/over")
        let r = try s.client.send(method: "POST", path: path, query: [("uploads", "")])
        #expect(r.status == 200)
        let listed = try s.listIncompleteUploads()
        #expect(listed.map(\.key) == ["left/over"])
        #expect(try s.abortIncompleteUploads(olderThan: Date().addingTimeInterval(-3600)) == 0)
        #expect(try s.abortIncompleteUploads() == 1)
        #expect(try s.listIncompleteUploads().isEmpty)
    }

    @Test func serverVerifiesTheChecksumHeader() throws {
        let s = try S3TestServer.storage(label: "sum")
        let path = "/" + s.bucket + "/" + s.objectKey("bad")
        let r = try s.client.send(method: "PUT", path: path,
                                  headers: [("x-amz-checksum-sha256", SigV4Signer.base64SHA256(Data("other".utf8)))],
                                  body: Data("data".utf8))
        print("OBSERVED wrong x-amz-checksum-sha256: HTTP \(r.status) \(r.errorCode ?? "-"): \(r.errorMessage ?? "-")")
        #expect(r.status == 400)
        #expect(try !s.exists("bad"))
    }

    @Test func wrongSecretIsAClearCredentialsError() throws {
        let c = try S3TestServer.config()
        let good = try S3TestServer.storage(label: "cred")
        let secret = "WRONG" + String(c.credentials.secretAccessKey.dropFirst(5))
        let s = S3Storage(location: S3Location(bucket: good.bucket, prefix: good.prefix), endpoint: c.endpoint,
                          region: c.region, credentials: S3Credentials(accessKeyId: c.credentials.accessKeyId, secretAccessKey: secret))
        for op in ["put", "get", "list", "exists"] {
            do {
                switch op {
                case "put": try s.put("x", Data("x".utf8), mode: .createOnly)
                case "get": _ = try s.get("x")
                case "list": _ = try s.list(prefix: "")
                default: _ = try s.exists("x")
                }
                Issue.record("\(op) with a wrong secret succeeded")
            } catch let e as VaultError {
                print("OBSERVED wrong secret, \(op): \(e)")
                #expect(e.code == .storage)
                #expect(e.message.contains("AWS_ACCESS_KEY_ID") && e.message.contains("AWS_SECRET_ACCESS_KEY"))
                #expect(!e.description.contains(secret))
                #expect(!e.description.contains(c.credentials.secretAccessKey))
            }
        }
    }

    @Test func missingBucketIsAClearError() throws {
        let c = try S3TestServer.config()
        let name = S3TestServer.uniqueBucket("missing")
        let s = S3Storage(location: S3Location(bucket: name, prefix: "v"), endpoint: c.endpoint, region: c.region,
                          credentials: c.credentials)
        #expect(try !s.bucketExists())
        for op in ["get", "list", "exists", "delete"] {
            do {
                switch op {
                case "get": _ = try s.get("x")
                case "list": _ = try s.list(prefix: "")
                case "delete": try s.delete("x")
                default: _ = try s.exists("x")
                }
                Issue.record("\(op) on a missing bucket succeeded")
            } catch let e as VaultError {
                print("OBSERVED missing bucket, \(op): \(e)")
                #expect(e.code == .storage)
                #expect(e.message.contains("bucket \(name) does not exist"))
                #expect(e.message.contains("Object Lock"))
            }
        }
        // SeaweedFS (with an Admin identity) creates a missing bucket on PUT, without Object
        // Lock; AWS answers NoSuchBucket. The vault therefore checks the bucket (and its
        // Object Lock flag) when it opens, before writing anything.
        do {
            try s.put("x", Data("x".utf8), mode: .createOnly)
            print("OBSERVED missing bucket, put: SeaweedFS created bucket \(name) implicitly; Object Lock: \(try s.bucketObjectLockEnabled())")
        } catch {
            print("OBSERVED missing bucket, put: \(error)")
        }
    }

    @Test func unreachableEndpointFailsClearlyAfterRetries() throws {
        let started = Date()
        let s = S3Storage(location: S3Location(bucket: "nowhere", prefix: "v"), endpoint: URL(string: "http://127.0.0.1:1")!,
                          credentials: S3Credentials(accessKeyId: "a", secretAccessKey: "b"),
                          retry: S3RetryPolicy(attempts: 3, baseDelay: 0.2), timeout: 5)
        #expect { _ = try s.get("x") } throws: { e in
            guard let e = e as? VaultError else { return false }
            print("OBSERVED unreachable: \(e)")
            return e.code == .storage && e.message.contains("cannot reach S3 endpoint http://127.0.0.1:1")
                && e.message.contains("3 tries")
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.3 && elapsed < 5, "took \(elapsed) s")
    }

    @Test func bucketObjectLockFlag() throws {
        let plain = try S3TestServer.storage(label: "flag")
        let locked = try S3TestServer.storage(objectLock: true, label: "flag")
        #expect(try !plain.bucketObjectLockEnabled())
        #expect(try locked.bucketObjectLockEnabled())
        #expect(try plain.createBucket(objectLock: false) == false)   // already ours
    }
}

@Suite("S3 Object Lock against SeaweedFS")
struct S3ObjectLockTests {
    static let day: TimeInterval = 86_400

    @Test func complianceRetentionIsEnforcedByTheServer() throws {
        let s = try S3TestServer.storage(objectLock: true, label: "comp")
        let until = Date().addingTimeInterval(Self.day)
        let put = try s.put("chunks/ab/abc", Data("protected".utf8), mode: .createOnly,
                            lock: S3Retention(mode: .compliance, retainUntil: until))
        let version = try #require(put.versionId)
        let state = try s.getObjectLock(key: "chunks/ab/abc")
        #expect(state.retention?.mode == .compliance)
        #expect(abs((state.retention?.retainUntil.timeIntervalSince(until)) ?? 999) < 2)
        #expect(state.legalHold == false)

        // (a) deleting the version is refused
        #expect { try s.deleteVersion("chunks/ab/abc", versionId: version) } throws: { e in
            print("OBSERVED COMPLIANCE delete version: \(e)")
            return (e as? VaultError)?.code == .storage
        }
        // ... also with the governance bypass
        #expect { try s.deleteVersion("chunks/ab/abc", versionId: version, bypassGovernance: true) } throws: { e in
            print("OBSERVED COMPLIANCE delete version with bypass: \(e)")
            return (e as? VaultError)?.code == .storage
        }
        // (b) shortening is refused
        #expect { try s.putObjectLock(key: "chunks/ab/abc", mode: .compliance, retainUntil: until.addingTimeInterval(-3600)) } throws: { e in
            print("OBSERVED COMPLIANCE shorten: \(e)")
            return (e as? VaultError)?.code == .storage
        }
        // ... and so is downgrading to GOVERNANCE
        #expect { try s.putObjectLock(key: "chunks/ab/abc", mode: .governance, retainUntil: until.addingTimeInterval(Self.day)) } throws: { e in
            print("OBSERVED COMPLIANCE -> GOVERNANCE: \(e)")
            return (e as? VaultError)?.code == .storage
        }
        // (c) extending works
        let longer = until.addingTimeInterval(Self.day)
        try s.putObjectLock(key: "chunks/ab/abc", mode: .compliance, retainUntil: longer)
        let after = try s.getObjectLock(key: "chunks/ab/abc")
        #expect(abs((after.retention?.retainUntil.timeIntervalSince(longer)) ?? 999) < 2)
        #expect(try s.get("chunks/ab/abc", versionId: version) == Data("protected".utf8))

        // A plain DELETE (no versionId) succeeds: it only adds a delete marker.
        try s.delete("chunks/ab/abc")
        #expect(try !s.exists("chunks/ab/abc"))
        #expect { _ = try s.get("chunks/ab/abc") } throws: { ($0 as? VaultError)?.code == .objectMissing }
        #expect(try s.get("chunks/ab/abc", versionId: version) == Data("protected".utf8))
        let versions = try s.listVersions(prefix: "chunks/")
        print("OBSERVED versions after plain DELETE: \(versions)")
        #expect(versions.contains { $0.versionId == version && !$0.isDeleteMarker && !$0.isLatest })
        #expect(versions.contains { $0.isDeleteMarker && $0.isLatest })
        // The delete marker itself can be removed, which "undeletes" the object.
        if let marker = versions.first(where: { $0.isDeleteMarker }) {
            try s.deleteVersion("chunks/ab/abc", versionId: marker.versionId)
            #expect(try s.get("chunks/ab/abc") == Data("protected".utf8))
        }
    }

    @Test func governanceCanBeBypassedComplianceCannot() throws {
        let s = try S3TestServer.storage(objectLock: true, label: "gov")
        let until = Date().addingTimeInterval(Self.day)
        let put = try s.put("points/p.json", Data("gov".utf8), mode: .createOnly,
                            lock: S3Retention(mode: .governance, retainUntil: until))
        let version = try #require(put.versionId)
        #expect(try s.getObjectLock(key: "points/p.json").retention?.mode == .governance)
        #expect { try s.deleteVersion("points/p.json", versionId: version) } throws: { e in
            print("OBSERVED GOVERNANCE delete version without bypass: \(e)")
            return (e as? VaultError)?.code == .storage
        }
        #expect { try s.putObjectLock(key: "points/p.json", mode: .governance, retainUntil: until.addingTimeInterval(-3600)) } throws: { e in
            print("OBSERVED GOVERNANCE shorten without bypass: \(e)")
            return (e as? VaultError)?.code == .storage
        }
        try s.putObjectLock(key: "points/p.json", mode: .governance, retainUntil: until.addingTimeInterval(-3600), bypassGovernance: true)
        try s.deleteVersion("points/p.json", versionId: version, bypassGovernance: true)
        #expect(try !s.exists("points/p.json"))
        #expect(try s.listVersions(prefix: "points/").isEmpty)
    }

    @Test func legalHoldBlocksVersionDeletion() throws {
        let s = try S3TestServer.storage(objectLock: true, label: "hold")
        let put = try s.put("state/p.json", Data("held".utf8), mode: .replace, lock: nil)
        let version = try #require(put.versionId)
        try s.setLegalHold(key: "state/p.json", on: true)
        #expect(try s.getObjectLock(key: "state/p.json").legalHold)
        #expect { try s.deleteVersion("state/p.json", versionId: version, bypassGovernance: true) } throws: { e in
            print("OBSERVED legal hold delete version: \(e)")
            return (e as? VaultError)?.code == .storage
        }
        try s.setLegalHold(key: "state/p.json", on: false)
        #expect(try !s.getObjectLock(key: "state/p.json").legalHold)
        try s.deleteVersion("state/p.json", versionId: version)
        #expect(try !s.exists("state/p.json"))
    }

    @Test func multipartUploadCarriesTheLock() throws {
        let s = try S3TestServer.storage(objectLock: true, label: "mpulock", multipartThreshold: 6 << 20, partSize: 5 << 20)
        let until = Date().addingTimeInterval(Self.day)
        let put = try s.put("big", Data(count: 11 << 20), mode: .createOnly, lock: S3Retention(mode: .compliance, retainUntil: until))
        let version = try #require(put.versionId)
        #expect(try s.getObjectLock(key: "big").retention?.mode == .compliance)
        #expect(throws: VaultError.self) { try s.deleteVersion("big", versionId: version) }

        // Streamed: the lock and the legal hold go on the upload's initiation.
        let streamed = try s.put("bigs", mode: .createOnly, lock: S3Retention(mode: .governance, retainUntil: until),
                                 legalHold: true) { emit in
            for _ in 0..<11 { try Data(count: 1 << 20).withUnsafeBytes { try emit($0) } }
        }
        let lock = try s.getObjectLock(key: "bigs")
        #expect(lock.retention?.mode == .governance && lock.legalHold)
        #expect(abs((lock.retention?.retainUntil ?? .distantPast).timeIntervalSince(until)) < 2)
        #expect(try s.list(prefix: "bigs").map(\.size) == [11 << 20])
        let streamedVersion = try #require(streamed.versionId)
        #expect(throws: VaultError.self) { try s.deleteVersion("bigs", versionId: streamedVersion, bypassGovernance: true) }
        try s.setLegalHold(key: "bigs", on: false)
    }
}

final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var winners: [String] = []
    private(set) var losers = 0
    private(set) var failures: [String] = []
    func add(_ w: String) { lock.lock(); winners.append(w); lock.unlock() }
    func lost() { lock.lock(); losers += 1; lock.unlock() }
    func failed(_ f: String) { lock.lock(); failures.append(f); lock.unlock() }
}
