public import Foundation
import VaultCore

/// S3 credentials. They come from the environment or `~/.aws/credentials`, never from the
/// command line; `description` never shows the secret key or the session token.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String {
        "S3Credentials(accessKeyId: \(accessKeyId), secretAccessKey: <redacted>\(sessionToken == nil ? "" : ", sessionToken: <redacted>"))"
    }
    public var debugDescription: String { description }

    /// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) when both are set;
    /// otherwise the profile `AWS_PROFILE` (default `default`) of `AWS_SHARED_CREDENTIALS_FILE`
    /// (default `~/.aws/credentials`). Throws `.invalidArgument` telling where to put them.
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment,
                               home: String? = nil) throws -> S3Credentials {
        let id = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let id, let secret {
            return S3Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: token)
        }
        if (id == nil) != (secret == nil) {
            throw VaultError(.invalidArgument,
                "Only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set: set both (or neither, to use a profile in ~/.aws/credentials).")
        }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let homeDir = home ?? environment["HOME"] ?? NSHomeDirectory()
        let file = environment["AWS_SHARED_CREDENTIALS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? homeDir + "/.aws/credentials"
        if let text = try? String(contentsOfFile: file, encoding: .utf8),
           let section = parseINI(text)[profile],
           let pid = section["aws_access_key_id"], let psecret = section["aws_secret_access_key"],
           !pid.isEmpty, !psecret.isEmpty {
            return S3Credentials(accessKeyId: pid, secretAccessKey: psecret, sessionToken: section["aws_session_token"])
        }
        throw VaultError(.invalidArgument,
            "No S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), or put a profile \"\(profile)\" in \(file) (choose it with AWS_PROFILE). Credentials are never taken from the command line.",
            location: file)
    }

    /// Minimal INI reader for the AWS credentials file: `[section]`, `key = value`, `#`/`;` comments.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                var name = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                current = name
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            out[current, default: [:]][key] = value
        }
        return out
    }
}
