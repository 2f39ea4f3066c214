import VaultCore
import VaultS3

/// Where a restore-as-files writes: a directory or one tar archive.
///
/// The contract every sink keeps:
/// - it never overwrites anything: an existing (non-empty) target or an existing file name
///   is a `.targetExists` error;
/// - data is streamed: a sink holds at most the piece it is given, never a whole file;
/// - a file gets its final name only once all its bytes are written and synced, so nothing
///   that looks complete is ever left behind by a failure.
///
/// Calls follow the grammar `(beginFile write* finishFile)* finish`, with `abort()` allowed
/// at any point. A call out of order, or a file given more or fewer bytes than the `size`
/// announced in `beginFile`, is an `.internalError`; the sink aborts itself before throwing it.
/// After any thrown error the caller must still call `abort()` (it is idempotent).
///
/// A sink is used from one task at a time; it is not `Sendable`.
public protocol RestoreSink: AnyObject {
    /// Starts a file of exactly `size` bytes (tar needs the size up front).
    /// `name` is a plain file name: not empty, not "." or "..", no '/'.
    func beginFile(name: String, size: Int64) throws

    /// Appends `bytes` (a piece of any length, typically up to 8 MiB) to the current file.
    func write(_ bytes: UnsafeRawBufferPointer) throws

    /// The current file's bytes are complete (the caller has verified its SHA-256):
    /// make it final (directory: fsync and rename into place without overwriting).
    func finishFile() throws

    /// Everything is written: make the whole output final
    /// (directory: sync the directory; tar: close the archive, fsync, rename into place).
    func finish() throws

    /// Something failed: remove every partial output and leave nothing that looks complete.
    /// A directory sink deletes the file being written; files already finished stay (each is
    /// complete and verified, and the restore's SHA256SUMS/RESTORE.md, written last, are
    /// missing, which marks the directory as an incomplete restore). A tar sink deletes the
    /// whole partial archive. Never throws; calling it twice, or after `finish()`, does nothing.
    func abort()

    /// Human description of where the output goes (an absolute path).
    var destination: String { get }
}

/// Where a restore goes, as chosen on the command line.
public enum RestoreTarget: Sendable, Equatable {
    /// A directory that must not exist or must be empty.
    case directory(String)
    /// A tar archive that must not exist; `.tar`, `.tar.zst`/`.tzst` (zstd) or
    /// `.tar.gz`/`.tgz` (gzip), chosen by the file name's extension.
    case tar(String)
    /// An empty prefix of an existing bucket, `s3://bucket/prefix` (S3Sink); credentials from
    /// the environment or ~/.aws/credentials.
    case s3(url: String, endpoint: String, region: String)

    /// Opens the sink for this target, checking up front that nothing would be overwritten.
    public func makeSink() throws -> any RestoreSink {
        switch self {
        case .directory(let path): return try DirectorySink(path: path)
        case .tar(let path): return try TarSink(path: path)
        case .s3(let url, let endpoint, let region):
            return try S3Sink(storage: S3Storage(url: url, endpoint: endpoint, region: region,
                                                 credentials: S3Credentials.resolve()))
        }
    }
}

/// Errors for calls out of order or byte counts that do not match.
enum SinkMisuse {
    static func error(_ what: String, location: String) -> VaultError {
        VaultError(.internalError, "Restore writer misused: \(what). This is a bug in pgvault; please report it. The partial output was removed.",
                   location: location)
    }
}
