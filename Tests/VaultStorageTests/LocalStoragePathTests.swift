import Foundation
import Testing
@testable import VaultStorage
import VaultTestSupport

/// `LocalStorage` with relative roots: `pgvault init v` used to trap (SIGILL) in Foundation's
/// `NSString.deletingLastPathComponent`, which refuses one-character paths.
@Suite("Local storage paths")
struct LocalStoragePathTests {
    @Test(arguments: [
        ("v", ""), ("ab", ""), ("./v", "."), ("a/b/v", "a/b"), ("a/b", "a"), ("a", ""),
        ("v/", ""), ("a/b/", "a"), ("a//b", "a"), ("../v", ".."), ("/v", "/"), ("/", "/"),
        ("/srv/pgvault/chunks/ab", "/srv/pgvault/chunks"), ("é/ü", "é"),
    ])
    func parentDirectory(path: String, parent: String) {
        #expect(LocalStorage.parentDirectory(path) == parent)
    }

    /// Every one-character component on the way up (the crash was on "a" of "a/b/v", not only
    /// on a bare "v"), under an absolute root so that the test does not depend on the cwd.
    @Test func createsOneCharacterComponents() throws {
        let dir = try TestEnvironment.temporaryDirectory("relative")
        let s = LocalStorage(root: dir.path + "/a/b/v")
        try s.createRoot()
        try s.put("x", Data("1".utf8), mode: .createOnly)
        try s.put("p/q/r", Data("2".utf8), mode: .replace)
        #expect(try s.get("x") == Data("1".utf8))
        #expect(try s.keys(prefix: "") == ["p/q/r", "x"])
        #expect(s.removeStaleTemporaries(olderThan: Date()) == 0)
        try? FileManager.default.removeItem(at: dir)
    }
}
