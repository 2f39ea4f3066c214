public import Foundation

/// Runs a program to completion and captures its output. For tests only.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var stdoutData: Data
}

public enum Shell {
    /// Runs `executable` with `arguments`; `environment` entries are added to the current environment.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           removing: [String] = [], stdin: Data? = nil, cwd: URL? = nil) throws -> RunResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for k in removing { env.removeValue(forKey: k) }
        for (k, v) in environment { env[k] = v }
        p.environment = env
        if let cwd { p.currentDirectoryURL = cwd }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        if let stdin { inPipe.fileHandleForWriting.write(stdin) }
        try? inPipe.fileHandleForWriting.close()
        // Drain both pipes concurrently so neither can fill up and block the child.
        let box = DataBox()
        let t = Thread { box.set(err.fileHandleForReading.readDataToEndOfFile()) }
        t.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let e = box.wait()
        return RunResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                         stderr: String(decoding: e, as: UTF8.self), stdoutData: o)
    }

    /// psql -X -v ON_ERROR_STOP=1 against `conninfo`, returns stdout (-At).
    @discardableResult
    public static func psql(_ conninfo: String, _ sql: String) throws -> String {
        let r = try run("/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", conninfo, "-c", sql])
        guard r.status == 0 else { throw ShellError(description: "psql failed (\(r.status)): \(r.stderr)\nSQL: \(sql)") }
        return r.stdout
    }

    /// Conninfo for `database` on the test server (appends a dbname that overrides the base one).
    public static func conninfo(_ base: String, database: String) -> String {
        let q = database.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        return "\(base) dbname='\(q)'"
    }
}

public struct ShellError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

final class DataBox: @unchecked Sendable {
    private let cond = NSCondition()
    private var data: Data?
    func set(_ d: Data) { cond.lock(); data = d; cond.broadcast(); cond.unlock() }
    func wait() -> Data { cond.lock(); defer { cond.unlock() }; while data == nil { cond.wait() }; return data ?? Data() }
}
