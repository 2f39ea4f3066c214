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

    /// Appends `value` as record `seq`; `.objectExists` when another writer took it first.
    func append(_ data: Data, seq: Int) throws {
        try storage.put(Series.key(prefix, seq), data, mode: .createOnly)
    }
}
