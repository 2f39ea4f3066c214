public import Foundation

/// Stable process exit codes, documented in README.md ("Exit codes").
public enum ExitCode: Int32, Sendable, Codable {
    case ok = 0
    case failed = 1
    case usage = 2
    case partial = 3
    /// `verify` found damage: a chunk or manifest missing or not matching its hash.
    case damaged = 4
    case notAVault = 10
    case locked = 11
    case wrongKey = 12
    case interrupted = 130
}

/// Every failure pgvault reports is a `VaultError`: a stable code, a message that tells the
/// user what to do, the underlying cause (never containing a secret) and where it happened.
public struct VaultError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, Equatable {
        case notAVault = "not-a-vault"
        case vaultExists = "vault-exists"
        case unsupportedFormat = "unsupported-format"
        case storage = "storage-error"
        case diskFull = "disk-full"
        case objectExists = "object-exists"
        case objectMissing = "object-missing"
        case corrupt = "corrupt"
        case connection = "connection-failed"
        case query = "query-failed"
        case pgDumpMissing = "pg-dump-missing"
        case pgDumpFailed = "pg-dump-failed"
        case limitExceeded = "limit-exceeded"
        case noDatabases = "no-databases"
        case pointNotFound = "point-not-found"
        case ambiguousPoint = "ambiguous-point"
        case targetExists = "target-exists"
        case invalidArgument = "invalid-argument"
        case interrupted = "interrupted"
        /// Refused by immutability, a legal hold, the soft-delete window or a locked setting.
        case protected = "protected"
        /// Another pgvault process holds the vault lease this operation needs.
        case busy = "busy"
        case io = "io-error"
        case internalError = "internal-error"
    }

    public var code: Code
    /// What went wrong and what to do about it, in one or two sentences.
    public var message: String
    /// The underlying cause (a libpq message, an errno text, ...), already scrubbed of secrets.
    public var cause: String?
    /// Where it happened: a path, a database name, an object key.
    public var location: String?

    public init(_ code: Code, _ message: String, cause: String? = nil, location: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = location
    }

    public var exitCode: ExitCode {
        switch code {
        case .notAVault: return .notAVault
        case .invalidArgument: return .usage
        case .interrupted: return .interrupted
        case .limitExceeded: return .partial
        case .protected: return .locked
        default: return .failed
        }
    }

    public var description: String {
        var s = "error[\(code.rawValue)]: \(message)"
        if let location { s += "\n  at: \(location)" }
        if let cause, !cause.isEmpty { s += "\n  cause: \(cause)" }
        return s
    }

    /// JSON-friendly form.
    public var record: ErrorRecord { ErrorRecord(code: code.rawValue, message: message, cause: cause, location: location) }

    /// An error for a failed POSIX call, mapping ENOSPC / EDQUOT to `.diskFull`.
    public static func posix(_ what: String, path: String, errno err: Int32) -> VaultError {
        let text = String(cString: strerror(err))
        if err == ENOSPC || err == EDQUOT {
            return VaultError(.diskFull,
                "The disk holding \(path) is full: free space (or point the vault elsewhere) and run the command again. Nothing partial was kept.",
                cause: "\(what): \(text)", location: path)
        }
        if err == EEXIST {
            return VaultError(.objectExists, "\(path) already exists; pgvault never overwrites.", cause: "\(what): \(text)", location: path)
        }
        if err == ENOENT {
            return VaultError(.objectMissing, "\(path) does not exist.", cause: "\(what): \(text)", location: path)
        }
        return VaultError(.io, "\(what) failed for \(path): \(text).", cause: "\(what): \(text) (errno \(err))", location: path)
    }
}

public struct ErrorRecord: Codable, Equatable, Sendable {
    public var code: String
    public var message: String
    public var cause: String?
    public var location: String?
    public init(code: String, message: String, cause: String? = nil, location: String? = nil) {
        self.code = code; self.message = message; self.cause = cause; self.location = location
    }
}
