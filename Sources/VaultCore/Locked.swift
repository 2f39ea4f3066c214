import Foundation

/// A value behind a lock, shared between the threads of one job (workers, a reader thread,
/// a Task handing its result back to synchronous code).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }

    public func get() -> Value { withLock { $0 } }
    public func set(_ v: Value) { withLock { $0 = v } }
}
