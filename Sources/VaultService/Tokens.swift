public import Foundation
import Crypto
public import VaultCore

/// API bearer tokens, read from a file that must not be readable by group or others (0600).
///
/// One token per line: `NAME ROLE TOKEN`, e.g. `ci-bot operator 3f9c…`; `#` starts a comment.
/// Roles: `reader` (GET), `operator` (also POST /v1/backups and /v1/restores), `admin` (all).
/// The token's NAME is what the audit log records as the actor.
public struct TokenStore: Sendable {
    public enum Role: String, Sendable, Comparable {
        case reader, `operator`, admin
        var rank: Int { switch self { case .reader: 0; case .operator: 1; case .admin: 2 } }
        public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
    }
    public struct Token: Sendable {
        public var name: String
        public var role: Role
        let digest: [UInt8]
    }
    let tokens: [Token]

    public init(tokens: [(name: String, role: Role, secret: String)]) {
        self.tokens = tokens.map { Token(name: $0.name, role: $0.role, digest: Array(SHA256.hash(data: Data($0.secret.utf8)))) }
    }

    public static func load(path: String) throws -> TokenStore {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw VaultError(.invalidArgument, "Token file \(path) cannot be read: \(String(cString: strerror(errno))).", location: path)
        }
        if st.st_mode & 0o077 != 0 {
            throw VaultError(.invalidArgument,
                "Token file \(path) is readable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))): run `chmod 600 \(path)`.",
                location: path)
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var out: [(String, Role, String)] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if parts.isEmpty { continue }
            guard parts.count == 3, let role = Role(rawValue: parts[1]), parts[2].count >= 16 else {
                throw VaultError(.invalidArgument,
                    "\(path):\(n + 1): expected `NAME ROLE TOKEN` with ROLE reader, operator or admin and a token of at least 16 characters.",
                    location: "\(path):\(n + 1)")
            }
            out.append((parts[0], role, parts[2]))
        }
        return TokenStore(tokens: out.map { (name: $0.0, role: $0.1, secret: $0.2) })
    }

    /// The token presented as `Authorization: Bearer <token>`, compared in constant time.
    public func authenticate(_ presented: String) -> Token? {
        let d = Array(SHA256.hash(data: Data(presented.utf8)))
        var found: Token?
        for t in tokens {
            var diff: UInt8 = 0
            for i in 0..<d.count { diff |= d[i] ^ t.digest[i] }
            if diff == 0 { found = t }
        }
        return found
    }
}
