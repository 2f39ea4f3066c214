public import Foundation
import CLibArchive
import VaultCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Restores into one tar archive (POSIX pax, restricted: plain ustar headers unless a name or
/// size needs a pax extension), written through libarchive. The compression follows the file
/// name: `.tar` (none), `.tar.zst` / `.tzst` (zstd), `.tar.gz` / `.tgz` (gzip).
///
/// The archive is written to `PATH.partial` (created exclusively, mode 0600) and only
/// `finish()` closes it, fsyncs it and renames it to `PATH` without overwriting. `abort()`
/// deletes `PATH.partial`, so a failed restore leaves no archive at all.
///
/// Entries are regular files, mode 0644, owner "pgvault"/"pgvault" (uid/gid 0), with the
/// modification time given to `init` (default: when the sink was made), in whole seconds.
public final class TarSink: RestoreSink {
    /// Compression applied to the tar stream.
    public enum Compression: String, Sendable, Equatable {
        /// Plain `.tar`.
        case none
        /// `.tar.zst` / `.tzst`.
        case zstd
        /// `.tar.gz` / `.tgz`.
        case gzip

        /// The compression a file name asks for, or nil when it is not a tar name pgvault writes.
        public init?(fileName: String) {
            let n = fileName.lowercased()
            if n.hasSuffix(".tar") { self = .none }
            else if n.hasSuffix(".tar.zst") || n.hasSuffix(".tzst") { self = .zstd }
            else if n.hasSuffix(".tar.gz") || n.hasSuffix(".tgz") { self = .gzip }
            else { return nil }
        }
    }

    /// The absolute path of the archive once finished.
    public let path: String
    /// The compression chosen from the file name.
    public let compression: Compression
    private let partialPath: String
    private let mtime: Date
    private var archive: OpaquePointer?
    private var fd: Int32
    /// Whether this sink created `partialPath` (and so may delete it).
    private var ownsPartial = false
    private var current: Current?
    private var state: State = .open
    private var names: Set<String> = []

    private struct Current {
        var name: String
        var size: Int64
        var written: Int64
    }
    private enum State { case open, finished, aborted }

    /// Opens a new archive at `path` (which must not exist: `.targetExists`), writing to
    /// `PATH.partial` until `finish()`. `mtime` is the modification time of every entry.
    public init(path: String, mtime: Date = Date()) throws {
        let abs = FS.absolute(path)
        guard let compression = Compression(fileName: abs) else {
            throw VaultError(.invalidArgument,
                "\(abs): a tar restore target must end in .tar, .tar.zst (or .tzst) or .tar.gz (or .tgz).",
                location: abs)
        }
        self.path = abs
        self.compression = compression
        self.partialPath = abs + ".partial"
        self.mtime = mtime
        self.fd = -1
        if FS.exists(abs) {
            throw VaultError(.targetExists,
                "\(abs) already exists: restore never overwrites; choose a new file name",
                location: abs)
        }
        let parent = FS.parent(abs)
        var st = stat()
        guard stat(parent, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw VaultError(.invalidArgument,
                "The directory \(parent) for the archive \(abs) does not exist: create it first.",
                location: parent)
        }
        let f = open(partialPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if f < 0 {
            let e = errno
            if e == EEXIST {
                throw VaultError(.targetExists,
                    "\(partialPath) exists, probably left by an interrupted restore (or one still running): remove it if no restore is running, then run the command again.",
                    location: partialPath)
            }
            throw FS.error("create", path: partialPath, errno: e)
        }
        fd = f
        ownsPartial = true
        do { try withUTF8Locale {
            guard let a = archive_write_new() else {
                throw VaultError(.internalError, "libarchive could not allocate a writer (out of memory?).", location: abs)
            }
            archive = a
            try check(archive_write_set_format_pax_restricted(a), "set the tar format")
            switch compression {
            case .none: break
            case .zstd: try check(archive_write_add_filter_zstd(a), "enable zstd compression")
            case .gzip: try check(archive_write_add_filter_gzip(a), "enable gzip compression")
            }
            try check(archive_write_open_fd(a, fd), "open the archive")
        } } catch {
            abort()
            throw error
        }
    }

    deinit { abort() }

    /// The archive's final path.
    public var destination: String { path }

    /// Throws an error for a libarchive status below ARCHIVE_WARN (warnings are tolerated).
    private func check(_ status: Int32, _ what: String) throws {
        if status >= ARCHIVE_WARN { return }
        throw libarchiveError(what)
    }

    private func libarchiveError(_ what: String) -> VaultError {
        let err = archive.map { archive_errno($0) } ?? 0
        let text = archive.flatMap { archive_error_string($0) }.map { String(cString: $0) } ?? "unknown libarchive error"
        if err == ENOSPC || err == EDQUOT {
            return VaultError(.diskFull,
                "The disk holding \(path) is full: free space (or restore somewhere else) and run the restore again. The partial archive was removed.",
                cause: "\(what): \(text)", location: partialPath)
        }
        return VaultError(.io, "Writing the tar archive \(path) failed: could not \(what).",
                          cause: "libarchive: \(text)\(err != 0 ? " (errno \(err))" : "")", location: partialPath)
    }

    /// Writes the tar header of a regular file `name` of `size` bytes.
    public func beginFile(name: String, size: Int64) throws {
        guard state == .open, current == nil, let a = archive else {
            let e = SinkMisuse.error(state == .open ? "beginFile(\(name)) while \(current?.name ?? "?") is still open"
                                                     : "beginFile(\(name)) after the restore was finished or aborted",
                                     location: path)
            abort(); throw e
        }
        do { try FS.validate(name: name) } catch { abort(); throw error }
        guard size >= 0 else {
            let e = SinkMisuse.error("negative size \(size) for \(name)", location: path); abort(); throw e
        }
        guard hasUTF8Locale || name.utf8.allSatisfy({ $0 < 0x80 }) else {
            throw VaultError(.io,
                "Cannot store the name \(name) in a tar archive: this system has no UTF-8 locale (C.UTF-8) for libarchive. Restore to a directory instead, or install a UTF-8 locale.",
                location: path)
        }
        guard !names.contains(name) else {
            throw VaultError(.targetExists,
                "\(name) is already in the archive \(path): restore never writes a name twice.",
                location: path)
        }
        guard let entry = archive_entry_new() else {
            throw VaultError(.internalError, "libarchive could not allocate an entry (out of memory?).", location: path)
        }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname_utf8(entry, name)
        archive_entry_set_filetype(entry, 0o100000)  // AE_IFREG, not imported into Swift
        archive_entry_set_perm(entry, 0o644)
        archive_entry_set_size(entry, size)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        archive_entry_set_uname_utf8(entry, "pgvault")
        archive_entry_set_gname_utf8(entry, "pgvault")
        // Whole seconds: a sub-second time would cost a pax extended header per entry.
        archive_entry_set_mtime(entry, time_t(mtime.timeIntervalSince1970.rounded(.down)), 0)
        try withUTF8Locale { try check(archive_write_header(a, entry), "write the header of \(name)") }
        names.insert(name)
        current = Current(name: name, size: size, written: 0)
    }

    /// Streams `bytes` into the current entry.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var c = current, let a = archive else {
            let e = SinkMisuse.error("write without beginFile", location: path); abort(); throw e
        }
        guard Int64(bytes.count) <= c.size - c.written else {
            let e = SinkMisuse.error("\(c.name) is announced as \(c.size) bytes but more were written (\(c.written) + \(bytes.count))",
                                     location: path)
            abort(); throw e
        }
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = archive_write_data(a, p, left)
            if n < 0 { throw libarchiveError("write \(c.name)") }
            if n == 0 {
                throw VaultError(.io, "Writing the tar archive \(path) failed: libarchive accepted no bytes of \(c.name).",
                                 location: partialPath)
            }
            p += n
            left -= n
            c.written += Int64(n)
            current = c
        }
    }

    /// Completes the current entry (it must have received exactly its announced size).
    public func finishFile() throws {
        guard let c = current, let a = archive else {
            let e = SinkMisuse.error("finishFile without beginFile", location: path); abort(); throw e
        }
        guard c.written == c.size else {
            let e = SinkMisuse.error("\(c.name) is announced as \(c.size) bytes but only \(c.written) were written",
                                     location: path)
            abort(); throw e
        }
        try check(archive_write_finish_entry(a), "finish \(c.name)")
        current = nil
    }

    /// Writes the tar trailer, flushes the compressor, fsyncs `PATH.partial` and renames it to
    /// `PATH` without overwriting (`.targetExists` if `PATH` appeared meanwhile).
    public func finish() throws {
        guard state == .open, current == nil, let a = archive else {
            let e = SinkMisuse.error(state == .open ? "finish while \(current?.name ?? "?") is still open"
                                                     : "finish after the restore was finished or aborted",
                                     location: path)
            abort(); throw e
        }
        try check(archive_write_close(a), "close the archive")
        archive_write_free(a)
        archive = nil
        try FS.fsync(fd, path: partialPath)
        let f = fd
        fd = -1
        if close(f) != 0 {
            let e = errno
            if e != EINTR { throw FS.error("close", path: partialPath, errno: e) }
        }
        try FS.renameNoReplace(dirfd: AT_FDCWD, partialPath, path, displayPath: path)
        ownsPartial = false
        state = .finished
        try? FS.fsyncDirectory(FS.parent(path))
    }

    /// Discards the archive: frees the libarchive writer without writing a trailer and deletes
    /// `PATH.partial`.
    public func abort() {
        guard state == .open else { return }
        state = .aborted
        current = nil
        if let a = archive {
            archive_write_fail(a)  // free() must not try to write a trailer
            archive_write_free(a)
            archive = nil
        }
        if fd >= 0 { close(fd); fd = -1 }
        if ownsPartial { _ = unlink(partialPath); ownsPartial = false }
    }
}
