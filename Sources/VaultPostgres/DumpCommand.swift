public import Foundation
import VaultCore

/// What to run for one pg_dump or pg_dumpall: the program, its arguments and environment.
/// A password from the conninfo never appears on the command line: it goes into a private
/// temporary password file (mode 0600 in a 0700 directory) named by `PGPASSFILE`; call
/// `cleanup` once the child has exited.
public struct DumpCommand: Sendable {
    /// The program to run (absolute path).
    public var executable: String
    /// Its arguments (without argv[0]); never holds a password.
    public var arguments: [String]
    /// The complete environment for the child (ours, plus PGPASSFILE when needed).
    public var environment: [String: String]
    /// Removes the temporary password file, if any. Safe to call more than once.
    public var cleanup: @Sendable () -> Void

    /// Which globals `pg_dumpall` should produce.
    public enum Globals: String, Sendable {
        /// `pg_dumpall --roles-only`.
        case roles
        /// `pg_dumpall --tablespaces-only`.
        case tablespaces
    }

    /// `pg_dump --format=custom --compress=0 --no-password [--snapshot=ID] --dbname=<conninfo>`
    /// for `database`: an uncompressed custom-format archive on stdout (compression would
    /// defeat dedup).
    public static func pgDump(tools: PgTools, conn: ConnInfo, database: String, snapshot: String?,
                              environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DumpCommand {
        var args = ["--format=custom", "--compress=0", "--no-password"]
        if let snapshot { args.append("--snapshot=\(snapshot)") }
        let (connArg, env, cleanup) = try prepare(conn: conn, database: database, environment: environment)
        args.append("--dbname=\(connArg)")
        return DumpCommand(executable: tools.pgDump, arguments: args, environment: env, cleanup: cleanup)
    }

    /// `pg_dumpall --roles-only|--tablespaces-only [--no-role-passwords] --no-password --dbname=<conninfo>`.
    /// `noRolePasswords` is for managed services where pg_authid cannot be read.
    public static func pgDumpAllGlobals(tools: PgTools, conn: ConnInfo, globals: Globals, noRolePasswords: Bool,
                                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DumpCommand {
        var args = [globals == .roles ? "--roles-only" : "--tablespaces-only"]
        if noRolePasswords && globals == .roles { args.append("--no-role-passwords") }
        args.append("--no-password")
        let (connArg, env, cleanup) = try prepare(conn: conn, database: nil, environment: environment)
        if !connArg.isEmpty { args.append("--dbname=\(connArg)") }
        return DumpCommand(executable: tools.pgDumpAll, arguments: args, environment: env, cleanup: cleanup)
    }

    /// `pgDumpAllGlobals(globals: roles ? .roles : .tablespaces, ...)`.
    public static func pgDumpAllGlobals(tools: PgTools, conn: ConnInfo, roles: Bool, noRolePasswords: Bool,
                                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DumpCommand {
        try pgDumpAllGlobals(tools: tools, conn: conn, globals: roles ? .roles : .tablespaces,
                             noRolePasswords: noRolePasswords, environment: environment)
    }

    /// Starts the command.
    public func spawn() throws -> ChildProcess {
        try ChildProcess.spawn(executable: executable, arguments: arguments, environment: environment)
    }

    static func prepare(conn: ConnInfo, database: String?, environment: [String: String])
        throws -> (String, [String: String], @Sendable () -> Void) {
        var env = environment
        guard let password = conn.password else {
            return (conn.connectionString(database: database, includePassword: false), env, {})
        }
        // Our password file must be the one libpq reads, and the explicit password must beat PGPASSWORD.
        let connArg = conn.setting("passfile", nil).connectionString(database: database, includePassword: false)
        env.removeValue(forKey: "PGPASSWORD")
        let dir = try makePrivateDirectory()
        let file = (dir as NSString).appendingPathComponent("pgpass")
        let escaped = password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
        let line = "*:*:*:*:\(escaped)\n"
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let e = errno
            try? FileManager.default.removeItem(atPath: dir)
            throw VaultError.posix("create password file", path: file, errno: e)
        }
        let bytes = Array(line.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else {
            try? FileManager.default.removeItem(atPath: dir)
            throw VaultError(.io, "Cannot write the temporary password file in \(dir): check the free space of the temporary directory (TMPDIR).", location: dir)
        }
        env["PGPASSFILE"] = file
        return (connArg, env, { try? FileManager.default.removeItem(atPath: dir) })
    }

    static func makePrivateDirectory() throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base as NSString).appendingPathComponent("pgvault-pass-XXXXXX").utf8CString)
        let ok = template.withUnsafeMutableBufferPointer { b in b.baseAddress.map { mkdtemp($0) != nil } ?? false }   // mkdtemp makes it 0700
        guard ok else { throw VaultError.posix("mkdtemp", path: base, errno: errno) }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
