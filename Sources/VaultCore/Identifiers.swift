public import Foundation

/// Identifiers are sortable by time: `YYYYMMDDTHHMMSSZ-` + 8 random hex digits.
public enum Identifier {
    public static func make(at date: Date = Date()) -> String {
        "\(Timestamp.compact(date))-\(randomHex(4))"
    }

    public static func randomHex(_ bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}

public enum Timestamp {
    private static let lock = NSLock()
    nonisolated(unsafe) private static let iso: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
    nonisolated(unsafe) private static let isoPlain: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f
    }()

    /// RFC 3339 with milliseconds, UTC: `2026-11-25T16:52:26.123Z`.
    /// Computed directly for years 0001–9999 (listings format hundreds of thousands of dates;
    /// ICU's formatter costs microseconds each), the formatter otherwise.
    public static func rfc3339(_ date: Date) -> String {
        let fast = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { buf in
            writeFast(date, into: buf) ? String(decoding: buf, as: UTF8.self) : nil
        }
        return fast ?? icuFormat(date)
    }

    /// Calls `body` with `rfc3339(date)`'s UTF-8 bytes (for writers of large JSON documents:
    /// no String is made).
    public static func withRFC3339Bytes<R>(_ date: Date, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { buf in
            if writeFast(date, into: buf) { return try body(UnsafeBufferPointer(buf)) }
            var s = icuFormat(date)
            return try s.withUTF8 { try body($0) }
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` or `YYYY-MM-DDTHH:MM:SSZ` (what pgvault writes) directly;
    /// anything else goes to ICU's ISO 8601 parser as before.
    public static func parse(_ text: String) -> Date? {
        if let d = fastParse(text) { return d }
        return icuParse(text)
    }

    static func icuFormat(_ date: Date) -> String {
        lock.lock(); defer { lock.unlock() }
        return iso.string(from: date)
    }

    static func icuParse(_ text: String) -> Date? {
        lock.lock(); defer { lock.unlock() }
        return iso.date(from: text) ?? isoPlain.date(from: text)
    }

    /// Milliseconds since 1970 of 0001-01-01 and of 10000-01-01.
    private static let fastRange: ClosedRange<Int64> = -62_135_596_800_000 ... 253_402_300_799_999

    /// Writes the 24 bytes of `date` in pgvault's RFC 3339 form to `out` (24 bytes long);
    /// false (nothing written) outside years 0001–9999.
    static func writeFast(_ date: Date, into out: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        // The same arithmetic as CFDateFormatter + ICU: milliseconds since 1970, rounded to
        // the nearest millisecond (half up).
        let msDouble = ((date.timeIntervalSinceReferenceDate + 978_307_200) * 1000 + 0.5).rounded(.down)
        guard msDouble.isFinite, msDouble >= Double(fastRange.lowerBound), msDouble <= Double(fastRange.upperBound) else { return false }
        let ms = Int64(msDouble)
        let dayMs: Int64 = 86_400_000
        let dayNumber = ms >= 0 ? ms / dayMs : (ms - dayMs + 1) / dayMs
        var rest = ms - dayNumber * dayMs
        let c = CivilDate.civil(days: Int(dayNumber))
        let (y, mo, d) = (Int64(c.year), Int64(c.month), Int64(c.day))
        let h = rest / 3_600_000; rest -= h * 3_600_000
        let mi = rest / 60_000; rest -= mi * 60_000
        let s = rest / 1000
        let f = rest - s * 1000
        func put(_ v: Int64, _ at: Int, _ width: Int) {
            var v = v
            for i in stride(from: at + width - 1, through: at, by: -1) { out[i] = UInt8(48 + v % 10); v /= 10 }
        }
        put(y, 0, 4); out[4] = 45; put(mo, 5, 2); out[7] = 45; put(d, 8, 2); out[10] = 84
        put(h, 11, 2); out[13] = 58; put(mi, 14, 2); out[16] = 58; put(s, 17, 2); out[19] = 46
        put(f, 20, 3); out[23] = 90
        return true
    }

    static func fastParse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { b -> Date? in
            guard b.count == 24 || b.count == 20 else { return nil }
            func num(_ at: Int, _ width: Int) -> Int64? {
                var v: Int64 = 0
                for i in at..<(at + width) {
                    let c = b[i]
                    guard c >= 48 && c <= 57 else { return nil }
                    v = v * 10 + Int64(c - 48)
                }
                return v
            }
            guard b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58, b[b.count - 1] == 90,
                  let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2),
                  let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2) else { return nil }
            var frac: Int64 = 0
            if b.count == 24 {
                guard b[19] == 46, let f = num(20, 3) else { return nil }
                frac = f
            }
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
            let monthDays: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            guard y >= 1, mo >= 1, mo <= 12, d >= 1, d <= monthDays[Int(mo - 1)], h <= 23, mi <= 59, s <= 59 else { return nil }
            let ms = ((Int64(CivilDate.days(year: Int(y), month: Int(mo), day: Int(d))) * 24 + h) * 60 + mi) * 60_000 + s * 1000 + frac
            return Date(timeIntervalSince1970: Double(ms) / 1000)
        }
    }

    /// `date` rounded down to the millisecond, the precision pgvault's JSON keeps.
    public static func millis(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    /// `20261125T165226Z`
    public static func compact(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1,
                      Int(tmv.tm_mday), Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec))
    }
}

/// Proleptic Gregorian dates as day counts since 1970-01-01 (H. Hinnant's algorithms), in
/// integers: no calendar, locale or time zone involved. Timestamps and the schedule's local
/// clock both use it.
public enum CivilDate {
    /// Days since 1970-01-01 of a date (`days_from_civil`).
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day count since 1970-01-01 (`civil_from_days`).
    public static func civil(days z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }
}
