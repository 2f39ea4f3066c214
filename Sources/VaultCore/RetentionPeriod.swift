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
        guard let last = t.last, let unit = Unit(rawValue: String(last)),
              let n = Int(t.dropLast()), n > 0, n < 100_000 else { return nil }
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
