public import Foundation
import Synchronization

/// What a long job reports while it runs. Libraries report; only commands print.
public enum JobEvent: Sendable {
    case connected(server: String, version: String, pgDump: String)
    case databases([String])
    case refused(database: String, message: String)
    case started(database: String)
    case bytes(database: String, count: Int)
    case finished(database: String, ok: Bool, bytes: Int64)
    case file(name: String, bytes: Int64)
    case note(String)
}

public protocol ProgressSink: Sendable {
    func report(_ event: JobEvent)
}

public struct NoProgress: ProgressSink {
    public init() {}
    public func report(_ event: JobEvent) {}
}

/// Thread-safe running totals a terminal ticker can sample.
public final class ProgressTotals: ProgressSink, Sendable {
    private struct State {
        var bytes: Int64 = 0
        var active: [String] = []
        var done = 0
        var total = 0
    }
    private let state = Mutex(State())
    public let startedAt = Date()
    private let forward: (any ProgressSink)?

    public init(forward: (any ProgressSink)? = nil) { self.forward = forward }

    public func report(_ event: JobEvent) {
        state.withLock { s in
            switch event {
            case .databases(let dbs): s.total = dbs.count
            case .started(let db): s.active.append(db)
            case .bytes(_, let n): s.bytes += Int64(n)
            case .finished(let db, _, _):
                s.active.removeAll { $0 == db }
                s.done += 1
            case .refused: s.done += 1
            case .file(_, let n): s.bytes += n
            default: break
            }
        }
        forward?.report(event)
    }

    public var snapshot: (bytes: Int64, active: [String], done: Int, total: Int) {
        state.withLock { ($0.bytes, $0.active, $0.done, $0.total) }
    }
}
