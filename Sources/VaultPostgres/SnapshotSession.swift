import Foundation
import VaultCore

/// A connection to one database holding a `REPEATABLE READ, READ ONLY` transaction open with
/// an exported snapshot, so that the preflight queries (limits) and `pg_dump --snapshot` see
/// exactly the same data. The transaction stays open until `close()`.
public final class SnapshotSession: @unchecked Sendable {
    /// The connection inside the transaction; run the limit queries on it.
    public let connection: PGConnection
    /// The exported snapshot id for `pg_dump --snapshot`, or nil when the server could not
    /// export one (then dump without `--snapshot`).
    public let snapshotId: String?
    /// Why no snapshot could be exported, when `snapshotId` is nil.
    public let snapshotError: String?

    /// Connects to `database` and opens the transaction.
    /// - Throws: `.connection` or `.query` when even the transaction cannot be started.
    public init(_ info: ConnInfo, database: String) throws {
        let conn = try PGConnection.connect(info, database: database)
        try conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        var id: String? = nil
        var err: String? = nil
        do {
            id = try conn.scalar("SELECT pg_export_snapshot()")
        } catch let e as VaultError {
            err = e.message
            try conn.exec("ROLLBACK")
            try conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        }
        self.connection = conn
        self.snapshotId = id
        self.snapshotError = err
    }

    /// Ends the transaction and closes the connection. Safe to call more than once.
    public func close() {
        if connection.isOpen {
            try? connection.exec("COMMIT")
            connection.close()
        }
    }

    deinit { close() }
}
