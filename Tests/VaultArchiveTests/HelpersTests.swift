import Foundation
import Testing
@testable import VaultArchive
import VaultCore
import VaultTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct HelpersTests {
    @Test func errnoMapping() {
        #expect(FS.error("write", path: "/x", errno: ENOSPC).code == .diskFull)
        #expect(FS.error("write", path: "/x", errno: EDQUOT).code == .diskFull)
        #expect(FS.error("rename", path: "/x", errno: EEXIST).code == .targetExists)
        let io = FS.error("write", path: "/x", errno: EIO)
        #expect(io.code == .io)
        #expect(io.location == "/x")
        #expect(io.cause?.contains("write") == true)
    }

    @Test func renameNoReplaceNeverReplaces() throws {
        let dir = try TestEnvironment.temporaryDirectory("rename")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a").path, b = dir.appendingPathComponent("b").path
        try Data("A".utf8).write(to: URL(fileURLWithPath: a))
        try Data("B".utf8).write(to: URL(fileURLWithPath: b))
        expectVaultError(.targetExists) { try FS.renameNoReplace(dirfd: AT_FDCWD, a, b, displayPath: b) }
        #expect(FileManager.default.contents(atPath: b) == Data("B".utf8))
        #expect(FileManager.default.contents(atPath: a) == Data("A".utf8))
        let c = dir.appendingPathComponent("c").path
        try FS.renameNoReplace(dirfd: AT_FDCWD, a, c, displayPath: c)
        #expect(!FileManager.default.fileExists(atPath: a))
        #expect(FileManager.default.contents(atPath: c) == Data("A".utf8))
    }

    @Test func compressionFromFileName() {
        #expect(TarSink.Compression(fileName: "/a/b.tar") == TarSink.Compression.none)
        #expect(TarSink.Compression(fileName: "b.TAR.ZST") == .zstd)
        #expect(TarSink.Compression(fileName: "b.tzst") == .zstd)
        #expect(TarSink.Compression(fileName: "b.tar.gz") == .gzip)
        #expect(TarSink.Compression(fileName: "b.tgz") == .gzip)
        #expect(TarSink.Compression(fileName: "b.zip") == nil)
        #expect(TarSink.Compression(fileName: "b.tar.xz") == nil)
    }

    @Test func parentAndAbsolute() {
        #expect(FS.parent("/a/b/c") == "/a/b")
        #expect(FS.parent("/a/b/") == "/a")
        #expect(FS.parent("/a") == "/")
        #expect(FS.absolute("/x") == "/x")
        #expect(FS.absolute("x").hasSuffix("/x"))
        #expect(FS.absolute("x").hasPrefix("/"))
    }
}
