import Foundation
import VaultCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small POSIX helpers shared by the sinks. Internal: the public surface is `RestoreSink`.
enum FS {
    /// Checks that `name` is a plain file name a sink may create.
    static func validate(name: String) throws {
        let bad: String?
        if name.isEmpty { bad = "is empty" }
        else if name == "." || name == ".." { bad = "is \"\(name)\"" }
        else if name.contains("/") { bad = "contains '/'" }
        else if name.utf8.contains(0) { bad = "contains a NUL byte" }
        else { bad = nil }
        if let bad {
            throw VaultError(.internalError,
                "Refusing to restore a file whose name \(bad): restore writes plain file names only. This is a bug in pgvault; please report it.",
                location: name)
        }
    }

    /// A `VaultError` for a failed POSIX call on `path`: ENOSPC/EDQUOT become `.diskFull`,
    /// EEXIST becomes `.targetExists` (restore never overwrites), the rest `.io` and friends.
    static func error(_ what: String, path: String, errno err: Int32) -> VaultError {
        if err == EEXIST {
            return VaultError(.targetExists,
                "\(path) already exists: restore never overwrites; choose a new name or remove it first.",
                cause: "\(what): \(String(cString: strerror(err)))", location: path)
        }
        if err == ENOSPC || err == EDQUOT {
            return VaultError(.diskFull,
                "The disk holding \(path) is full: free space (or restore somewhere else) and run the restore again. The partial file was removed.",
                cause: "\(what): \(String(cString: strerror(err)))", location: path)
        }
        return VaultError.posix(what, path: path, errno: err)
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = Glibc_write(fd, p, left)
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw error("write", path: path, errno: e)
            }
            if n == 0 { throw error("write", path: path, errno: EIO) }
            p += n
            left -= n
        }
    }

    /// fsync(2), retrying EINTR.
    static func fsync(_ fd: Int32, path: String) throws {
        while sysFsync(fd) != 0 {
            let e = errno
            if e == EINTR { continue }
            // Some filesystems cannot fsync a directory; that is not a data-loss risk worth failing for.
            if e == EINVAL || e == ENOTSUP { return }
            throw error("fsync", path: path, errno: e)
        }
    }

    /// fsyncs the directory at `path` (best effort for file systems that refuse).
    static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw error("open directory", path: path, errno: errno) }
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    /// Renames `from` to `to` (both relative to `dirfd`, or absolute with AT_FDCWD) without ever
    /// replacing an existing `to`: renameat2(RENAME_NOREPLACE) where the kernel and file system
    /// support it, else link()+unlink() (link never replaces). Only on a file system that
    /// supports neither (no hard links, e.g. some FUSE mounts) it falls back to
    /// check-then-rename, which is safe unless another process races us for the same name.
    /// Throws `.targetExists` if `to` exists.
    static func renameNoReplace(dirfd: Int32, _ from: String, _ to: String, displayPath: String) throws {
        if let renameat2 = RenameAt2.function {
            if renameat2(dirfd, from, dirfd, to, 1 /* RENAME_NOREPLACE */) == 0 { return }
            let e = errno
            if e != EINVAL && e != ENOSYS && e != ENOTSUP {
                throw error("rename", path: displayPath, errno: e)
            }
        }
        #if canImport(Darwin)
        if renameatx_np(dirfd, from, dirfd, to, UInt32(RENAME_EXCL)) == 0 { return }
        do {
            let e = errno
            if e != ENOTSUP && e != EINVAL { throw error("rename", path: displayPath, errno: e) }
        }
        #endif
        if linkat(dirfd, from, dirfd, to, 0) == 0 {
            if unlinkat(dirfd, from, 0) != 0 {
                throw error("unlink", path: displayPath + " (temporary name)", errno: errno)
            }
            return
        }
        let e = errno
        guard e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == EMLINK else {
            throw error("link", path: displayPath, errno: e)
        }
        var st = stat()
        if fstatat(dirfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            throw error("rename", path: displayPath, errno: EEXIST)
        }
        if renameat(dirfd, from, dirfd, to) != 0 {
            throw error("rename", path: displayPath, errno: errno)
        }
    }

    /// Whether anything (a file, a directory, a dangling symlink) exists at `path`.
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// `path` made absolute against the current directory (for messages and `destination`).
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let cwd = FileManager.default.currentDirectoryPath
        return cwd.hasSuffix("/") ? cwd + path : cwd + "/" + path
    }

    /// The directory part of an absolute path ("/" for a top-level entry).
    static func parent(_ absolutePath: String) -> String {
        var p = absolutePath
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        let dir = String(p[..<slash])
        return dir.isEmpty ? "/" : dir
    }
}

/// Swift's Glibc module does not import `renameat2` (it needs _GNU_SOURCE) and `syscall` is
/// variadic, so look the libc wrapper up at run time (glibc >= 2.28 has it).
enum RenameAt2 {
    typealias Fn = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    static let function: Fn? = {
        #if os(Linux)
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(sym, to: Fn.self)
        #else
        return nil
        #endif
    }()
}

// Unqualified names that Swift would otherwise resolve to members in some contexts.
@inline(__always) private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
@inline(__always) private func sysFsync(_ fd: Int32) -> Int32 { fsync(fd) }

/// Runs `body` with this thread's LC_CTYPE set to UTF-8 (uselocale: the process locale is left
/// alone). libarchive converts names through the current locale; in the "C" locale a non-ASCII
/// name cannot be converted and libarchive 3.6 even crashes reporting it. Entry names are
/// always given to libarchive as UTF-8, and pax stores them as UTF-8.
func withUTF8Locale<T>(_ body: () throws -> T) rethrows -> T {
    #if os(Linux)
    guard let loc = UTF8Locale.locale else { return try body() }
    let old = uselocale(loc)
    defer { _ = uselocale(old) }
    #endif
    return try body()
}

/// Whether `withUTF8Locale` can switch to UTF-8 (always true off Linux).
var hasUTF8Locale: Bool {
    #if os(Linux)
    return UTF8Locale.locale != nil
    #else
    return true
    #endif
}

#if os(Linux)
private enum UTF8Locale {
    nonisolated(unsafe) static let locale: locale_t? = {
        for name in ["C.UTF-8", "C.utf8", "en_US.UTF-8"] {
            if let l = newlocale(LC_CTYPE_MASK, name, nil) { return l }
        }
        return nil
    }()
}
#endif
