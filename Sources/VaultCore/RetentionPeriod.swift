public import Foundation

/// A retention period as users write it: `30d`, `8w`, `12m`, `10y` (days, weeks, calendar
/// months, calendar years). pgvault accepts 7 days to 10 years.
public struct RetentionPeriod: Codable, Equatable, Sendable, CustomStringConvertible {
    public enum Unit: String, Codable, Sendable { case days = "d", weeks = "w", months = "m", years = "y" }
    public var count: Int
    public var unit: Unit

    public init(count: Int, unit: Unit) { self.count = count; self.unit = unit }

    public static let minimumDays = 7
    public static let maximumYears = 10

    /// Parses `8w`, `12m`, `10y`, `30d`; nil when the text is not a period.
    public static func parse(_ text: String) -> RetentionPeriod? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = t.dropLast()
        guard let last = t.last, let unit = Unit(rawValue: String(last)), !digits.isEmpty,
              digits.allSatisfy({ ("0"..."9").contains($0) }),
              let n = Int(digits), n > 0, n < 100_000 else { return nil }
        return RetentionPeriod(count: n, unit: unit)
    }

    /// Parses and checks the 7 days – 10 years range; the error names `option`.
    public static func parseChecked(_ text: String, option: String) throws -> RetentionPeriod {
        guard let p = parse(text) else {
            throw VaultError(.invalidArgument, "\(option): \"\(text)\" is not a retention period; write e.g. 30d, 8w, 12m or 10y.")
        }
        let reference = Date(timeIntervalSince1970: 1_704_067_200)  // 2024-01-01, for the range check
        let end = p.end(from: reference)
        if end < reference.addingTimeInterval(Double(minimumDays) * 86400) {
            throw VaultError(.invalidArgument, "\(option): \(text) is shorter than the minimum retention of 7 days.")
        }
        if end > RetentionPeriod(count: maximumYears, unit: .years).end(from: reference) {
            throw VaultError(.invalidArgument, "\(option): \(text) is longer than the maximum retention of 10 years.")
        }
        return p
    }

    public var description: String { "\(count)\(unit.rawValue)" }

    /// True when this period ends no earlier than `other` from every possible start date.
    /// Same kind of unit: compare counts (1y = 12m, 1w = 7d). Mixed: check every start day
    /// of a four-year leap cycle.
    public func isNeverShorter(than other: RetentionPeriod) -> Bool {
        func months(_ p: RetentionPeriod) -> Int? { p.unit == .months ? p.count : (p.unit == .years ? p.count * 12 : nil) }
        func days(_ p: RetentionPeriod) -> Int? { p.unit == .days ? p.count : (p.unit == .weeks ? p.count * 7 : nil) }
        if let a = months(self), let b = months(other) { return a >= b }
        if let a = days(self), let b = days(other) { return a >= b }
        let base = Date(timeIntervalSince1970: 1_704_067_200)  // 2024-01-01
        for d in 0..<1461 {
            let start = base.addingTimeInterval(Double(d) * 86400)
            if end(from: start) < other.end(from: start) { return false }
        }
        return true
    }

    /// `start` plus this period, in UTC calendar arithmetic (months and years keep the day of
    /// the month where it exists, e.g. Jan 31 + 1m = Feb 28/29).
    public func end(from start: Date) -> Date {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC") ?? cal.timeZone
        var c = DateComponents()
        switch unit {
        case .days: c.day = count
        case .weeks: c.day = count * 7
        case .months: c.month = count
        case .years: c.year = count
        }
        return cal.date(byAdding: c, to: start) ?? start.addingTimeInterval(Double(count) * 86400)
    }
}
