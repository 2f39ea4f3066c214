import Foundation
import Testing
import VaultCore
import VaultStorage
import VaultTestSupport

/// The one contract every storage driver passes. A new driver adds itself to `drivers`.
enum Driver: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, local, s3
    var testDescription: String { rawValue }

    func make() throws -> any Storage {
        switch self {
        case .memory: return MemoryStorage()
        case .local:
            let dir = try TestEnvironment.temporaryDirectory("storage")
            let s = LocalStorage(root: dir.appendingPathComponent("vault").path)
            try s.createRoot()
            return s
        case .s3: return try S3ContractDriver.make()
        }
    }
}

@Suite("Storage contract")
struct StorageContractTests {
    @Test(arguments: Driver.allCases)
    func putGetRoundTrip(driver: Driver) throws {
        let s = try driver.make()
        let payload = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try s.put("chunks/ab/abcdef", payload, mode: .createOnly)
        #expect(try s.get("chunks/ab/abcdef") == payload)
        #expect(try s.exists("chunks/ab/abcdef"))
        #expect(try !s.exists("chunks/ab/missing"))
        try s.put("empty", Data(), mode: .createOnly)
        #expect(try s.get("empty") == Data())
    }

    @Test(arguments: Driver.allCases)
    func createOnlyRefusesExistingKeyAndKeepsOriginal(driver: Driver) throws {
        let s = try driver.make()
        try s.put("points/p1.json", Data("one".utf8), mode: .createOnly)
        #expect {
            try s.put("points/p1.json", Data("two".utf8), mode: .createOnly)
        } throws: { ($0 as? VaultError)?.code == .objectExists }
        #expect(try s.get("points/p1.json") == Data("one".utf8))
    }

    @Test(arguments: Driver.allCases)
    func replaceOverwritesAtomically(driver: Driver) throws {
        let s = try driver.make()
        try s.put("jobs/j/state.json", Data("a".utf8), mode: .replace)
        try s.put("jobs/j/state.json", Data("bb".utf8), mode: .replace)
        #expect(try s.get("jobs/j/state.json") == Data("bb".utf8))
    }

    @Test(arguments: Driver.allCases)
    func missingObjectIsObjectMissing(driver: Driver) throws {
        let s = try driver.make()
        #expect { _ = try s.get("points/nope.json") } throws: { ($0 as? VaultError)?.code == .objectMissing }
        #expect { try s.read("points/nope.json") { _ in } } throws: { ($0 as? VaultError)?.code == .objectMissing }
    }

    /// `read` (large manifests) hands over the whole object in order, in pieces of any size.
    @Test(arguments: Driver.allCases)
    func readHandsOverTheWholeObjectInOrder(driver: Driver) throws {
        let s = try driver.make()
        let payload = Data((0..<(2_621_440 + 17)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 11) })   // 2.5 MiB and a bit
        try s.put("points/big.json", payload, mode: .createOnly)
        var back = Data()
        var pieces = 0
        try s.read("points/big.json") { back.append(contentsOf: $0); pieces += 1 }
        #expect(back.count == payload.count && back == payload)
        #expect(pieces >= (driver == .memory ? 1 : 3), "the filesystem and S3 read it a MiB at a time")
        try s.put("empty", Data(), mode: .createOnly)
        var emptyBack = Data()
        try s.read("empty") { emptyBack.append(contentsOf: $0) }
        #expect(emptyBack.isEmpty)
    }

    /// `put(_:mode:write:)` (a large manifest written as it is encoded): the pieces become one
    /// object, create-only still refuses a taken key, and a writer that fails stores nothing.
    @Test(arguments: Driver.allCases)
    func aPutWrittenInPiecesIsOneObjectOrNothing(driver: Driver) throws {
        let s = try driver.make()
        let payload = Data((0..<(2_621_440 + 17)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 >> 9) })
        try s.put("points/streamed.json", mode: .createOnly) { emit in
            var at = 0
            for size in [0, 1, 100_000, 1 << 20] + Array(repeating: 700_001, count: 8) where at < payload.count {
                let end = min(payload.count, at + size)
                try payload[at..<end].withUnsafeBytes { try emit($0) }
                at = end
            }
            #expect(at == payload.count)
        }
        #expect(try s.get("points/streamed.json") == payload)
        #expect {
            try s.put("points/streamed.json", mode: .createOnly) { emit in try Data("two".utf8).withUnsafeBytes { try emit($0) } }
        } throws: { ($0 as? VaultError)?.code == .objectExists }
        #expect(try s.get("points/streamed.json") == payload)

        struct WriterFailed: Error {}
        #expect(throws: WriterFailed.self) {
            try s.put("points/half.json", mode: .createOnly) { emit in
                try payload.prefix(300_000).withUnsafeBytes { try emit($0) }
                throw WriterFailed()
            }
        }
        #expect(try !s.exists("points/half.json"), "a failed writer leaves no object")
        #expect(try s.list(prefix: "points/").map(\.key) == ["points/streamed.json"])
        if let local = s as? LocalStorage {
            let names = try FileManager.default.contentsOfDirectory(atPath: local.root + "/points")
            #expect(names == ["streamed.json"], "no temporary file is left: \(names)")
        }
    }

    @Test(arguments: Driver.allCases)
    func listFiltersByPrefixSortedWithSizes(driver: Driver) throws {
        let s = try driver.make()
        try s.put("chunks/aa/aa01", Data(count: 3), mode: .createOnly)
        try s.put("chunks/ab/ab02", Data(count: 5), mode: .createOnly)
        try s.put("chunks/aa/aa00", Data(count: 1), mode: .createOnly)
        try s.put("points/x.json", Data(count: 2), mode: .createOnly)
        let all = try s.list(prefix: "chunks/")
        #expect(all.map(\.key) == ["chunks/aa/aa00", "chunks/aa/aa01", "chunks/ab/ab02"])
        #expect(all.map(\.size) == [1, 3, 5])
        #expect(all.allSatisfy { abs($0.modified.timeIntervalSinceNow) < 300 }, "modification times are real")
        #expect(try s.list(prefix: "chunks/ab").map(\.key) == ["chunks/ab/ab02"])
        #expect(try s.list(prefix: "nothing/").isEmpty)
        #expect(try s.list(prefix: "").count == 4)
        // keys(prefix:) names the same objects in the same order.
        #expect(try s.keys(prefix: "chunks/") == all.map(\.key))
        #expect(try s.keys(prefix: "chunks/ab") == ["chunks/ab/ab02"])
        #expect(try s.keys(prefix: "nothing/").isEmpty)
        #expect(try s.keys(prefix: "") == (try s.list(prefix: "")).map(\.key))
    }

    @Test(arguments: Driver.allCases)
    func deleteRemovesAndIsIdempotent(driver: Driver) throws {
        let s = try driver.make()
        try s.put("a/b", Data("x".utf8), mode: .createOnly)
        try s.delete("a/b")
        #expect(try !s.exists("a/b"))
        try s.delete("a/b")
        try s.put("a/b", Data("y".utf8), mode: .createOnly)
        #expect(try s.get("a/b") == Data("y".utf8))
        try s.sync()
    }

    @Test(arguments: Driver.allCases)
    func invalidKeysAreRefused(driver: Driver) throws {
        let s = try driver.make()
        for key in ["", "/abs", "a//b", "../escape", "a/./b", "sp ace", "a/"] {
            #expect(throws: VaultError.self) { try s.put(key, Data(), mode: .createOnly) }
        }
    }

    @Test(arguments: Driver.allCases)
    func racingCreateOnlyWritersExactlyOneWins(driver: Driver) throws {
        let s = try driver.make()
        let wins = Counter()
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            do { try s.put("audit/000001.json", Data("writer \(i)".utf8), mode: .createOnly); wins.add() } catch {}
        }
        #expect(wins.value == 1)
    }
}

@Suite("Local storage specifics")
struct LocalStorageTests {
    @Test func writeOnceFilesAre0400ReplaceableAre0600DirectoriesAre0700AndNoTempFilesRemain() throws {
        let dir = try TestEnvironment.temporaryDirectory("local")
        let s = LocalStorage(root: dir.appendingPathComponent("v").path)
        try s.createRoot()
        try s.put("chunks/ab/abc", Data("data".utf8), mode: .createOnly)
        try s.put("locks/x.json", Data("data".utf8), mode: .replace)
        let fm = FileManager.default
        let fileMode = try fm.attributesOfItem(atPath: s.root + "/chunks/ab/abc")[.posixPermissions] as? Int
        let lockMode = try fm.attributesOfItem(atPath: s.root + "/locks/x.json")[.posixPermissions] as? Int
        let dirMode = try fm.attributesOfItem(atPath: s.root + "/chunks/ab")[.posixPermissions] as? Int
        #expect(fileMode == 0o400)
        #expect(lockMode == 0o600)
        #expect(dirMode == 0o700)
        let leftovers = try fm.contentsOfDirectory(atPath: s.root + "/chunks/ab").filter { $0.hasPrefix(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test func diskFullIsReportedAsDiskFull() throws {
        // /dev/full is a directory-less device; a vault rooted in a tiny tmpfs needs root.
        // Instead, write into a directory on a filesystem that is full: use a loop-free trick,
        // RLIMIT_FSIZE, which makes write(2) fail with EFBIG... not ENOSPC. So we use the
        // errno mapping directly and check the message the user gets.
        let e = VaultError.posix("write", path: "/v/chunks/ab/x", errno: ENOSPC)
        #expect(e.code == .diskFull)
        #expect(e.message.contains("disk holding /v/chunks/ab/x is full"))
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
