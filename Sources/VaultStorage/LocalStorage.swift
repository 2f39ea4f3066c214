public import Foundation
import CSystemShims
import VaultCore

/// The filesystem driver: one file per object under `root`, directories 0700; write-once
/// (`createOnly`) objects are made read-only (0400), replaceable ones are 0600.
///
/// A `put` writes `.tmp-<random>` beside the final name and then links it into place
/// (`createOnly`: `link(2)` fails with EEXIST when the key is taken, so exactly one racing
/// writer wins) or renames it (`replace`). `sync()` is `syncfs(2)` on the vault's filesystem,
/// one barrier for all chunks of a point instead of an fsync per chunk.
public final class LocalStorage: Storage, @unchecked Sendable {
    public let root: String
    public var location: String { root }
    private let fileMode: mode_t
    private let immutableMode: mode_t
    private let dirMode: mode_t

    public init(root: String, fileMode: mode_t = 0o600, immutableMode: mode_t = 0o400, dirMode: mode_t = 0o700) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        self.fileMode = fileMode
        self.immutableMode = immutableMode
        self.dirMode = dirMode
    }

    private func path(_ key: String) -> String { root + "/" + key }

    /// The directory that holds `path`: "" for a bare relative name ("v"), "/" for a name
    /// directly under the filesystem root; trailing and doubled slashes ignored. Written out
    /// because Foundation's `NSString.deletingLastPathComponent` traps (SIGILL) on a
    /// one-character path such as the "v" of `pgvault init v` or the "a" of `a/b/v`.
    static func parentDirectory(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        var parent = p[..<slash]
        while parent.hasSuffix("/") { parent.removeLast() }
        return parent.isEmpty ? "/" : String(parent)
    }

    /// Creates `root` (and parents) if missing.
    public func createRoot() throws {
        try makeDirectories(root)
    }

    private func makeDirectories(_ dir: String) throws {
        var st = stat()
        if stat(dir, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { return }
            throw VaultError(.io, "\(dir) exists and is not a directory", location: dir)
        }
        let parent = Self.parentDirectory(dir)
        if !parent.isEmpty && parent != dir { try makeDirectories(parent) }
        if mkdir(dir, dirMode) != 0 && errno != EEXIST {
            throw VaultError.posix("mkdir", path: dir, errno: errno)
        }
    }

    public func put(_ key: String, _ data: Data, mode: PutMode) throws {
        try put(key, mode: mode) { emit in try data.withUnsafeBytes { try emit($0) } }
    }

    /// Writes the pieces to a temporary file as they come, then links (create-only) or renames
    /// (replace) it to the key: nothing is held, and a `write` that throws leaves nothing.
    public func put(_ key: String, mode: PutMode, write pieces: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try StorageKey.validate(key)
        let final = path(key)
        let dir = Self.parentDirectory(final)
        try makeDirectories(dir.isEmpty ? "." : dir)
        let tmp = dir + "/.tmp-" + Identifier.randomHex(8)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode == .createOnly ? immutableMode : fileMode)
        guard fd >= 0 else { throw VaultError.posix("create", path: tmp, errno: errno) }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        do {
            defer { close(fd) }
            try pieces { raw in
                guard let base = raw.baseAddress else { return }
                var off = 0
                while off < raw.count {
                    let n = write(fd, base.advanced(by: off), raw.count - off)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw VaultError.posix("write", path: final, errno: errno)
                    }
                    off += n
                }
            }
        }
        switch mode {
        case .createOnly:
            if link(tmp, final) != 0 {
                let e = errno
                if e == EEXIST {
                    throw VaultError(.objectExists, "object \(key) already exists", location: final)
                }
                throw VaultError.posix("link", path: final, errno: e)
            }
            unlink(tmp)
        case .replace:
            if rename(tmp, final) != 0 { throw VaultError.posix("rename", path: final, errno: errno) }
        }
        ok = true
    }

    /// Opens the object's file for reading.
    private func openObject(_ key: String) throws -> (fd: Int32, path: String) {
        try StorageKey.validate(key)
        let p = path(key)
        let fd = open(p, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT {
                throw VaultError(.objectMissing, "object \(key) is missing from the vault at \(root)", location: p)
            }
            throw VaultError.posix("open", path: p, errno: e)
        }
        return (fd, p)
    }

    public func read(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let (fd, p) = try openObject(key)
        defer { close(fd) }
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { piece.deallocate() }
        while true {
            let n = Glibc.read(fd, piece.baseAddress, piece.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw VaultError.posix("read", path: p, errno: errno)
            }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: piece[0..<n]))
        }
    }

    public func get(_ key: String) throws -> Data {
        let (fd, p) = try openObject(key)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw VaultError.posix("stat", path: p, errno: errno) }
        var data = Data(count: Int(st.st_size))
        let size = data.count
        try data.withUnsafeMutableBytes { raw in
            var off = 0
            while off < size {
                let n = Glibc.read(fd, raw.baseAddress!.advanced(by: off), size - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw VaultError.posix("read", path: p, errno: errno)
                }
                if n == 0 { break }
                off += n
            }
            if off != size { throw VaultError(.io, "short read of \(p)", location: p) }
        }
        return data
    }

    /// The object's size in bytes; nil when it does not exist.
    public func size(_ key: String) throws -> Int64? {
        try StorageKey.validate(key)
        var st = stat()
        if stat(path(key), &st) == 0 { return Int64(st.st_size) }
        if errno == ENOENT || errno == ENOTDIR { return nil }
        throw VaultError.posix("stat", path: path(key), errno: errno)
    }

    /// Removes `.tmp-*` files (writes of processes that died) older than `cutoff`; returns how
    /// many. Only call it when no writer can be running (garbage collection under its lease).
    @discardableResult
    public func removeStaleTemporaries(olderThan cutoff: Date) -> Int {
        var removed = 0
        guard let e = FileManager.default.enumerator(atPath: root) else { return 0 }
        while let rel = e.nextObject() as? String {
            guard rel.split(separator: "/").last?.hasPrefix(".tmp-") == true else { continue }
            let full = root + "/" + rel
            var st = stat()
            guard lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
                  Double(st.st_mtim.tv_sec) < cutoff.timeIntervalSince1970 else { continue }
            if unlink(full) == 0 { removed += 1 }
        }
        return removed
    }

    public func exists(_ key: String) throws -> Bool {
        try StorageKey.validate(key)
        var st = stat()
        if stat(path(key), &st) == 0 { return true }
        if errno == ENOENT || errno == ENOTDIR { return false }
        throw VaultError.posix("stat", path: path(key), errno: errno)
    }

    public func list(prefix: String) throws -> [ObjectInfo] {
        // Walk the deepest directory named by the prefix, then filter.
        let dirPart: String
        if let slash = prefix.lastIndex(of: "/") { dirPart = String(prefix[..<slash]) } else { dirPart = "" }
        var out: [ObjectInfo] = []
        try walk(dirPart, into: &out)
        return out.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
    }

    public func keys(prefix: String) throws -> [String] {
        let dirPart: String
        if let slash = prefix.lastIndex(of: "/") { dirPart = String(prefix[..<slash]) } else { dirPart = "" }
        var out: [String] = []
        try walkKeys(dirPart, into: &out)
        return out.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// `walk` without a stat per file: the entry type comes from readdir (lstat only where the
    /// filesystem does not report it).
    private func walkKeys(_ rel: String, into out: inout [String]) throws {
        try forEachEntry(rel) { key, dType in
            var type = dType
            if type == Int32(DT_UNKNOWN) {
                var st = stat()
                guard lstat(path(key), &st) == 0 else { return }
                type = (st.st_mode & S_IFMT) == S_IFDIR ? Int32(DT_DIR) : (st.st_mode & S_IFMT) == S_IFREG ? Int32(DT_REG) : Int32(DT_UNKNOWN)
            }
            if type == Int32(DT_DIR) { try walkKeys(key, into: &out) }
            else if type == Int32(DT_REG) { out.append(key) }
        }
    }

    private func walk(_ rel: String, into out: inout [ObjectInfo]) throws {
        try forEachEntry(rel) { key, _ in
            var st = stat()
            guard lstat(path(key), &st) == 0 else { return }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try walk(key, into: &out)
            } else if (st.st_mode & S_IFMT) == S_IFREG {
                let mtime = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
                out.append(ObjectInfo(key: key, size: Int64(st.st_size), modified: mtime))
            }
        }
    }

    /// Calls `body` with the key and readdir type of each entry of directory `rel` (the root
    /// when empty), leaving out `.`, `..` and the `.tmp-` files of writers in progress.
    private func forEachEntry(_ rel: String, _ body: (String, Int32) throws -> Void) throws {
        let dirPath = rel.isEmpty ? root : path(rel)
        guard let d = opendir(dirPath) else {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw VaultError.posix("opendir", path: dirPath, errno: errno)
        }
        defer { closedir(d) }
        while let ent = readdir(d) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." || name.hasPrefix(".tmp-") { continue }
            try body(rel.isEmpty ? name : rel + "/" + name, Int32(ent.pointee.d_type))
        }
    }

    public func delete(_ key: String) throws {
        try StorageKey.validate(key)
        if unlink(path(key)) != 0 && errno != ENOENT {
            throw VaultError.posix("unlink", path: path(key), errno: errno)
        }
    }

    public func sync() throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw VaultError.posix("open", path: root, errno: errno) }
        defer { close(fd) }
        if pgv_syncfs(fd) != 0 { throw VaultError.posix("syncfs", path: root, errno: errno) }
    }
}
