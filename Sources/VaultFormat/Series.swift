import Foundation
import VaultCore
import VaultStorage

/// An append-only series of write-once JSON records under `prefix/`: `000000000001.json`,
/// `000000000002.json`, ... The latest record is the current value. Two writers that race for
/// the same sequence number: exactly one wins (create-only), the other reloads and retries.
struct Series: Sendable {
    let storage: any Storage
    let prefix: String

    static func key(_ prefix: String, _ seq: Int) -> String {
        "\(prefix)/\(String(format: "%012d", seq)).json"
    }

    static func sequence(of key: String) -> Int? {
        guard key.hasSuffix(".json"), let last = key.split(separator: "/").last else { return nil }
        return Int(last.dropLast(5))
    }

    /// (sequence, key) of every record, ascending.
    func entries() throws -> [(seq: Int, key: String)] {
        try storage.list(prefix: prefix + "/").compactMap { o in Series.sequence(of: o.key).map { ($0, o.key) } }
            .sorted { $0.seq < $1.seq }
    }

    func latest<T: Decodable>(_ type: T.Type) throws -> (seq: Int, value: T)? {
        guard let last = try entries().last else { return nil }
        return (last.seq, try VaultJSON.decode(type, from: try storage.get(last.key), what: last.key))
    }

    /// `latest`, for a series whose latest record is a value in force (the protection settings):
    /// refused (`.corrupt`) when a newer record exists but a DELETE hid it (versioned storages,
    /// one version listing), since the latest visible record is then not the one in force.
    func current<T: Decodable>(_ type: T.Type) throws -> (seq: Int, value: T)? {
        let latest = try latest(type)
        if let first = try hidden(under: prefix + "/").filter({ $0 > (latest?.seq ?? 0) }).min() {
            throw VaultError(.corrupt,
                "\(Series.key(prefix, first)) is hidden behind a delete marker (a DELETE outside pgvault): the \(prefix) in force may be that record, not the one before it. Run `pgvault vault unhide`, then try again.",
                location: Series.key(prefix, first))
        }
        return latest
    }

    /// Appends `value` as record `seq`; `.objectExists` when another writer took it first.
    ///
    /// On a versioned storage (S3) a record that a plain DELETE hid is invisible to listings and
    /// to the create-only check, so writing its number would bury it under a new record (the
    /// audit chain would go on from the record before it, as if it never was). So the number is
    /// checked for hidden versions first (one version listing), and a hidden one is refused
    /// (`.corrupt`, nothing written): `pgvault vault unhide` brings it back, then the write
    /// takes the next number.
    func append(_ data: Data, seq: Int) throws {
        try checkNotHidden(seq)
        try storage.put(Series.key(prefix, seq), data, mode: .createOnly)
    }

    /// The storage, when it keeps object versions (S3): only there can a record be hidden.
    var versioned: (any RetentionEnforcing)? { ObjectLock.versioned(storage) }

    /// The numbers of the records under `listPrefix` (the series, or one record's key) that a
    /// delete marker hides; none on a storage without versions.
    private func hidden(under listPrefix: String) throws -> [Int] {
        guard let versioned else { return [] }
        return try versioned.hiddenObjects(prefix: listPrefix).compactMap { Series.sequence(of: $0.key) }
    }

    /// `.corrupt` when record `seq` exists but a delete marker hides it (versioned storages).
    func checkNotHidden(_ seq: Int) throws {
        let key = Series.key(prefix, seq)
        if try hidden(under: key).contains(seq) {
            throw VaultError(.corrupt,
                "\(key) is hidden behind a delete marker (a DELETE outside pgvault), so record \(seq) of \(prefix)/ cannot be written without burying it. Run `pgvault vault unhide` to bring it back, then try again; nothing was changed.",
                location: key)
        }
    }
}
