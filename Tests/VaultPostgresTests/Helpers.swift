import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

/// SQL identifier quoting for test set-up statements.
func ident(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
/// SQL literal quoting for test set-up statements (standard_conforming_strings is on).
func lit(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

/// A database of its own for one test, created on the test server and dropped by `drop()`.
struct TestDB {
    let base: String
    let name: String

    init(_ prefix: String, name: String? = nil) throws {
        base = try TestEnvironment.postgresConninfo()
        self.name = name ?? TestEnvironment.uniqueName(prefix)
        try Shell.psql(base, "CREATE DATABASE \(ident(self.name)) TEMPLATE template0")
    }

    /// Runs SQL inside this database with psql.
    @discardableResult
    func psql(_ sql: String) throws -> String {
        try Shell.psql(Shell.conninfo(base, database: name), sql)
    }

    var conninfo: String { Shell.conninfo(base, database: name) }

    func drop() {
        _ = try? Shell.psql(base, "DROP DATABASE IF EXISTS \(ident(name)) WITH (FORCE)")
    }
}

func baseInfo() throws -> ConnInfo { try ConnInfo(TestEnvironment.postgresConninfo()) }

/// Runs `body`, expecting a VaultError, and returns it.
func vaultError(_ body: () throws -> Void) -> VaultError? {
    do { try body() } catch let e as VaultError { return e } catch { Issue.record("unexpected error \(error)") }
    return nil
}
