import ArgumentParser
import Foundation
import VaultCore
import VaultFormat
import VaultS3
import VaultStorage

/// `--s3-endpoint` / `--s3-region`, shared by every command that takes a vault location.
struct S3Options: ParsableArguments {
    @Option(name: .customLong("s3-endpoint"),
            help: ArgumentHelp("S3 endpoint for s3:// locations, e.g. http://127.0.0.1:8333 (default: $PGVAULT_S3_ENDPOINT, $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS for the region).", valueName: "url"))
    var s3Endpoint: String?

    @Option(name: .customLong("s3-region"),
            help: ArgumentHelp("S3 region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1).", valueName: "region"))
    var s3Region: String?

    func region() -> String {
        let env = ProcessInfo.processInfo.environment
        for v in [s3Region, env["AWS_REGION"], env["AWS_DEFAULT_REGION"]] { if let v, !v.isEmpty { return v } }
        return "us-east-1"
    }

    func endpoint() -> String {
        let env = ProcessInfo.processInfo.environment
        for v in [s3Endpoint, env["PGVAULT_S3_ENDPOINT"], env["AWS_ENDPOINT_URL_S3"], env["AWS_ENDPOINT_URL"]] {
            if let v, !v.isEmpty { return v }
        }
        let r = region()
        return r == "us-east-1" ? "https://s3.amazonaws.com" : "https://s3.\(r).amazonaws.com"
    }
}

/// Turns a vault location (a directory or `s3://bucket/prefix`) into its storage driver.
/// S3 credentials come only from the environment or ~/.aws/credentials (S3Credentials.resolve).
enum StorageFactory {
    static func isS3(_ location: String) -> Bool { location.hasPrefix("s3://") }

    static func make(_ location: String, s3: S3Options) throws -> any Storage {
        guard isS3(location) else { return LocalStorage(root: location) }
        return try S3Storage(url: location, endpoint: s3.endpoint(), region: s3.region(),
                             credentials: S3Credentials.resolve())
    }

    /// Before reading or writing a vault on S3: the bucket must exist (a PUT into a missing
    /// bucket can silently create one without Object Lock) and the credentials must work.
    static func checkBucket(_ storage: any Storage) throws {
        guard let s3 = storage as? S3Storage else { return }
        if try s3.probeBucket() == .missing { throw s3.missingBucketError() }
    }

    /// Opens the vault at `location` (exit 10 when there is none, 1 for a missing bucket).
    static func open(_ location: String, s3: S3Options) throws -> Vault {
        let storage = try make(location, s3: s3)
        try checkBucket(storage)
        return try Vault.open(storage: storage)
    }

    /// Refuses a restore target inside (or around) the vault itself.
    static func checkOutside(vault: Vault, target: String) throws {
        guard isS3(target), let t = try? S3Location(url: target) else { return }
        let loc = vault.storage.location
        guard loc.hasPrefix("s3://"), let v = try? S3Location(url: String(loc.split(separator: " ").first ?? "")) else { return }
        guard v.bucket == t.bucket else { return }
        let a = v.prefix.isEmpty ? "" : v.prefix + "/", b = t.prefix.isEmpty ? "" : t.prefix + "/"
        if a.hasPrefix(b) || b.hasPrefix(a) {
            throw VaultError(.invalidArgument,
                "\(target) overlaps the vault at \(v): restore to a prefix outside the vault.", location: target)
        }
    }
}
