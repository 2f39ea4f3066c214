public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VaultCore

/// How often and how patiently a request is retried: 5xx answers, timeouts and connection
/// errors are retried with jittered exponential backoff; 4xx answers never are.
public struct S3RetryPolicy: Sendable, Equatable {
    /// Tries in all (1 = no retry).
    public var attempts: Int
    /// Delay before the second try; doubled for each further try, then jittered to 50-100 %.
    public var baseDelay: TimeInterval
    public init(attempts: Int = 3, baseDelay: TimeInterval = 0.25) {
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
    }
    public static let standard = S3RetryPolicy()
}

/// One HTTP answer from S3.
struct S3Response: Sendable {
    var status: Int
    var headers: [String: String]   // lower-cased names
    var body: Data

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// `<Error><Code>..</Code><Message>..</Message></Error>` when the body is one.
    var errorCode: String? { errorDocument?.value("Code") }
    var errorMessage: String? { errorDocument?.value("Message") }
    var errorDocument: XMLElementNode? {
        guard let root = XMLElementNode.parse(body), root.name == "Error" else { return nil }
        return root
    }
}

/// Signs and sends requests synchronously (URLSession driven through a semaphore), retrying
/// transient failures. Used from many threads at once; holds no per-request state.
final class S3Client: @unchecked Sendable {
    let endpoint: URL
    let signer: SigV4Signer
    let retry: S3RetryPolicy
    private let session: URLSession
    private let hostHeader: String
    private let basePath: String

    init(endpoint: URL, signer: SigV4Signer, retry: S3RetryPolicy, timeout: TimeInterval) {
        self.endpoint = endpoint
        self.signer = signer
        self.retry = retry
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = max(timeout, 600)
        config.httpMaximumConnectionsPerHost = 16
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.urlCache = nil
        config.httpCookieStorage = nil
        self.session = URLSession(configuration: config)
        var host = endpoint.host ?? "localhost"
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        if let port = endpoint.port, !((endpoint.scheme == "http" && port == 80) || (endpoint.scheme == "https" && port == 443)) {
            host += ":\(port)"
        }
        self.hostHeader = host
        var p = endpoint.path
        while p.hasSuffix("/") { p.removeLast() }
        self.basePath = p
    }

    deinit { session.finishTasksAndInvalidate() }

    /// The endpoint as shown in messages (no credentials: they never are in the URL).
    var endpointText: String { endpoint.absoluteString.hasSuffix("/") ? String(endpoint.absoluteString.dropLast()) : endpoint.absoluteString }

    struct TransportFailure: Error {
        var description: String
    }

    /// Sends one request, retrying 5xx, timeouts and connection errors (and, when
    /// `retryConflict`, 409 answers: a concurrent conditional write in progress).
    /// Returns the last HTTP answer whatever its status; throws only when no answer came.
    func send(method: String, path: String, query: [(name: String, value: String)] = [],
              headers: [(name: String, value: String)] = [], body: Data? = nil,
              retryConflict: Bool = false) throws(TransportFailure) -> S3Response {
        let payload = body ?? Data()
        let payloadHash = SigV4Signer.hexSHA256(payload)
        var lastTransport = "no attempt"
        tries: for attempt in 1...retry.attempts {
            if attempt > 1 {
                let delay = retry.baseDelay * pow(2, Double(attempt - 2)) * Double.random(in: 0.5...1.0)
                Thread.sleep(forTimeInterval: delay)
            }
            let signed = signer.sign(SigV4Signer.Request(
                method: method, path: basePath + path, query: query,
                headers: [("host", hostHeader)] + headers, payloadHash: payloadHash), date: Date())
            var text = endpoint.scheme.map { "\($0)://" } ?? "http://"
            text += hostHeader + signed.canonicalPath
            if !signed.canonicalQuery.isEmpty { text += "?" + signed.canonicalQuery }
            guard let url = URL(string: text) else {
                throw TransportFailure(description: "invalid request URL \(text)")
            }
            var request = URLRequest(url: url)
            request.httpMethod = method
            for (name, value) in headers + signed.headers { request.setValue(value, forHTTPHeaderField: name) }
            if method == "PUT" || method == "POST" {
                request.httpBody = payload
                if request.value(forHTTPHeaderField: "Content-Type") == nil {
                    request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
                }
            }
            switch perform(request) {
            case .success(let response):
                let retryable = response.status >= 500 || (retryConflict && response.status == 409)
                if retryable && attempt < retry.attempts { continue }
                return response
            case .failure(let error):
                lastTransport = error.description
                if !error.retryable { break tries }
            }
        }
        throw TransportFailure(description: lastTransport)
    }

    private struct PerformError: Error {
        var description: String
        var retryable: Bool
    }

    private final class Box: @unchecked Sendable {
        var data: Data?
        var response: URLResponse?
        var error: (any Error)?
    }

    private func perform(_ request: URLRequest) -> Result<S3Response, PerformError> {
        let semaphore = DispatchSemaphore(value: 0)
        let box = Box()
        let task = session.dataTask(with: request) { data, response, error in
            box.data = data
            box.response = response
            box.error = error
            semaphore.signal()
        }
        task.resume()
        semaphore.wait()
        if let error = box.error {
            let ns = error as NSError
            var retryable = true
            if let u = error as? URLError {
                switch u.code {
                case .cancelled, .badURL, .unsupportedURL, .userAuthenticationRequired: retryable = false
                default: retryable = true
                }
            }
            return .failure(PerformError(description: "\(ns.localizedDescription) (\(ns.domain) \(ns.code))", retryable: retryable))
        }
        guard let http = box.response as? HTTPURLResponse else {
            return .failure(PerformError(description: "no HTTP response", retryable: true))
        }
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields {
            if let k = k as? String { headers[k.lowercased()] = "\(v)" }
        }
        return .success(S3Response(status: http.statusCode, headers: headers, body: box.data ?? Data()))
    }
}
