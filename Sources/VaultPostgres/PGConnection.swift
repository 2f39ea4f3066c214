import Foundation
import Synchronization
import VaultCore
import CLibPQ

/// One libpq connection. Not thread-safe: use it from one thread (or task) at a time.
/// Closed by `close()` or when released.
public final class PGConnection: @unchecked Sendable {
    private var conn: OpaquePointer?
    /// `PQgetCancel` object, so another thread can cancel a running query (`cancel()`).
    private var cancelHandle: OpaquePointer?
    private let cancelLock = NSLock()
    /// Set by `cancel()`: no query starts on this connection any more.
    private let cancelled = Atomic<Bool>(false)
    /// True while a statement runs (`query`, `exec`), so `cancel()` knows whether there is
    /// anything to cancel on the server.
    private let busy = Atomic<Bool>(false)
    /// Where this connection goes, as `user@host:port/dbname` (never the password).
    public let display: String
    /// The database this connection is attached to.
    public let database: String

    private init(conn: OpaquePointer, display: String, database: String) {
        self.conn = conn
        self.cancelHandle = PQgetCancel(conn)
        self.display = display
        self.database = database
    }

    deinit { close() }

    /// Connects with `PQconnectdbParams` (expand_dbname on), so PG* environment variables,
    /// `.pgpass` / PGPASSFILE and service files work exactly as for psql. `database` replaces the
    /// conninfo's dbname. `application_name` is `pgvault` unless the conninfo sets one.
    /// - Throws: `VaultError(.connection)` with libpq's message as cause.
    public static func connect(_ info: ConnInfo, database: String? = nil) throws -> PGConnection {
        let where_ = info.display(database: database)
        // The whole connection string goes in as dbname so that a database name holding `=` or
        // looking like a URI is never itself expanded; application_name comes first so an
        // explicit one in the conninfo overrides it.
        let keywords = ["application_name", "dbname"]
        let values = ["pgvault", info.connectionString(database: database, includePassword: true)]
        let kw = keywords.map { strdup($0) }
        let vs = values.map { strdup($0) }
        defer { kw.forEach { free($0) }; vs.forEach { free($0) } }
        var kwPtrs: [UnsafePointer<CChar>?] = kw.map { UnsafePointer($0) } + [nil]
        var vPtrs: [UnsafePointer<CChar>?] = vs.map { UnsafePointer($0) } + [nil]
        let c: OpaquePointer? = kwPtrs.withUnsafeMutableBufferPointer { k in
            vPtrs.withUnsafeMutableBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 1)
            }
        }
        guard let c else {
            throw VaultError(.connection, "Cannot connect to PostgreSQL at \(where_): out of memory.", location: where_)
        }
        if PQstatus(c) != CONNECTION_OK {
            let msg = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(c)
            throw VaultError(.connection,
                "Cannot connect to PostgreSQL at \(where_): check the conninfo (host, port, user, password or .pgpass), that the server runs and that pg_hba.conf allows you.",
                cause: scrub(msg, info), location: where_)
        }
        PQsetNoticeProcessor(c, { _, _ in }, nil)   // notices must not reach our stderr
        let dbname = PQdb(c).map { String(cString: $0) } ?? (database ?? "")
        return PGConnection(conn: c, display: info.display(database: dbname), database: dbname)
    }

    private static func scrub(_ text: String, _ info: ConnInfo) -> String {
        guard let p = info.password, p.count >= 3 else { return text }
        return text.replacingOccurrences(of: p, with: "***")
    }

    private func handle() throws -> OpaquePointer {
        guard let conn else {
            throw VaultError(.connection, "The connection to \(display) is closed.", location: display)
        }
        return conn
    }

    /// Marks a statement as running for `cancel()`, or refuses to start one after a cancel.
    /// `busy` is set before `cancelled` is read, and `cancel()` sets `cancelled` before it reads
    /// `busy`: whichever comes second sees the other, so a cancel that lands just before a
    /// statement starts stops it here or is sent while it runs, never lost in between.
    private func begin() throws {
        busy.store(true, ordering: .sequentiallyConsistent)
        if cancelled.load(ordering: .sequentiallyConsistent) {
            busy.store(false, ordering: .sequentiallyConsistent)
            throw VaultError(.query, "A query on \(display) was not started: it was cancelled (the job is being interrupted).",
                             cause: "SQLSTATE 57014 (cancelled before it was sent)", location: display)
        }
    }

    private func end() { busy.store(false, ordering: .sequentiallyConsistent) }

    /// Runs one statement with `$1...` text parameters (nil is SQL NULL) and returns all rows
    /// as text (nil for NULL).
    /// - Throws: `VaultError(.query)` with the SQLSTATE and the server's message.
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = []) throws -> [[String?]] {
        let c = try handle()
        try begin()
        defer { end() }
        let cParams: [UnsafeMutablePointer<CChar>?] = params.map { $0.flatMap { strdup($0) } }
        defer { cParams.forEach { free($0) } }
        var ptrs: [UnsafePointer<CChar>?] = cParams.map { $0.map { UnsafePointer($0) } }
        let res: OpaquePointer? = ptrs.withUnsafeMutableBufferPointer { b in
            PQexecParams(c, sql, Int32(params.count), nil, b.baseAddress, nil, nil, 0)
        }
        guard let res else {
            let msg = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            throw VaultError(.query, "A query on \(display) failed: \(msg)", cause: msg, location: display)
        }
        defer { PQclear(res) }
        let status = PQresultStatus(res)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let sqlstate = PQresultErrorField(res, 67).map { String(cString: $0) } ?? ""   // 'C' = PG_DIAG_SQLSTATE
            let primary = PQresultErrorField(res, 77).map { String(cString: $0) }          // 'M' = primary message
            let full = String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines)
            let text = primary ?? (full.isEmpty ? "unknown error" : full)
            var message = "A query on \(display) failed: \(text)"
            if !sqlstate.isEmpty { message += " (SQLSTATE \(sqlstate))" }
            if PQstatus(c) != CONNECTION_OK {
                message += ". The connection was lost: check the server and run the command again."
            }
            throw VaultError(.query, message, cause: sqlstate.isEmpty ? full : "SQLSTATE \(sqlstate): \(full)", location: display)
        }
        let rows = Int(PQntuples(res)), cols = Int(PQnfields(res))
        var out: [[String?]] = []
        out.reserveCapacity(rows)
        for r in 0..<rows {
            var row: [String?] = []
            row.reserveCapacity(cols)
            for f in 0..<cols {
                if PQgetisnull(res, Int32(r), Int32(f)) != 0 {
                    row.append(nil)
                } else {
                    row.append(String(cString: PQgetvalue(res, Int32(r), Int32(f))))
                }
            }
            out.append(row)
        }
        return out
    }

    /// Runs one or more statements without parameters or results (`PQexec`).
    public func exec(_ sql: String) throws {
        let c = try handle()
        try begin()
        defer { end() }
        guard let res = PQexec(c, sql) else {
            let msg = String(cString: PQerrorMessage(c)).trimmingCharacters(in: .whitespacesAndNewlines)
            throw VaultError(.query, "A query on \(display) failed: \(msg)", cause: msg, location: display)
        }
        defer { PQclear(res) }
        let status = PQresultStatus(res)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY else {
            let sqlstate = PQresultErrorField(res, 67).map { String(cString: $0) } ?? ""
            let primary = PQresultErrorField(res, 77).map { String(cString: $0) }
            let full = String(cString: PQresultErrorMessage(res)).trimmingCharacters(in: .whitespacesAndNewlines)
            var message = "A query on \(display) failed: \(primary ?? full)"
            if !sqlstate.isEmpty { message += " (SQLSTATE \(sqlstate))" }
            throw VaultError(.query, message, cause: sqlstate.isEmpty ? full : "SQLSTATE \(sqlstate): \(full)", location: display)
        }
    }

    /// The first column of the first row, or nil (NULL or no row).
    public func scalar(_ sql: String, _ params: [String?] = []) throws -> String? {
        try query(sql, params).first?.first ?? nil
    }

    /// The server's version number as `PQserverVersion` reports it (150004 for 15.4).
    public var serverVersionNum: Int {
        guard let conn else { return 0 }
        return Int(PQserverVersion(conn))
    }

    /// The server's major version (15 for 15.4; 9 for 9.6).
    public var serverMajor: Int { serverVersionNum / 10000 }

    /// The server's `server_version` setting, e.g. `15.4 (Debian 15.4-1)`.
    public var serverVersion: String {
        guard let conn, let v = PQparameterStatus(conn, "server_version") else { return "" }
        return String(cString: v)
    }

    /// Cancels this connection for good (from any thread, e.g. on SIGTERM while a limit scan
    /// runs): the running query fails with SQLSTATE 57014, and no other query starts.
    public func cancel() {
        cancelled.store(true, ordering: .sequentiallyConsistent)
        cancelLock.lock(); defer { cancelLock.unlock() }
        guard let h = cancelHandle else { return }
        var buf = [CChar](repeating: 0, count: 256)
        // The request travels on a connection of its own, which a busy server (connection
        // slots, load) can refuse, and a request that reaches the server before the statement
        // does is ignored: send it again every 100 ms while the statement runs, for up to two
        // seconds, rather than leave the query waiting.
        for _ in 0..<20 {
            guard busy.load(ordering: .sequentiallyConsistent) else { return }
            _ = PQcancel(h, &buf, Int32(buf.count))
            usleep(100_000)
        }
    }

    /// Closes the connection. Safe to call more than once.
    public func close() {
        cancelLock.lock()
        if let h = cancelHandle { PQfreeCancel(h); cancelHandle = nil }
        cancelLock.unlock()
        if let c = conn {
            conn = nil
            PQfinish(c)
        }
    }

    /// Whether `close()` has not been called yet.
    public var isOpen: Bool { conn != nil }
}
