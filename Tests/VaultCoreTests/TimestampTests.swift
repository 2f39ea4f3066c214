import Foundation
import Testing
@testable import VaultCore

/// The direct RFC 3339 formatter and parser must agree with ICU's ISO 8601 formatter, which
/// they replace on the listing path, to the millisecond and the byte.
@Suite("Timestamps")
struct TimestampTests {
    static func samples() -> [Date] {
        var g = SystemRandomNumberGenerator()
        var out: [Date] = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.001),
                           Date(timeIntervalSince1970: 951_782_400),            // 2000-02-29
                           Date(timeIntervalSince1970: 4_107_542_399.999),      // 2100-02-28T23:59:59.999
                           Date(timeIntervalSince1970: 1_795_000_000.1234567),  // sub-millisecond part
                           Date(timeIntervalSince1970: -2_208_988_800.5)]       // 1899
        for _ in 0..<20_000 {
            // 1800 … 2300, whole milliseconds and arbitrary doubles
            let t = Double.random(in: -5_364_662_400 ... 10_413_792_000, using: &g)
            out.append(Date(timeIntervalSince1970: t))
            out.append(Timestamp.millis(Date(timeIntervalSince1970: t)))
        }
        return out
    }

    @Test func formattingMatchesICU() {
        for d in Self.samples() {
            #expect(Timestamp.rfc3339(d) == Timestamp.icuFormat(d), "\(d.timeIntervalSince1970)")
        }
    }

    @Test func parsingMatchesICU() {
        for d in Self.samples() {
            let text = Timestamp.icuFormat(d)
            let plain = String(text.prefix(19)) + "Z"
            #expect(Timestamp.fastParse(text) != nil)
            #expect(Timestamp.parse(text) == Timestamp.icuParse(text), "\(text)")
            #expect(Timestamp.parse(plain) == Timestamp.icuParse(plain), "\(plain)")
            #expect(Timestamp.parse(text).map(Timestamp.rfc3339) == text)
        }
    }

    @Test(arguments: ["2026-02-29T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-11-25T24:00:00.000Z",
                      "2026-11-25 17:01:02.123Z", "2026-11-25T17:01:02.12Z", "2026-11-25T17:01:02.123+01:00",
                      "2026-11-25T17:01:02.1234Z", "", "not a date", "2026-11-25T17:01:6x.123Z"])
    func unusualTextIsLeftToICU(text: String) {
        #expect(Timestamp.fastParse(text) == nil)
        #expect(Timestamp.parse(text) == Timestamp.icuParse(text))
    }
}
