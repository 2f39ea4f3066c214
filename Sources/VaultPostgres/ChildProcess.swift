public import Foundation
import VaultCore

/// A child process started with posix_spawn: stdin is /dev/null, stdout is a pipe the caller
/// reads with `read(into:)`, stderr is drained on a background thread into a bounded buffer
/// (the last 64 KiB), so the child never blocks on a full stderr pipe.
///
/// The child stays in our process group, so a Ctrl-C on the terminal reaches it too. Every
/// other descriptor is closed in the child (pipes are created close-on-exec and, where glibc
/// has it, `posix_spawn_file_actions_addclosefrom_np` closes the rest). Signal dispositions are
/// reset to their defaults, SIGPIPE included: when we stop reading — or when pgvault itself is
/// killed, even by SIGKILL, and the kernel closes our end of the pipe — the child's next write
/// gets SIGPIPE and it exits. Used from one thread at a time (except `terminate`).
public final class ChildProcess: @unchecked Sendable {
    /// The child's process id.
    public let pid: pid_t
    /// The executable that was started.
    public let executable: String
    private var stdoutFD: Int32
    /// The stdout pipe holds 1 MiB (F_SETPIPE_SZ took): reads can afford to wait for it to fill.
    private let bigPipe: Bool
    /// The last read returned less than `batch` bytes.
    private var lastShort = false
    private static let batch = 128 * 1024
    private let stderrBuffer: StderrCollector
    private let lock = NSLock()
    private var result: (status: Int32, signal: Int32?, stderr: String)?

    /// How much of the child's stderr is kept (the end of it).
    public static let stderrLimit = 64 * 1024

    private init(pid: pid_t, executable: String, stdoutFD: Int32, bigPipe: Bool, stderr: StderrCollector) {
        self.pid = pid; self.executable = executable; self.stdoutFD = stdoutFD; self.bigPipe = bigPipe
        self.stderrBuffer = stderr
    }

    /// Starts `executable` (an absolute path) with `arguments` (without argv[0]) and exactly
    /// `environment` as its environment.
    /// - Throws: `VaultError(.pgDumpFailed)` (`.pgDumpMissing` when the file does not exist).
    public static func spawn(executable: String, arguments: [String], environment: [String: String]) throws -> ChildProcess {
        let out = try makePipe()
        // A 1 MiB pipe (F_SETPIPE_SZ, Linux; best effort) instead of 64 KiB: see `read(into:)`.
        let bigPipe = fcntl(out.w, 1031 /* F_SETPIPE_SZ */, Int32(1 << 20)) >= 1 << 19
        let err: (r: Int32, w: Int32)
        do { err = try makePipe() } catch { Glibc.close(out.r); Glibc.close(out.w); throw error }
        defer { Glibc.close(out.w); Glibc.close(err.w) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out.w, 1)
        posix_spawn_file_actions_adddup2(&actions, err.w, 2)
        if let closefrom = Syscalls.addClosefrom {
            _ = closefrom(&actions, 3)
        }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
        if rc != 0 {
            Glibc.close(out.r); Glibc.close(err.r)
            let text = String(cString: strerror(rc))
            if rc == ENOENT {
                throw VaultError(.pgDumpMissing, "\(executable) does not exist: install it or point --pg-bin at the directory holding it.",
                                 cause: "posix_spawn: \(text)", location: executable)
            }
            throw VaultError(.pgDumpFailed, "Cannot start \(executable): \(text). Check that it is an executable program.",
                             cause: "posix_spawn: \(text) (errno \(rc))", location: executable)
        }
        let collector = StderrCollector(fd: err.r, limit: stderrLimit)
        collector.start()
        return ChildProcess(pid: pid, executable: executable, stdoutFD: out.r, bigPipe: bigPipe, stderr: collector)
    }

    /// Reads what the child wrote to stdout into `buffer`; blocks until some data is there.
    /// Returns 0 at end of file (the child closed stdout or exited).
    ///
    /// pg_dump writes a few KiB at a time: reading each write as it lands costs two context
    /// switches per write (130,000 for 400 MB). So after a short read, with a 1 MiB pipe, wait a
    /// millisecond and let the pipe fill (pg_dump produces ~200 KB in that time, far from
    /// blocking on the pipe); large reads follow.
    /// - Throws: `VaultError(.io)` on a read error.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard stdoutFD >= 0, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        if bigPipe && lastShort { usleep(1000) }
        while true {
            let n = Glibc.read(stdoutFD, base, buffer.count)
            lastShort = n > 0 && n < min(buffer.count, Self.batch)
            if n >= 0 { return n }
            let e = errno
            if e == EINTR { continue }
            throw VaultError.posix("read from \(executable)", path: executable, errno: e)
        }
    }

    /// Reads stdout to its end (for small outputs: version strings, tests).
    public func readAll() throws -> Data {
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try buf.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return data }
            data.append(contentsOf: buf[0..<n])
        }
    }

    /// Closes our end of the stdout pipe: the child's next write fails with SIGPIPE / EPIPE.
    public func closeOutput() {
        if stdoutFD >= 0 { Glibc.close(stdoutFD); stdoutFD = -1 }
    }

    /// Waits for the child to exit and returns its exit status (or -1 when killed), the
    /// signal that killed it, and the end of its stderr. Closes our end of stdout.
    /// Calling it again returns the same result.
    @discardableResult
    public func wait() -> (status: Int32, signal: Int32?, stderr: String) {
        lock.lock()
        if let result { lock.unlock(); return result }
        lock.unlock()
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 {
            if errno != EINTR { raw = 0x7f00; break }   // not ours / already reaped: report as failure
        }
        closeOutput()
        let stderr = stderrBuffer.finish()
        let sig = raw & 0x7f
        let r: (status: Int32, signal: Int32?, stderr: String) = sig == 0 ? ((raw >> 8) & 0xff, nil, stderr) : (-1, sig, stderr)
        lock.lock(); result = r; lock.unlock()
        return r
    }

    /// Sends `signal` to the child unless it has already been waited for.
    public func terminate(signal: Int32 = SIGTERM) {
        lock.lock(); defer { lock.unlock() }
        if result == nil { kill(pid, signal) }
    }

    /// Whether `wait()` has already collected the child.
    public var hasExited: Bool { lock.lock(); defer { lock.unlock() }; return result != nil }

    deinit {
        // Never leave a zombie or an orphan: a child nobody waited for is killed.
        if result == nil {
            closeOutput()
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            _ = stderrBuffer.finish()
        }
    }

    static func makePipe() throws -> (r: Int32, w: Int32) {
        var fds: [Int32] = [-1, -1]
        if let pipe2 = Syscalls.pipe2 {
            if pipe2(&fds, O_CLOEXEC) != 0 { throw VaultError.posix("pipe2", path: "pipe", errno: errno) }
        } else {
            // Fallback (no pipe2): a concurrent fork could inherit these; closefrom in the child
            // still keeps our own children clean.
            if pipe(&fds) != 0 { throw VaultError.posix("pipe", path: "pipe", errno: errno) }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }
}

/// Linux calls Swift's Glibc module does not import (they need _GNU_SOURCE), looked up at run time.
enum Syscalls {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    static let pipe2: Pipe2? = lookup("pipe2")
    static let addClosefrom: AddClosefrom? = lookup("posix_spawn_file_actions_addclosefrom_np")

    private static func lookup<T>(_ name: String) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else { return nil }
        return unsafeBitCast(sym, to: T.self)
    }
}

/// Drains a pipe on its own thread, keeping only the last `limit` bytes.
final class StderrCollector: @unchecked Sendable {
    private let fd: Int32
    private let limit: Int
    private let cond = NSCondition()
    private var data = Data()
    private var done = false
    private var started = false

    init(fd: Int32, limit: Int) { self.fd = fd; self.limit = limit }

    func start() {
        started = true
        let t = Thread { [self] in self.run() }
        t.name = "pgvault-stderr"
        t.start()
    }

    private func run() {
        var buf = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            cond.lock()
            data.append(contentsOf: buf[0..<n])
            if data.count > 2 * limit { data = Data(data.suffix(limit)) }
            cond.unlock()
        }
        Glibc.close(fd)
        cond.lock(); done = true; cond.broadcast(); cond.unlock()
    }

    /// Waits for end of file and returns the kept text.
    func finish() -> String {
        cond.lock(); defer { cond.unlock() }
        while started && !done { cond.wait() }
        return String(decoding: data.suffix(limit), as: UTF8.self)
    }
}
