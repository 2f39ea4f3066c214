import Foundation
import VaultS3

/// The SeaweedFS server that scripts/test.sh starts (scripts/s3-server.sh). Tests that need it
/// *fail* (never skip) when its variables are missing.
enum S3TestServer {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    struct Config: Sendable {
        var endpoint: URL
        var credentials: S3Credentials
        var region: String
    }

    static func config() throws -> Config {
        let env = ProcessInfo.processInfo.environment
        guard let ep = env["PGVAULT_TEST_S3_ENDPOINT"], !ep.isEmpty, let url = URL(string: ep),
              let ak = env["PGVAULT_TEST_S3_ACCESS_KEY"], !ak.isEmpty,
              let sk = env["PGVAULT_TEST_S3_SECRET_KEY"], !sk.isEmpty else {
            throw S3TestServer.Missing(description: "PGVAULT_TEST_S3_ENDPOINT / PGVAULT_TEST_S3_ACCESS_KEY / PGVAULT_TEST_S3_SECRET_KEY are not set: S3 tests need the SeaweedFS server that scripts/test.sh starts (scripts/s3-server.sh). Run `make test` (or scripts/test.sh), not bare `swift test`.")
        }
        return Config(endpoint: url, credentials: S3Credentials(accessKeyId: ak, secretAccessKey: sk),
                      region: env["PGVAULT_TEST_S3_REGION"] ?? "us-east-1")
    }

    /// A unique, valid bucket name.
    static func uniqueBucket(_ label: String) -> String {
        "pgv-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// SeaweedFS allocates volumes per bucket (collection), so tests share two buckets per
    /// process (one plain, one with Object Lock) and each test takes its own prefix.
    private static let shared = SharedBuckets()

    /// A storage under a fresh prefix of the shared bucket (`objectLock`: of the lock bucket).
    static func storage(objectLock: Bool = false, label: String = "t", listPageSize: Int = 1000,
                        multipartThreshold: Int = 16 << 20, partSize: Int = 8 << 20,
                        retry: S3RetryPolicy = .standard) throws -> S3Storage {
        let c = try config()
        let bucket = try shared.bucket(objectLock: objectLock, config: c)
        return S3Storage(location: S3Location(bucket: bucket, prefix: "\(label)-\(UUID().uuidString.prefix(8).lowercased())"),
                         endpoint: c.endpoint, region: c.region, credentials: c.credentials, retry: retry,
                         listPageSize: listPageSize, multipartThreshold: multipartThreshold, partSize: partSize)
    }
}

private final class SharedBuckets: @unchecked Sendable {
    private let lock = NSLock()
    private var names: [Bool: String] = [:]

    func bucket(objectLock: Bool, config c: S3TestServer.Config) throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let n = names[objectLock] { return n }
        let name = S3TestServer.uniqueBucket(objectLock ? "lock" : "plain")
        let s = S3Storage(location: S3Location(bucket: name), endpoint: c.endpoint, region: c.region, credentials: c.credentials)
        try s.createBucket(objectLock: objectLock)
        names[objectLock] = name
        return name
    }
}
