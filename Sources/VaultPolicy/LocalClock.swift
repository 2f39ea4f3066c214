import Foundation
import VaultCore

/// Wall-clock arithmetic in a time zone, done with integers so that it never depends on a
/// calendar's locale settings: an instant becomes "local seconds" (seconds since
/// 1970-01-01 00:00 of the local wall clock), and local seconds become an instant again with
/// an explicit rule for the hours a DST change skips or repeats.
enum LocalClock {
    static let day = 86_400

    /// Floor division, correct for negative numbers.
    static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Monday = 0 … Sunday = 6 of a day count (1970-01-01 was a Thursday).
    static func isoWeekdayIndex(days: Int) -> Int { ((days + 3) % 7 + 7) % 7 }

    /// The Monday (day count) of the ISO week holding `days`.
    static func monday(ofDays days: Int) -> Int { days - isoWeekdayIndex(days: days) }

    /// ISO 8601 week-year and week number of a day count.
    static func isoWeek(days: Int) -> (year: Int, week: Int) {
        let thursday = monday(ofDays: days) + 3
        let year = CivilDate.civil(days: thursday).year
        let jan1 = CivilDate.days(year: year, month: 1, day: 1)
        return (year, (thursday - jan1) / 7 + 1)
    }

    private static func seconds(_ date: Date) -> Int { Int(date.timeIntervalSince1970.rounded(.down)) }
    private static func offset(_ tz: TimeZone, _ s: Int) -> Int {
        tz.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(s)))
    }

    /// The wall-clock reading of `date` in `tz`, as seconds since 1970-01-01 00:00 local.
    static func localSeconds(_ date: Date, _ tz: TimeZone) -> Int {
        let s = seconds(date)
        return s + offset(tz, s)
    }

    /// The local day count of `date` in `tz`.
    static func localDays(_ date: Date, _ tz: TimeZone) -> Int { floorDiv(localSeconds(date, tz), day) }

    /// The instant at which the wall clock of `tz` reads `local`.
    ///
    /// A reading the clock shows twice (the repeated hour when DST ends) resolves to the
    /// first of the two instants; a reading the clock skips (the hour lost when DST starts)
    /// resolves to the first instant after the gap (e.g. 02:30 on a spring-forward day in
    /// Europe/Berlin becomes 03:00 CEST).
    static func instant(local: Int, _ tz: TimeZone) -> Date {
        let before = offset(tz, local - 2 * day)
        let after = offset(tz, local + 2 * day)
        var candidates = Set([before, after, offset(tz, local)])
        candidates.insert(offset(tz, local - before))
        candidates.insert(offset(tz, local - after))
        let valid = candidates.map { local - $0 }.filter { offset(tz, $0) == local - $0 }
        if let first = valid.min() { return Date(timeIntervalSince1970: TimeInterval(first)) }
        // A gap: find the transition between `local - after` (still the old offset) and
        // `local - before` (already the new one).
        var lo = local - max(before, after), hi = local - min(before, after)
        let oldOffset = offset(tz, lo)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if offset(tz, mid) == oldOffset { lo = mid } else { hi = mid }
        }
        return Date(timeIntervalSince1970: TimeInterval(hi))
    }

    /// `2026-03-29`
    static func dateText(days: Int) -> String {
        let c = CivilDate.civil(days: days)
        return String(format: "%04d-%02d-%02d", c.year, c.month, c.day)
    }

    /// `2026-03-29` in `tz`.
    static func dateText(_ date: Date, _ tz: TimeZone) -> String { dateText(days: localDays(date, tz)) }

    /// `2026-03-29 03:00 +02:00` in `tz`.
    static func dateTimeText(_ date: Date, _ tz: TimeZone) -> String {
        let s = seconds(date)
        let off = offset(tz, s)
        let local = s + off
        let days = floorDiv(local, day)
        let secs = local - days * day
        let sign = off < 0 ? "-" : "+"
        let a = abs(off)
        return dateText(days: days) + " " + String(format: "%02d:%02d", secs / 3600, (secs % 3600) / 60)
            + " " + sign + String(format: "%02d:%02d", a / 3600, (a % 3600) / 60)
    }
}
