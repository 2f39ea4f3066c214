import Foundation
import Testing
import VaultArchive
import VaultCore
import VaultTestSupport

@Suite struct DirectorySinkTests {
    @Test func writesFilesByteForByteWithPrivateModes() throws {
        let base = try TestEnvironment.temporaryDirectory("dirsink")
        defer { try? FileManager.default.removeItem(at: base) }
        let target = base.appendingPathComponent("restore")
        let sink = try RestoreTarget.directory(target.path).makeSink()
        #expect(sink.destination == target.path)
        #expect(try mode(target.path) == 0o700)
        for s in Sample.all { try s.write(to: sink) }
        try sink.finish()

        #expect(try contents(target) == Sample.all.map(\.name).sorted())
        for s in Sample.all {
            let path = target.appendingPathComponent(s.name).path
            #expect(FileManager.default.contents(atPath: path) == s.data, "\(s.name)")
            #expect(try mode(path) == 0o600, "\(s.name)")
        }
        sink.abort()  // after finish: a no-op
        #expect(try contents(target).count == Sample.all.count)
    }

    @Test func acceptsAnExistingEmptyDirectoryAndCreatesParents() throws {
        let base = try TestEnvironment.temporaryDirectory("dirsink")
        defer { try? FileManager.default.removeItem(at: base) }
        let sink = try DirectorySink(path: base.path)
        try Sample.all[2].write(to: sink)
        try sink.finish()
        #expect(try contents(base) == [Sample.all[2].name])

        let nested = base.appendingPathComponent("a/b/c")
        let sink2 = try DirectorySink(path: nested.path)
        try sink2.finish()
        #expect(try mode(nested.path) == 0o700)
    }

    @Test func refusesNonEmptyDirectoryAndLeavesItUntouched() throws {
        let dir = try TestEnvironment.temporaryDirectory("dirsink")
        defer { try? FileManager.default.removeItem(at: dir) }
        let keep = dir.appendingPathComponent(".hidden")
        try Data("precious".utf8).write(to: keep)
        do {
            _ = try DirectorySink(path: dir.path)
            Issue.record("a non-empty directory was accepted")
        } catch let e as VaultError {
            #expect(e.code == .targetExists)
            #expect(e.message.contains("is not empty"))
            #expect(e.message.contains("never overwrites"))
            #expect(e.location == dir.path)
        }
        #expect(try contents(dir) == [".hidden"])
        #expect(FileManager.default.contents(atPath: keep.path) == Data("precious".utf8))

        // A regular file where the directory should go is refused too.
        expectVaultError(.targetExists) { _ = try DirectorySink(path: keep.path) }
        #expect(FileManager.default.contents(atPath: keep.path) == Data("precious".utf8))
    }

    @Test func abortRemovesThePartialFileButKeepsFinishedOnes() throws {
        let base = try TestEnvironment.temporaryDirectory("dirsink")
        defer { try? FileManager.default.removeItem(at: base) }
        let target = base.appendingPathComponent("out")
        let sink = try DirectorySink(path: target.path)
        try Sample.all[2].write(to: sink)
        try sink.beginFile(name: "db1.dump", size: 1000)
        try Data(repeating: 7, count: 600).withUnsafeBytes { try sink.write($0) }
        #expect(try contents(target) == [".db1.dump.partial", Sample.all[2].name].sorted())
        sink.abort()
        sink.abort()
        #expect(try contents(target) == [Sample.all[2].name])
        // Nothing more is accepted after abort.
        expectVaultError(.internalError) { try sink.beginFile(name: "x", size: 0) }
        expectVaultError(.internalError) { try sink.finish() }
    }

    @Test func droppingAnUnfinishedSinkRemovesThePartialFile() throws {
        let base = try TestEnvironment.temporaryDirectory("dirsink")
        defer { try? FileManager.default.removeItem(at: base) }
        do {
            let sink = try DirectorySink(path: base.path)
            try sink.beginFile(name: "a.dump", size: 10)
            try Data(count: 3).withUnsafeBytes { try sink.write($0) }
        }
        #expect(try contents(base) == [])
    }

    @Test func wrongByteCountsAreInternalErrorsAndAbort() throws {
        let base = try TestEnvironment.temporaryDirectory("dirsink")
        defer { try? FileManager.default.removeItem(at: base) }

        let d1 = base.appendingPathComponent("too-many")
        let s1 = try DirectorySink(path: d1.path)
        try s1.beginFile(name: "a", size: 4)
        try Data(count: 3).withUnsafeBytes { try s1.write($0) }
        expectVaultError(.internalError) { try Data(count: 2).withUnsafeBytes { try s1.write($0) } }
        #expect(try contents(d1) == [])

        let d2 = base.appendingPathComponent("too-few")
        let s2 = try DirectorySink(path: d2.path)
        try s2.beginFile(name: "a", size: 4)
        try Data(count: 3).withUnsafeBytes { try s2.write($0) }
        expectVaultError(.internalError) { try s2.finishFile() }
        #expect(try contents(d2) == [])

        let d3 = base.appendingPathComponent("misuse")
        let s3 = try DirectorySink(path: d3.path)
        expectVaultError(.internalError) { try Data(count: 1).withUnsafeBytes { try s3.write($0) } }
        let s4 = try DirectorySink(path: d3.path)
        try s4.beginFile(name: "a", size: 0)
        expectVaultError(.internalError) { try s4.finish() }
        #expect(try contents(d3) == [])
    }

    @Test func rejectsBadNamesAndDuplicates() throws {
        let base = try TestEnvironment.temporaryDirectory("dirsink")
        defer { try? FileManager.default.removeItem(at: base) }
        for bad in ["", ".", "..", "a/b", "/etc/passwd", "../x"] {
            let dir = base.appendingPathComponent("n\(bad.utf8.count)-\(UUID().uuidString.prefix(4))")
            let sink = try DirectorySink(path: dir.path)
            expectVaultError(.internalError) { try sink.beginFile(name: bad, size: 0) }
            #expect(try contents(dir) == [])
        }
        #expect(!FileManager.default.fileExists(atPath: base.appendingPathComponent("x").path))

        let dir = base.appendingPathComponent("dup")
        let sink = try DirectorySink(path: dir.path)
        try Sample.all[1].write(to: sink)
        expectVaultError(.targetExists) { try Sample.all[1].write(to: sink) }
        sink.abort()
        #expect(try contents(dir) == [Sample.all[1].name])
    }

    @Test func neverRenamesOverAFileThatAppearedMeanwhile() throws {
        let dir = try TestEnvironment.temporaryDirectory("dirsink")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sink = try DirectorySink(path: dir.path)
        try sink.beginFile(name: "a.sql", size: 3)
        try Data("new".utf8).withUnsafeBytes { try sink.write($0) }
        // Someone else creates the final name while we write.
        try Data("theirs".utf8).write(to: dir.appendingPathComponent("a.sql"))
        expectVaultError(.targetExists) { try sink.finishFile() }
        sink.abort()
        #expect(try contents(dir) == ["a.sql"])
        #expect(FileManager.default.contents(atPath: dir.appendingPathComponent("a.sql").path) == Data("theirs".utf8))
    }
}
