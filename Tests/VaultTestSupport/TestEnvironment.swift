public import Foundation

/// What the test run was given by scripts/test.sh. Tests that need PostgreSQL call
/// `TestEnvironment.postgresConninfo()`, which *fails* (never skips) when it is missing.
public enum TestEnvironment {
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    /// Conninfo of the throwaway PostgreSQL 15 started by scripts/test.sh
    /// (`PGVAULT_TEST_CONNINFO`, e.g. `host=127.0.0.1 port=55432 user=postgres dbname=postgres`).
    public static func postgresConninfo() throws -> String {
        guard let c = ProcessInfo.processInfo.environment["PGVAULT_TEST_CONNINFO"], !c.isEmpty else {
            throw Missing(description: "PGVAULT_TEST_CONNINFO is not set: PostgreSQL tests need the server that scripts/test.sh starts. Run `make test` (or scripts/test.sh), not bare `swift test`.")
        }
        return c
    }

    /// A Python with the `zstandard` package, for vault/FORMAT.md's reference reader
    /// (`PGVAULT_TEST_PYTHON`: a venv scripts/test.sh makes from PyPI). Fails when missing.
    public static func referencePython() throws -> String {
        guard let p = ProcessInfo.processInfo.environment["PGVAULT_TEST_PYTHON"], !p.isEmpty else {
            throw Missing(description: "PGVAULT_TEST_PYTHON is not set: the format reader test needs the Python venv that scripts/test.sh makes. Run `make test` (or scripts/test.sh), not bare `swift test`.")
        }
        return p
    }

    /// A fresh, empty, private temporary directory.
    public static func temporaryDirectory(_ label: String = "t") throws -> URL {
        let base = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PGVAULT_TEST_TMP"] ?? NSTemporaryDirectory())
        let url = base.appendingPathComponent("pgvault-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url
    }

    /// A unique name for a test database (lower case, safe to use unquoted).
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Path of the built `pgvault` executable: `PGVAULT_BIN`, or beside the test bundle.
    public static func pgvaultBinary() throws -> String {
        if let p = ProcessInfo.processInfo.environment["PGVAULT_BIN"], !p.isEmpty { return p }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("pgvault").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw Missing(description: "pgvault binary not found: set PGVAULT_BIN or run `swift build` first")
    }
}
