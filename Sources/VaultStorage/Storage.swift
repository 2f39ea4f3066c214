public import Foundation
import VaultCore

/// One stored object as a listing reports it.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// When the object was written (garbage collection's grace period uses it).
    public var modified: Date
    public init(key: String, size: Int64, modified: Date = Date(timeIntervalSince1970: 0)) {
        self.key = key; self.size = size; self.modified = modified
    }
}

public enum PutMode: Sendable {
    /// Create the object; fail with `.objectExists` when the key is taken (write-once objects,
    /// sequence numbers, leases). Atomic: two writers racing for one key, exactly one wins.
    case createOnly
    /// Create or atomically replace the object (mutable records such as job progress).
    case replace
}

/// The storage protocol every vault driver implements (memory, local filesystem, later S3).
///
/// Keys are relative, `/`-separated paths of ASCII letters, digits and `._-` (no empty
/// segment, no `.` or `..`). A `put` is atomic: readers see the whole object or none of it.
/// `createOnly` objects are immutable: drivers write them read-only where they can.
/// Objects are not guaranteed durable until `sync()` returns; the write-order rules of
/// vault/FORMAT.md call `sync()` before a manifest is written and after it.
public protocol Storage: Sendable {
    /// Where the vault lives, for messages (a path or URL; never a secret).
    var location: String { get }
    func put(_ key: String, _ data: Data, mode: PutMode) throws
    /// `put` of an object written in pieces: `write` calls the function it is given with each
    /// piece, in order. For objects too large to hold whole (the manifest of a 1 TiB point is
    /// ~400 MB stored). Atomic like `put`: when `write` throws, nothing is stored. The default
    /// gathers the pieces and calls `put`; the filesystem writes them to disk as they come.
    func put(_ key: String, mode: PutMode, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws
    /// The whole object; `.objectMissing` when absent.
    func get(_ key: String) throws -> Data
    /// The object in pieces, in order, for objects too large to hold whole (the manifest of a
    /// 1 TiB point is hundreds of MB); `.objectMissing` when absent. The default hands `get`'s
    /// bytes over as one piece; the filesystem reads 1 MiB at a time.
    func read(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws
    func exists(_ key: String) throws -> Bool
    /// Every object whose key starts with `prefix`, sorted by key.
    func list(prefix: String) throws -> [ObjectInfo]
    /// The keys of `list(prefix:)` alone, sorted. Drivers that can name objects without
    /// their sizes and times do it faster (the filesystem: one directory read instead of a
    /// stat per file); the default is `list(prefix:)`.
    func keys(prefix: String) throws -> [String]
    /// Removes the object; removing a missing key is not an error.
    func delete(_ key: String) throws
    /// Durability barrier: every `put` that returned before is on stable storage afterwards.
    func sync() throws
}

extension Data {
    /// The pieces `write` hands to the function it is given, gathered in order: what a driver
    /// without a streaming `put` does with an object written in pieces.
    public init(gathering write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) rethrows {
        var data = Data()
        try write { data.append(contentsOf: $0) }
        self = data
    }
}

extension Storage {
    public func put(_ key: String, mode: PutMode, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try put(key, Data(gathering: write), mode: mode)
    }
    public func keys(prefix: String) throws -> [String] { try list(prefix: prefix).map(\.key) }
    public func read(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try get(key).withUnsafeBytes { try body($0) }
    }
}

public enum StorageKey {
    /// Validates a key; throws `.invalidArgument` for keys the contract does not allow.
    public static func validate(_ key: String) throws {
        let segments = key.split(separator: "/", omittingEmptySubsequences: false)
        let ok = !key.isEmpty && segments.allSatisfy { seg in
            !seg.isEmpty && seg != "." && seg != ".." &&
            seg.utf8.allSatisfy { b in
                (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) ||
                b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
            }
        }
        guard ok else {
            throw VaultError(.invalidArgument, "invalid storage key \"\(key)\"", location: key)
        }
    }
}
