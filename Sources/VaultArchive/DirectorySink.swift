import Foundation
import CSystemShims
import VaultCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Restores into a directory that does not exist yet (it is created with mode 0700) or is
/// empty. Each file is written as `.NAME.partial` (created exclusively, mode 0600), fsynced,
/// and renamed to `NAME` without overwriting; the directory is fsynced after each rename.
///
/// On `abort()` the partial file is deleted; finished files stay (see `RestoreSink.abort()`).
/// A directory this sink created is left in place even if empty.
public final class DirectorySink: RestoreSink {
    /// The absolute path of the target directory.
    public let path: String
    private var dirfd: Int32
    private var current: Current?
    private var state: State = .open
    private var names: Set<String> = []

    private struct Current {
        var name: String
        var partial: String
        var fd: Int32
        var size: Int64
        var written: Int64
    }
    private enum State { case open, finished, aborted }

    /// Opens `path` for a restore: creates it (0700, creating missing parents) if it does not
    /// exist, accepts it if it is an empty directory, and throws `.targetExists` otherwise.
    public init(path: String) throws {
        let abs = FS.absolute(path)
        self.path = abs
        var st = stat()
        if stat(abs, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw VaultError(.targetExists,
                    "\(abs) exists and is not a directory: restore never overwrites; choose a new or empty directory",
                    location: abs)
            }
            let entries: [String]
            do { entries = try FileManager.default.contentsOfDirectory(atPath: abs) }
            catch {
                throw VaultError(.io, "Cannot list \(abs) to check that it is empty.", cause: "\(error)", location: abs)
            }
            guard entries.isEmpty else {
                throw VaultError(.targetExists,
                    "\(abs) is not empty: restore never overwrites; choose a new or empty directory",
                    cause: "it holds \(entries.count) entr\(entries.count == 1 ? "y" : "ies"), e.g. \(entries.sorted()[0])",
                    location: abs)
            }
        } else {
            let e = errno
            guard e == ENOENT else { throw FS.error("stat", path: abs, errno: e) }
            let parent = FS.parent(abs)
            if !FS.exists(parent) {
                do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
                catch {
                    throw VaultError(.io, "Cannot create the parent directory \(parent) of the restore target.",
                                     cause: "\(error)", location: parent)
                }
            }
            if mkdir(abs, 0o700) != 0 {
                let e = errno
                if e == EEXIST {
                    throw VaultError(.targetExists,
                        "\(abs) appeared while the restore started: restore never overwrites; choose a new or empty directory",
                        location: abs)
                }
                throw FS.error("mkdir", path: abs, errno: e)
            }
            // mkdir's mode is filtered by the umask; the restore directory is private whatever it is.
            _ = chmod(abs, 0o700)
            try? FS.fsyncDirectory(parent)
        }
        let fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FS.error("open directory", path: abs, errno: errno) }
        dirfd = fd
    }

    deinit {
        abort()
        if dirfd >= 0 { close(dirfd) }
    }

    /// The target directory.
    public var destination: String { path }

    private func display(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }

    /// Creates `.NAME.partial` (exclusively, mode 0600) for a file of `size` bytes.
    public func beginFile(name: String, size: Int64) throws {
        guard state == .open, current == nil else {
            let e = SinkMisuse.error(state == .open ? "beginFile(\(name)) while \(current?.name ?? "?") is still open"
                                                     : "beginFile(\(name)) after the restore was finished or aborted",
                                     location: display(name))
            abort(); throw e
        }
        do { try FS.validate(name: name) } catch { abort(); throw error }
        guard size >= 0 else {
            let e = SinkMisuse.error("negative size \(size) for \(name)", location: display(name)); abort(); throw e
        }
        guard !names.contains(name) else {
            throw FS.error("create", path: display(name), errno: EEXIST)
        }
        let partial = "." + name + ".partial"
        let fd = openat(dirfd, partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 { throw FS.error("create", path: display(partial), errno: errno) }
        current = Current(name: name, partial: partial, fd: fd, size: size, written: 0)
    }

    /// Appends `bytes` to the current file.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var c = current else {
            let e = SinkMisuse.error("write without beginFile", location: path); abort(); throw e
        }
        guard Int64(bytes.count) <= c.size - c.written else {
            let e = SinkMisuse.error("\(c.name) is announced as \(c.size) bytes but more were written (\(c.written) + \(bytes.count))",
                                     location: display(c.name))
            abort(); throw e
        }
        try FS.writeAll(c.fd, bytes, path: display(c.partial))
        let before = c.written
        c.written += Int64(bytes.count)
        current = c
        // Start writing back each 16 MiB as soon as it is complete (best effort), so that the
        // fsync in finishFile waits for the last few MiB, not for the whole file.
        let step: Int64 = 16 << 20
        if c.written / step > before / step {
            let end = c.written / step * step
            _ = pgv_start_writeback(c.fd, end - step, step)
        }
    }

    /// fsyncs the current file, closes it and renames `.NAME.partial` to `NAME` without
    /// overwriting (`.targetExists` if `NAME` exists).
    public func finishFile() throws {
        guard let c = current else {
            let e = SinkMisuse.error("finishFile without beginFile", location: path); abort(); throw e
        }
        guard c.written == c.size else {
            let e = SinkMisuse.error("\(c.name) is announced as \(c.size) bytes but only \(c.written) were written",
                                     location: display(c.name))
            abort(); throw e
        }
        try FS.fsync(c.fd, path: display(c.partial))
        if close(c.fd) != 0 {
            let e = errno
            current?.fd = -1
            if e != EINTR { throw FS.error("close", path: display(c.partial), errno: e) }
        }
        current?.fd = -1
        try FS.renameNoReplace(dirfd: dirfd, c.partial, c.name, displayPath: display(c.name))
        current = nil
        names.insert(c.name)
        try FS.fsync(dirfd, path: path)
    }

    /// Syncs the directory; the restore is complete.
    public func finish() throws {
        guard state == .open, current == nil else {
            let e = SinkMisuse.error(state == .open ? "finish while \(current?.name ?? "?") is still open"
                                                     : "finish after the restore was finished or aborted",
                                     location: path)
            abort(); throw e
        }
        try FS.fsync(dirfd, path: path)
        state = .finished
    }

    /// Deletes the partial file being written, if any; finished files stay.
    public func abort() {
        guard state == .open else { return }
        state = .aborted
        if let c = current {
            if c.fd >= 0 { close(c.fd) }
            _ = unlinkat(dirfd, c.partial, 0)
            current = nil
        }
    }
}
