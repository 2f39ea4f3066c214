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

    /// Refuses a conninfo whose secrets cannot reach a child process safely.
    public static func checkPassable(_ conn: ConnInfo) throws {
        if conn.options["sslpassword"] != nil {
            throw VaultError(.invalidArgument,
                "sslpassword in --conninfo cannot be handed to pg_dump without showing it on its command line: put it in a pg_service.conf entry and use service=NAME, or use a client key without a passphrase.")
        }
    }

    /// The child's conninfo and environment. A password from the conninfo goes to the child as
    /// `PGPASSWORD` in its environment only: never on its command line, and never in a file
    /// that a SIGKILL could leave behind. (`/proc/PID/environ` is readable by the same user and
    /// root only.) It beats any PGPASSWORD / passfile of our own environment, as in psql.
    static func prepare(conn: ConnInfo, database: String?, environment: [String: String])
        throws -> (String, [String: String], @Sendable () -> Void) {
        var env = environment
        try checkPassable(conn)
        guard let password = conn.password else {
            return (conn.connectionString(database: database, includePassword: false), env, {})
        }
        let connArg = conn.setting("passfile", nil).connectionString(database: database, includePassword: false)
        env["PGPASSWORD"] = password
        env.removeValue(forKey: "PGPASSFILE")
        return (connArg, env, {})
    }
}
