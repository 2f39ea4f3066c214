import Foundation
import VaultS3

/// The `.s3` contract driver: a fresh prefix in one bucket per test process on the SeaweedFS
/// server that scripts/test.sh starts (scripts/s3-server.sh). Fails, never skips, without it.
enum S3ContractDriver {
    struct Missing: Error, CustomStringConvertible { let description: String }

    private static let bucket = BucketOnce()

    static func make() throws -> S3Storage {
        let env = ProcessInfo.processInfo.environment
        guard let ep = env["PGVAULT_TEST_S3_ENDPOINT"], let url = URL(string: ep),
              let ak = env["PGVAULT_TEST_S3_ACCESS_KEY"], !ak.isEmpty,
              let sk = env["PGVAULT_TEST_S3_SECRET_KEY"], !sk.isEmpty else {
            throw Missing(description: "PGVAULT_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY are not set: the S3 contract tests need the SeaweedFS server that scripts/test.sh starts. Run `make test` (or scripts/test.sh), not bare `swift test`.")
        }
        let region = env["PGVAULT_TEST_S3_REGION"] ?? "us-east-1"
        let creds = S3Credentials(accessKeyId: ak, secretAccessKey: sk)
        let name = try bucket.get {
            let n = "pgv-contract-\(UUID().uuidString.prefix(8).lowercased())"
            try S3Storage(location: S3Location(bucket: n), endpoint: url, region: region, credentials: creds)
                .createBucket(objectLock: false)
            return n
        }
        // Ranged reads of 1 MiB: the contract's 2.5 MiB object is read in three.
        return S3Storage(location: S3Location(bucket: name, prefix: "c-\(UUID().uuidString.prefix(8).lowercased())"),
                         endpoint: url, region: region, credentials: creds, readPieceSize: 1 << 20)
    }
}

private final class BucketOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var name: String?
    func get(_ create: () throws -> String) throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let name { return name }
        let n = try create()
        name = n
        return n
    }
}
