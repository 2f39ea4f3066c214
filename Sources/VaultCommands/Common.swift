import ArgumentParser
import Foundation
import Logging
import VaultCore
import VaultFormat
import VaultStorage

/// `--vault` shared by every command that opens a vault.
struct VaultOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The vault: a directory or s3://bucket/prefix (default: $PGVAULT_VAULT).", valueName: "path|url"))
    var vault: String?

    @OptionGroup var s3: S3Options

    func location() throws -> String {
        if let vault, !vault.isEmpty { return vault }
        if let env = ProcessInfo.processInfo.environment["PGVAULT_VAULT"], !env.isEmpty { return env }
        throw VaultError(.invalidArgument, "No vault given: pass --vault PATH or set PGVAULT_VAULT.")
    }

    func open() throws -> Vault {
        try StorageFactory.open(try location(), s3: s3)
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document on standard output instead of text.")
    var json = false
}

enum Output {
    static func stdout(_ s: String) {
        FileHandle.standardOutput.write(Data((s.hasSuffix("\n") ? s : s + "\n").utf8))
    }

    static func stderr(_ s: String) {
        FileHandle.standardError.write(Data((s.hasSuffix("\n") ? s : s + "\n").utf8))
    }

    /// Writes `bytes` to standard output as they are (large outputs, written in pieces).
    static func writeStdout(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        guard let base = bytes.baseAddress else { return }
        var off = 0
        while off < bytes.count {
            let n = write(STDOUT_FILENO, base + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw VaultError.posix("write", path: "standard output", errno: errno)
            }
            off += n
        }
    }

    static func json<T: Encodable>(_ value: T) throws {
        var data = try VaultJSON.encode(value)
        data.append(0x0a)
        FileHandle.standardOutput.write(data)
    }

    /// Errors go to stderr as text; with --json also as `{"error": {...}}` on stdout.
    static func printError(_ e: VaultError, json: Bool) {
        if json {
            struct Wrapper: Encodable { let error: ErrorRecord; let exitCode: Int32 }
            try? Output.json(Wrapper(error: e.record, exitCode: e.exitCode.rawValue))
        }
        stderr("pgvault: " + e.description)
    }

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// `2026-11-25 17:01:02Z`
    static func shortDate(_ d: Date) -> String {
        let s = Timestamp.rfc3339(d)
        return String(s.prefix(19)).replacingOccurrences(of: "T", with: " ") + "Z"
    }

    /// Left-aligned text table.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// Runs `body`, turning a `VaultError` into the documented exit code (and JSON when asked).
func runReportingErrors(json: Bool, _ body: () throws -> Int32) throws {
    let code: Int32
    do { code = try body() }
    catch let e as VaultError {
        Output.printError(e, json: json)
        throw ArgumentParser.ExitCode(e.exitCode.rawValue)
    }
    if code != 0 { throw ArgumentParser.ExitCode(code) }
}

func makeLogger(level defaultLevel: Logger.Level = .warning) -> Logger {
    var logger = Logger(label: "pgvault") { label in
        StreamLogHandler.standardError(label: label)
    }
    let level = ProcessInfo.processInfo.environment["PGVAULT_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? defaultLevel
    logger.logLevel = level
    return logger
}

func parseSize(_ text: String, option: String) throws -> Int64 {
    guard let v = ByteSize.parse(text), v > 0 else {
        throw ValidationError("\(option): \"\(text)\" is not a size; write e.g. 1TiB, 500MB, 64MiB or a number of bytes.")
    }
    return v
}

/// Help texts as the argument parser shows them.
enum Help {
    /// `text` with each paragraph's lines joined into one: the parser wraps every line at the
    /// terminal's width (80 columns when not a terminal), so lines broken in the source at
    /// ~95 columns came out ragged. Indented lines (examples, tables) and blank lines stay as
    /// they are; keep those within 80 columns.
    static func reflow(_ text: String) -> String {
        var out: [String] = []
        var joinable = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let indented = line.first == " "
            if joinable && !indented && !line.isEmpty, let last = out.popLast() {
                out.append(last + " " + line)
            } else {
                out.append(String(line))
            }
            joinable = !indented && !line.isEmpty
        }
        return out.joined(separator: "\n")
    }
}
