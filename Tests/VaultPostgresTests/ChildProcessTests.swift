import Foundation
import Testing
import VaultCore
import VaultPostgres
import VaultTestSupport

@Suite struct ChildProcessTests {
    let env = ProcessInfo.processInfo.environment

    @Test func readsStdoutAndExitStatus() throws {
        let c = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", "printf 'hello %s' \"$GREETING\"; echo oops >&2; exit 3"],
                                       environment: ["GREETING": "world", "PATH": "/usr/bin:/bin"])
        let out = try c.readAll()
        let r = c.wait()
        #expect(String(decoding: out, as: UTF8.self) == "hello world")
        #expect(r.status == 3)
        #expect(r.signal == nil)
        #expect(r.stderr == "oops\n")
        #expect(c.wait().status == 3)   // idempotent
        #expect(c.hasExited)
    }

    @Test func stdinIsDevNull() throws {
        let c = try ChildProcess.spawn(executable: "/bin/cat", arguments: [], environment: env)
        #expect(try c.readAll().isEmpty)
        #expect(c.wait().status == 0)
    }

    @Test func stderrIsBoundedAndNeverBlocksTheChild() throws {
        // 1 MiB on stderr before anything on stdout: the child would block on a full pipe if
        // nobody drained it.
        let c = try ChildProcess.spawn(executable: "/bin/sh",
            arguments: ["-c", "head -c 1048576 /dev/zero | tr '\\0' x >&2; printf END >&2; echo done"], environment: env)
        let out = try c.readAll()
        let r = c.wait()
        #expect(String(decoding: out, as: UTF8.self) == "done\n")
        #expect(r.status == 0)
        #expect(r.stderr.utf8.count == ChildProcess.stderrLimit)
        #expect(r.stderr.hasSuffix("xxxEND"))
    }

    @Test func terminateSendsTheSignal() throws {
        let c = try ChildProcess.spawn(executable: "/bin/sleep", arguments: ["30"], environment: env)
        c.terminate()
        let r = c.wait()
        #expect(r.signal == SIGTERM)
        #expect(r.status == -1)
        c.terminate()   // harmless after wait
    }

    @Test func closingTheReaderKillsTheChildWithSIGPIPE() throws {
        // What happens when pgvault dies (even SIGKILL): the kernel closes our read end.
        let c = try ChildProcess.spawn(executable: "/usr/bin/yes", arguments: ["data"], environment: env)
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = try buf.withUnsafeMutableBytes { try c.read(into: $0) }
        #expect(n > 0)
        c.closeOutput()
        let r = c.wait()
        #expect(r.signal == SIGPIPE)
    }

    @Test func childHoldsOnlyStandardDescriptors() throws {
        // Two children at once: neither may inherit the other's pipes (that would keep a pipe
        // open after its reader died).
        let a = try ChildProcess.spawn(executable: "/bin/sleep", arguments: ["30"], environment: env)
        let b = try ChildProcess.spawn(executable: "/bin/sleep", arguments: ["30"], environment: env)
        defer { a.terminate(); b.terminate(); a.wait(); b.wait() }
        for c in [a, b] {
            // The new program may hold a descriptor for a moment while it starts (locale files):
            // a leaked pipe stays, so look until the set settles (or a second has passed).
            var fds: [String] = []
            for _ in 0..<20 {
                fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(c.pid)/fd").sorted()
                if fds == ["0", "1", "2"] { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            #expect(fds == ["0", "1", "2"])
            let stdin = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(c.pid)/fd/0")
            #expect(stdin == "/dev/null")
        }
    }

    @Test func missingExecutableIsReported() throws {
        let e = vaultError { _ = try ChildProcess.spawn(executable: "/nonexistent/pg_dump", arguments: [], environment: env) }
        #expect(e?.code == .pgDumpMissing)
        #expect(e?.location == "/nonexistent/pg_dump")
    }
}
