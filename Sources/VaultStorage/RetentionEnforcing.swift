public import Foundation

/// Object Lock retention modes of a storage that enforces retention itself (S3 Object Lock).
public enum ObjectLockMode: String, Sendable, Codable, Equatable {
    /// Can be shortened or removed by a user allowed to bypass governance retention.
    case governance = "GOVERNANCE"
    /// Nobody can shorten it or delete the version before it ends.
    case compliance = "COMPLIANCE"
}

/// The retention of one stored object version.
public struct ObjectRetention: Sendable, Equatable {
    public var mode: ObjectLockMode
    public var until: Date
    public init(mode: ObjectLockMode, until: Date) { self.mode = mode; self.until = until }
}

/// What a version sweep did.
public struct VersionSweep: Sendable, Equatable {
    /// Versions and delete markers removed for good.
    public var removed = 0
    /// Versions the server refused to remove (retention or legal hold still protects them).
    public var locked = 0
    public init(removed: Int = 0, locked: Int = 0) { self.removed = removed; self.locked = locked }
}

/// An object whose current version is a delete marker while older versions stay behind it:
/// hidden (by a plain DELETE, pgvault's own or anyone's), not gone.
public struct HiddenObject: Sendable, Equatable {
    /// The key (relative to the storage's prefix).
    public var key: String
    /// The newest version that is not a delete marker: what `unhide` makes current again.
    public var version: String
    /// The delete markers newer than `version`, newest first.
    public var markers: [String]
    public init(key: String, version: String, markers: [String]) { self.key = key; self.version = version; self.markers = markers }
}

/// A storage whose server enforces retention (S3 with Object Lock): every object is versioned,
/// a version can carry a retain-until and a legal hold, and the server refuses to delete a
/// protected version or to shorten its retention. A plain `delete` only hides an object (a
/// delete marker); the versions stay until `removeNoncurrentVersions` removes them.
///
/// The filesystem and memory drivers do not implement it: on them pgvault enforces the
/// protection rules itself.
public protocol RetentionEnforcing: Storage {
    /// Whether the bucket has Object Lock enabled (only then can versions be locked).
    func objectLockEnabled() throws -> Bool
    /// `put`, with the new version locked (`retention`) and/or on legal hold from the start.
    func putLocked(_ key: String, _ data: Data, mode: PutMode, retention: ObjectRetention?, legalHold: Bool) throws
    /// `putLocked` of an object written in pieces (see `Storage.put(_:mode:write:)`). The
    /// default gathers the pieces; S3 sends a large object as a multipart upload as they come.
    func putLocked(_ key: String, mode: PutMode, retention: ObjectRetention?, legalHold: Bool,
                   write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws
    /// The current version's retention; nil when it has none.
    func retention(key: String) throws -> ObjectRetention?
    /// Sets the current version's retention. The server refuses to shorten it (and, for
    /// COMPLIANCE, to change the mode).
    func setRetention(key: String, _ retention: ObjectRetention) throws
    /// Turns the legal hold of the current version on or off.
    func applyLegalHold(key: String, on: Bool) throws
    /// Removes for good, under `prefix`: versions that are not current and were written before
    /// `olderThan`, and delete markers that no longer hide any version. Versions the server
    /// refuses to remove (still retained or held) are counted as `locked` and stay.
    func removeNoncurrentVersions(prefix: String, olderThan: Date) throws -> VersionSweep
    /// Aborts unfinished multipart uploads under `prefix` started before `olderThan`.
    func abortUploads(prefix: String, olderThan: Date) throws -> Int
    /// The objects under `prefix` that are hidden behind delete markers (see `HiddenObject`).
    func hiddenObjects(prefix: String) throws -> [HiddenObject]
    /// Removes the delete markers in front of `object.version`, which becomes current again.
    /// (Delete markers carry no lock: removing one destroys nothing.)
    func unhide(_ object: HiddenObject) throws
}

extension RetentionEnforcing {
    public func putLocked(_ key: String, mode: PutMode, retention: ObjectRetention?, legalHold: Bool,
                          write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try putLocked(key, Data(gathering: write), mode: mode, retention: retention, legalHold: legalHold)
    }

    /// Makes the current version retained at least until `until`: never shortens, keeps the
    /// mode an existing retention has (`mode` is used when it has none). Returns whether it
    /// changed anything.
    @discardableResult
    public func extendRetention(key: String, until: Date, mode: ObjectLockMode) throws -> Bool {
        let current = try retention(key: key)
        if let current, current.until >= until { return false }
        try setRetention(key: key, ObjectRetention(mode: current?.mode ?? mode, until: until))
        return true
    }
}
