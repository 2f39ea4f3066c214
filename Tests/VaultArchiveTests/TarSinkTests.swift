import Foundation
import Testing
import VaultArchive
import VaultCore
import VaultTestSupport

@Suite struct TarSinkTests {
    /// Writes the samples into `name` inside a fresh directory and extracts them with tar(1).
    private func roundTrip(_ name: String, extractFlags: [String]) throws {
        let base = try TestEnvironment.temporaryDirectory("tarsink")
        defer { try? FileManager.default.removeItem(at: base) }
        let archive = base.appendingPathComponent(name)
        let sink = try RestoreTarget.tar(archive.path).makeSink()
        #expect(sink.destination == archive.path)
        for s in Sample.all { try s.write(to: sink) }
        // Nothing under the final name until finish().
        #expect(try contents(base) == [name + ".partial"])
        try sink.finish()
        #expect(try contents(base) == [name])
        #expect(try mode(archive.path) == 0o600)

        let list = try Shell.run("/usr/bin/tar", extractFlags + ["-tvf", archive.path], environment: ["LC_ALL": "C.UTF-8"])
        #expect(list.status == 0, "\(list.stderr)")
        for s in Sample.all { #expect(list.stdout.contains(s.name), "\(list.stdout)") }
        #expect(list.stdout.contains("pgvault/pgvault"), "\(list.stdout)")
        #expect(list.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("-rw-r--r--") }, "\(list.stdout)")

        let out = base.appendingPathComponent("x")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        let x = try Shell.run("/usr/bin/tar", extractFlags + ["-xf", archive.path, "-C", out.path], environment: ["LC_ALL": "C.UTF-8"])
        #expect(x.status == 0, "\(x.stderr)")
        #expect(try contents(out) == Sample.all.map(\.name).sorted())
        for s in Sample.all {
            #expect(FileManager.default.contents(atPath: out.appendingPathComponent(s.name).path) == s.data, "\(s.name)")
        }
    }

    @Test func plainTarRoundTrips() throws { try roundTrip("restore.tar", extractFlags: []) }
    @Test func zstdTarRoundTrips() throws { try roundTrip("restore.tar.zst", extractFlags: ["--zstd"]) }
    @Test func gzipTarRoundTrips() throws { try roundTrip("restore.tar.gz", extractFlags: ["-z"]) }

    @Test func zstdIsReallyCompressed() throws {
        let base = try TestEnvironment.temporaryDirectory("tarsink")
        defer { try? FileManager.default.removeItem(at: base) }
        let archive = base.appendingPathComponent("z.tar.zst")
        let sink = try TarSink(path: archive.path)
        #expect(sink.compression == .zstd)
        let text = Data(String(repeating: "COPY public.t (a, b) FROM stdin;\n", count: 100_000).utf8)
        try sink.beginFile(name: "t.sql", size: Int64(text.count))
        try text.withUnsafeBytes { try sink.write($0) }
        try sink.finishFile()
        try sink.finish()
        let size = try FileManager.default.attributesOfItem(atPath: archive.path)[.size] as? Int ?? 0
        #expect(size > 0 && size < text.count / 20)
        let magic = try Shell.run("/usr/bin/zstd", ["-t", archive.path])
        #expect(magic.status == 0, "\(magic.stderr)")
    }

    @Test func refusesAnExistingArchiveAndLeavesItUntouched() throws {
        let base = try TestEnvironment.temporaryDirectory("tarsink")
        defer { try? FileManager.default.removeItem(at: base) }
        let archive = base.appendingPathComponent("old.tar")
        try Data("precious".utf8).write(to: archive)
        do {
            _ = try TarSink(path: archive.path)
            Issue.record("an existing archive was accepted")
        } catch let e as VaultError {
            #expect(e.code == .targetExists)
            #expect(e.message.contains("never overwrites"))
        }
        #expect(try contents(base) == ["old.tar"])
        #expect(FileManager.default.contents(atPath: archive.path) == Data("precious".utf8))

        // A leftover .partial is not silently reused either.
        let other = base.appendingPathComponent("new.tar.zst")
        try Data().write(to: URL(fileURLWithPath: other.path + ".partial"))
        expectVaultError(.targetExists) { _ = try TarSink(path: other.path) }
        #expect(try contents(base) == ["new.tar.zst.partial", "old.tar"])
    }

    @Test func refusesUnknownExtensionsAndMissingDirectories() throws {
        let base = try TestEnvironment.temporaryDirectory("tarsink")
        defer { try? FileManager.default.removeItem(at: base) }
        expectVaultError(.invalidArgument) { _ = try TarSink(path: base.appendingPathComponent("a.zip").path) }
        expectVaultError(.invalidArgument) { _ = try TarSink(path: base.appendingPathComponent("no/such/a.tar").path) }
        #expect(try contents(base) == [])
    }

    @Test func abortRemovesThePartialArchive() throws {
        for name in ["a.tar", "a.tar.zst"] {
            let base = try TestEnvironment.temporaryDirectory("tarsink")
            defer { try? FileManager.default.removeItem(at: base) }
            let sink = try TarSink(path: base.appendingPathComponent(name).path)
            try Sample.all[2].write(to: sink)
            try sink.beginFile(name: "db1.dump", size: 1 << 20)
            try Data(count: 1000).withUnsafeBytes { try sink.write($0) }
            #expect(try contents(base) == [name + ".partial"])
            sink.abort()
            sink.abort()
            #expect(try contents(base) == [])
            expectVaultError(.internalError) { try sink.finish() }
            #expect(try contents(base) == [])
        }
    }

    @Test func droppingAnUnfinishedSinkRemovesThePartialArchive() throws {
        let base = try TestEnvironment.temporaryDirectory("tarsink")
        defer { try? FileManager.default.removeItem(at: base) }
        do {
            let sink = try TarSink(path: base.appendingPathComponent("a.tar").path)
            try Sample.all[1].write(to: sink)
        }
        #expect(try contents(base) == [])
    }

    @Test func wrongByteCountsAndDuplicatesAbort() throws {
        let base = try TestEnvironment.temporaryDirectory("tarsink")
        defer { try? FileManager.default.removeItem(at: base) }
        let s1 = try TarSink(path: base.appendingPathComponent("a.tar").path)
        try s1.beginFile(name: "a", size: 2)
        expectVaultError(.internalError) { try Data(count: 3).withUnsafeBytes { try s1.write($0) } }
        #expect(try contents(base) == [])

        let s2 = try TarSink(path: base.appendingPathComponent("b.tar").path)
        try s2.beginFile(name: "a", size: 2)
        try Data(count: 1).withUnsafeBytes { try s2.write($0) }
        expectVaultError(.internalError) { try s2.finishFile() }
        #expect(try contents(base) == [])

        let s3 = try TarSink(path: base.appendingPathComponent("c.tar").path)
        expectVaultError(.internalError) { try s3.beginFile(name: "x/y", size: 0) }
        #expect(try contents(base) == [])

        let s4 = try TarSink(path: base.appendingPathComponent("d.tar").path)
        try Sample.all[1].write(to: s4)
        expectVaultError(.targetExists) { try Sample.all[1].write(to: s4) }
        s4.abort()
        #expect(try contents(base) == [])
    }

    @Test func givenModificationTimeIsUsed() throws {
        let base = try TestEnvironment.temporaryDirectory("tarsink")
        defer { try? FileManager.default.removeItem(at: base) }
        let archive = base.appendingPathComponent("t.tar")
        let sink = try TarSink(path: archive.path, mtime: Date(timeIntervalSince1970: 1_262_304_000.75))  // 2010-01-01
        try Sample.all[2].write(to: sink)
        try sink.finish()
        let list = try Shell.run("/usr/bin/tar", ["--full-time", "--utc", "-tvf", archive.path], environment: ["TZ": "UTC"])
        #expect(list.stdout.contains("2010-01-01 00:00:00"), "\(list.stdout)")
    }
}
