import Foundation
import Testing
import VaultCore

@Suite("Core values")
struct CoreTests {
    @Test(arguments: [("1TiB", Int64(1) << 40), ("500MB", 500_000_000), ("500 MB", 500_000_000), ("64MiB", 64 << 20),
                      ("64k", 65536), ("1048576", 1_048_576), ("1.5GB", 1_500_000_000), ("2G", 2 << 30), ("10B", 10)])
    func sizesParse(text: String, bytes: Int64) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "MB", "12 parsecs", "-5MB", "1e9", "1..2MB"])
    func badSizesAreRefused(text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test func sizesFormatTheWayLimitsAreWritten() {
        #expect(ByteSize.format(500_000_000) == "500 MB")
        #expect(ByteSize.format(1 << 40) == "1 TiB")
        #expect(ByteSize.format(1536) == "1.5 KiB")
        #expect(ByteSize.format(812) == "812 B")
    }

    @Test(arguments: ["plain", "crm \"eu\" café", "-dash", ".hidden", "a/b", "100%", "ünï", "a=b", "x.database", " "])
    func fileNamesEscapeReversiblyAndSafely(name: String) throws {
        let e = FileNames.escape(name)
        #expect(!e.contains("/") && !e.hasPrefix("-") && !e.hasPrefix(".") && !e.isEmpty)
        #expect(e.utf8.allSatisfy { $0 < 128 && $0 > 32 })
        #expect(FileNames.unescape(e) == name)
    }

    @Test func fileNameEscapingIsTheDocumentedOne() {
        #expect(FileNames.escape("crm \"eu\" café") == "crm%20%22eu%22%20caf%C3%A9")
        #expect(FileNames.escape("-x") == "%2Dx")
        #expect(FileNames.escape("a/b") == "a%2Fb")
        #expect(FileNames.escape("shop-2.0") == "shop-2.0")
    }

    @Test func errorsCarryCodesExitCodesAndCauses() {
        let e = VaultError(.notAVault, "not a vault", cause: "no vault.json", location: "/x")
        #expect(e.exitCode == .notAVault && e.exitCode.rawValue == 10)
        #expect(e.description.contains("error[not-a-vault]") && e.description.contains("cause: no vault.json"))
        #expect(VaultError.posix("write", path: "/p", errno: ENOSPC).code == .diskFull)
        #expect(VaultError.posix("write", path: "/p", errno: EDQUOT).code == .diskFull)
        #expect(VaultError(.interrupted, "x").exitCode.rawValue == 130)
    }

    @Test func idsSortByTime() {
        let a = Identifier.make(at: Date(timeIntervalSince1970: 1_700_000_000))
        let b = Identifier.make(at: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(a < b)
        #expect(a.hasPrefix("20231114T221320Z-"))
    }
}
