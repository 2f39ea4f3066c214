public import Foundation
import VaultCore

/// An in-memory driver for unit tests of the vault logic. Passes the same contract suite as
/// the real drivers.
public final class MemoryStorage: Storage, @unchecked Sendable {
    private let lock = NSLock()
    private var objects: [String: Data] = [:]
    private var times: [String: Date] = [:]
    public let location: String

    public init(name: String = "memory") { self.location = "memory:\(name)" }

    public func put(_ key: String, _ data: Data, mode: PutMode) throws {
        try StorageKey.validate(key)
        lock.lock(); defer { lock.unlock() }
        if mode == .createOnly, objects[key] != nil {
            throw VaultError(.objectExists, "object \(key) already exists", location: key)
        }
        objects[key] = data
        times[key] = Date()
    }

    public func get(_ key: String) throws -> Data {
        try StorageKey.validate(key)
        lock.lock(); defer { lock.unlock() }
        guard let d = objects[key] else {
            throw VaultError(.objectMissing, "object \(key) is missing from \(location)", location: key)
        }
        return d
    }

    public func exists(_ key: String) throws -> Bool {
        try StorageKey.validate(key)
        lock.lock(); defer { lock.unlock() }
        return objects[key] != nil
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        lock.lock(); defer { lock.unlock() }
        return objects.filter { $0.key.hasPrefix(prefix) }
            .map { ObjectInfo(key: $0.key, size: Int64($0.value.count), modified: times[$0.key] ?? Date()) }
            .sorted { $0.key < $1.key }
    }

    public func delete(_ key: String) throws {
        try StorageKey.validate(key)
        lock.lock(); defer { lock.unlock() }
        objects.removeValue(forKey: key)
        times.removeValue(forKey: key)
    }

    public func sync() throws {}

    /// Test hook: replace an object's bytes behind the vault's back (corruption tests).
    public func tamper(_ key: String, _ transform: (inout Data) -> Void) {
        lock.lock(); defer { lock.unlock() }
        if var d = objects[key] { transform(&d); objects[key] = d }
    }
}
