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
    public static func rfc3339(_ date: Date) -> String {
        lock.lock(); defer { lock.unlock() }
        return iso.string(from: date)
    }

    public static func parse(_ text: String) -> Date? {
        lock.lock(); defer { lock.unlock() }
        return iso.date(from: text) ?? isoPlain.date(from: text)
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
