public import Foundation
import Crypto

/// AWS Signature Version 4 (header form), as S3 wants it: the path is signed as written
/// (each segment URI-encoded once, no `.`/`..` normalization), the query sorted and encoded,
/// header values trimmed with inner runs of spaces collapsed, `x-amz-date` always signed,
/// `x-amz-content-sha256` and `x-amz-security-token` signed when present.
public struct SigV4Signer: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service: String

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// One request to sign. `path` and `query` are raw (not yet percent-encoded).
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: [(name: String, value: String)]
        /// Headers to sign (must include `host`). Names in any case; repeated names are joined
        /// with commas in the order given.
        public var headers: [(name: String, value: String)]
        /// Lower-case hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
        public var payloadHash: String
        /// Also send and sign `x-amz-content-sha256: payloadHash` (S3 requires it).
        public var signPayloadHeader: Bool

        public init(method: String, path: String, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)], payloadHash: String, signPayloadHeader: Bool = true) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
            self.signPayloadHeader = signPayloadHeader
        }
    }

    /// The result: the headers to add to the request (`x-amz-date`, optionally
    /// `x-amz-content-sha256` and `x-amz-security-token`, and `Authorization`), plus the
    /// intermediate strings for tests and debugging (they hold no secret).
    public struct Signed: Sendable {
        public var headers: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
        /// The canonical query string (also what the URL should carry).
        public var canonicalQuery: String
        /// The canonical (encoded) path (also what the URL should carry).
        public var canonicalPath: String
    }

    public func sign(_ request: Request, date: Date) -> Signed {
        let amzDate = SigV4Signer.amzDate(date)
        let day = String(amzDate.prefix(8))

        var added: [(name: String, value: String)] = [("X-Amz-Date", amzDate)]
        if request.signPayloadHeader { added.append(("x-amz-content-sha256", request.payloadHash)) }
        if let token = credentials.sessionToken, !token.isEmpty { added.append(("X-Amz-Security-Token", token)) }

        // Canonical headers: lower-case names, sorted, values trimmed and space-collapsed,
        // repeated names joined with "," in the order given.
        var merged: [String: [String]] = [:]
        for (name, value) in request.headers + added {
            merged[name.lowercased(), default: []].append(SigV4Signer.trimValue(value))
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")

        let canonicalPath = SigV4Signer.encodePath(request.path)
        let canonicalQuery = SigV4Signer.canonicalQuery(request.query)
        let canonicalRequest = [
            request.method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, request.payloadHash,
        ].joined(separator: "\n")

        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, SigV4Signer.hexSHA256(Data(canonicalRequest.utf8)),
        ].joined(separator: "\n")

        var key = SymmetricKey(data: Data(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = SigV4Signer.hex(Data(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signed(headers: added + [("Authorization", authorization)], canonicalRequest: canonicalRequest,
                      stringToSign: stringToSign, signature: signature, authorization: authorization,
                      canonicalQuery: canonicalQuery, canonicalPath: canonicalPath)
    }

    // MARK: - Encoding helpers

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    /// RFC 3986 percent-encoding of everything but the unreserved set `A-Za-z0-9-._~`
    /// (upper-case hex), over the UTF-8 bytes. `keepSlash` keeps `/` (for paths).
    public static func uriEncode(_ s: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            let unreserved = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
            if unreserved || (keepSlash && b == 0x2F) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    /// Path as S3 signs it: each segment encoded once, slashes kept, no normalization.
    public static func encodePath(_ path: String) -> String {
        let p = path.isEmpty ? "/" : path
        return uriEncode(p, keepSlash: true)
    }

    /// Encoded `name=value` pairs sorted by encoded name, then value, joined with `&`.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (uriEncode($0.name), uriEncode($0.value)) }
            .sorted { $0.0 == $1.0 ? $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) : $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    static func trimValue(_ v: String) -> String {
        var out = ""
        var lastSpace = false
        for ch in v.trimmingCharacters(in: .whitespaces) {
            if ch == " " {
                if !lastSpace { out.append(ch) }
                lastSpace = true
            } else {
                out.append(ch)
                lastSpace = false
            }
        }
        return out
    }

    public static func hexSHA256(_ data: Data) -> String { hex(Data(SHA256.hash(data: data))) }

    public static func base64SHA256(_ data: Data) -> String { Data(SHA256.hash(data: data)).base64EncodedString() }

    public static func base64MD5(_ data: Data) -> String { Data(Insecure.MD5.hash(data: data)).base64EncodedString() }

    static func hex(_ data: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.count * 2)
        for b in data {
            bytes.append(digits[Int(b >> 4)])
            bytes.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SHA-256 of the empty body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}
