import Foundation
import Testing
import VaultCore
@testable import VaultS3

@Suite("SigV4 signing")
struct SigV4Tests {
    static let credentials = S3Credentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let date = Date(timeIntervalSince1970: 1_440_938_160)   // 2015-08-30T12:36:00Z

    /// The request line carries the query as a URL does: percent-decode it (the signer encodes).
    static func decode(_ s: Substring) -> String { String(s).removingPercentEncoding ?? String(s) }

    /// Splits request.txt into the signer's input.
    static func parse(_ v: SigV4Vector) -> (SigV4Signer.Request, S3Credentials) {
        let (head, body): (Substring, Substring)
        if let r = v.request.range(of: "\n\n") {
            head = v.request[..<r.lowerBound]; body = v.request[r.upperBound...]
        } else {
            head = Substring(v.request); body = ""
        }
        var lines = head.split(separator: "\n", omittingEmptySubsequences: false)
        while lines.last?.isEmpty == true { lines.removeLast() }
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix { $0 != " " })
        var target = requestLine.dropFirst(method.count + 1)
        if target.hasSuffix(" HTTP/1.1") { target = target.dropLast(9) }
        var path = String(target)
        var query: [(name: String, value: String)] = []
        if let q = path.firstIndex(of: "?") {
            let qs = path[path.index(after: q)...]
            path = String(path[..<q])
            for item in qs.split(separator: "&") {
                if let eq = item.firstIndex(of: "=") {
                    query.append((decode(item[..<eq]), decode(item[item.index(after: eq)...])))
                } else {
                    query.append((decode(item), ""))
                }
            }
        }
        let headers = lines.map { line -> (name: String, value: String) in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), String(line[line.index(after: colon)...]))
        }
        var creds = credentials
        creds.sessionToken = v.token
        let request = SigV4Signer.Request(method: method, path: path, query: query, headers: headers,
                                          payloadHash: SigV4Signer.hexSHA256(Data(body.utf8)),
                                          signPayloadHeader: v.signBody)
        return (request, creds)
    }

    @Test(arguments: sigV4Vectors)
    func awsTestSuite(vector: SigV4Vector) {
        let (request, creds) = Self.parse(vector)
        let signed = SigV4Signer(credentials: creds, region: "us-east-1", service: "service").sign(request, date: Self.date)
        #expect(signed.canonicalRequest == vector.canonicalRequest)
        #expect(signed.stringToSign == vector.stringToSign)
        #expect(signed.authorization == vector.authorization)
        #expect(signed.headers.contains { $0.name == "X-Amz-Date" && $0.value == "20150830T123600Z" })
        if let token = vector.token {
            #expect(signed.headers.contains { $0.name == "X-Amz-Security-Token" && $0.value == token })
        }
    }

    @Test func theNamedVectorsAreAllThere() {
        let names = Set(sigV4Vectors.map(\.name))
        for n in ["get-vanilla", "get-vanilla-query-order-key-case", "post-x-www-form-urlencoded", "get-utf8",
                  "get-space-unnormalized", "get-vanilla-with-session-token"] {
            #expect(names.contains(n))
        }
    }

    /// AWS's S3 documentation example (GET Object with a Range, examplebucket, 20130524).
    @Test func s3DocumentationGetObjectExample() {
        let creds = S3Credentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        let signer = SigV4Signer(credentials: creds, region: "us-east-1", service: "s3")
        let signed = signer.sign(SigV4Signer.Request(
            method: "GET", path: "/test.txt",
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
            payloadHash: SigV4Signer.emptyPayloadHash), date: Date(timeIntervalSince1970: 1_369_353_600))
        #expect(signed.stringToSign.hasSuffix("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"))
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func uriEncoding() {
        #expect(SigV4Signer.uriEncode("a b/c+d=e~f") == "a%20b%2Fc%2Bd%3De~f")
        #expect(SigV4Signer.encodePath("/bucket/a b/ሴ") == "/bucket/a%20b/%E1%88%B4")
        #expect(SigV4Signer.canonicalQuery([("uploads", ""), ("prefix", "a/b"), ("continuation-token", "x+y=")])
                == "continuation-token=x%2By%3D&prefix=a%2Fb&uploads=")
    }
}

@Suite("S3 credentials and locations")
struct S3ConfigTests {
    @Test func credentialsFromEnvironmentThenProfile() throws {
        let env = ["AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SECRETVALUE", "AWS_SESSION_TOKEN": "TOK"]
        let c = try S3Credentials.resolve(environment: env, home: "/nonexistent")
        #expect(c == S3Credentials(accessKeyId: "AK", secretAccessKey: "SECRETVALUE", sessionToken: "TOK"))
        #expect(!"\(c)".contains("SECRETVALUE"))
        #expect(!"\(c)".contains("TOK"))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgvault-aws-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        # comment
        [default]
        aws_access_key_id = DEFID
        aws_secret_access_key = DEFSECRET

        [backup]
        aws_access_key_id=BKID
        aws_secret_access_key=BKSECRET
        aws_session_token = BKTOKEN
        """.write(to: dir.appendingPathComponent(".aws/credentials"), atomically: true, encoding: .utf8)
        #expect(try S3Credentials.resolve(environment: [:], home: dir.path).accessKeyId == "DEFID")
        let b = try S3Credentials.resolve(environment: ["AWS_PROFILE": "backup"], home: dir.path)
        #expect(b == S3Credentials(accessKeyId: "BKID", secretAccessKey: "BKSECRET", sessionToken: "BKTOKEN"))
        #expect { try S3Credentials.resolve(environment: ["AWS_PROFILE": "nope"], home: dir.path) } throws: { e in
            guard let e = e as? VaultError else { return false }
            return e.code == .invalidArgument && e.message.contains("AWS_ACCESS_KEY_ID") && !e.description.contains("DEFSECRET") && !e.description.contains("BKSECRET")
        }
        #expect(throws: VaultError.self) { try S3Credentials.resolve(environment: ["AWS_ACCESS_KEY_ID": "x"], home: dir.path) }
    }

    @Test func locations() throws {
        #expect(try S3Location(url: "s3://my-bucket") == S3Location(bucket: "my-bucket", prefix: ""))
        #expect(try S3Location(url: "s3://my-bucket/a/b/") == S3Location(bucket: "my-bucket", prefix: "a/b"))
        #expect(try S3Location(url: "s3://my-bucket/a/b").description == "s3://my-bucket/a/b")
        for bad in ["my-bucket/x", "s3://", "s3://UPPER", "s3://ab", "s3://b-ok/../x", "s3://-bad"] {
            #expect(throws: VaultError.self) { try S3Location(url: bad) }
        }
    }

    @Test func isoDates() {
        let d = Date(timeIntervalSince1970: 1_440_938_160)
        #expect(S3Storage.isoDate(d) == "2015-08-30T12:36:00Z")
        #expect(S3Storage.parseISODate("2015-08-30T12:36:00Z") == d)
        #expect(S3Storage.parseISODate("2015-08-30T12:36:00.000Z") == d)
        #expect(S3Storage.parseISODate("2015-08-30T12:36:00.5Z") == d.addingTimeInterval(0.5))
        #expect(S3Storage.parseISODate("2015-08-30 12:36:00Z") == nil)
        #expect(S3Storage.parseISODate("2015-08-30T12:36:00") == nil)
    }
}
