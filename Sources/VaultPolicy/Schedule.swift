public import Foundation
import VaultCore

/// A day of the week as a policy names it.
public enum Weekday: String, Codable, Sendable, CaseIterable {
    /// Monday, the first day of an ISO week.
    case monday
    /// Tuesday.
    case tuesday
    /// Wednesday.
    case wednesday
    /// Thursday.
    case thursday
    /// Friday.
    case friday
    /// Saturday.
    case saturday
    /// Sunday, the last day of an ISO week.
    case sunday

    /// Monday = 0 … Sunday = 6 (ISO 8601 order).
    public var isoIndex: Int { Weekday.allCases.firstIndex(of: self) ?? 0 }

    /// Parses `sunday`, `Sunday`, `sun`; nil otherwise.
    public static func parse(_ text: String) -> Weekday? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        return Weekday(rawValue: t) ?? Weekday.allCases.first { $0.rawValue.prefix(3) == t && t.count == 3 }
    }
}

/// One weekly backup slot of a schedule.
///
/// Slot *k* is due at the schedule's day and time in ISO week *k* and lasts until slot
/// *k+1* is due. Its id is the ISO week-year and week of its due time, e.g. `2026-W48` or
/// `2020-W53`.
public struct Slot: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// `2026-W48`: ISO 8601 week-year and week number of `due`, in the schedule's time zone.
    public var id: String
    /// ISO 8601 week-year of `due` (differs from the calendar year around New Year).
    public var isoYear: Int
    /// ISO 8601 week number of `due`, 1…53.
    public var isoWeek: Int
    /// Monday 00:00 (local) of the ISO week holding `due`.
    public var weekStart: Date
    /// When the slot's backup is due: the schedule's day and time in that week.
    public var due: Date
    /// When the next slot is due; the slot ends there.
    public var end: Date

    /// A slot from its parts; normally obtained from `Schedule.slot(containing:)`.
    public init(id: String, isoYear: Int, isoWeek: Int, weekStart: Date, due: Date, end: Date) {
        self.id = id; self.isoYear = isoYear; self.isoWeek = isoWeek
        self.weekStart = weekStart; self.due = due; self.end = end
    }

    /// True when a scheduled point started at `date` satisfies this slot: it started in the
    /// slot's ISO week (even before `due`, e.g. a catch-up of the previous slot run late)
    /// or after it, before the next slot is due. See `Schedule.pendingSlot(at:completed:)`.
    public func isSatisfied(byPointStartedAt date: Date) -> Bool { date >= weekStart && date < end }

    /// `2026-W48 (due 2026-11-29T01:00:00.000Z)`
    public var description: String { "\(id) (due \(Timestamp.rfc3339(due)))" }
}

/// The weekly backup schedule: one backup per week at a day and time of a time zone.
///
/// There is deliberately no daily schedule (long-term retention runs weekly at most often)
/// and no separate monthly or yearly one: the first successful backup of each month and
/// year earns the `monthly` and `yearly` tags (see `Tagging`).
///
/// Times are wall-clock times of `timeZone` and stay so across DST changes. A time the
/// clock skips on a spring-forward day (02:30 in Europe/Berlin on 2026-03-29) runs at the
/// first valid instant after the gap (03:00 CEST); a time the clock shows twice on a
/// fall-back day runs once, at its first occurrence.
public struct Schedule: Equatable, Sendable {
    /// The day of the week backups are due.
    public var weekday: Weekday
    /// 0…23
    public var hour: Int
    /// 0…59
    public var minute: Int
    /// The zone the time is read in, and in which weeks, months and years are counted.
    public var timeZone: TimeZone

    /// A weekly schedule: `weekday` at `hour`:`minute` wall-clock time of `timeZone`.
    public init(weekday: Weekday, hour: Int, minute: Int, timeZone: TimeZone) {
        self.weekday = weekday; self.hour = hour; self.minute = minute; self.timeZone = timeZone
    }

    /// `sunday 02:00 Europe/Berlin`
    public var summary: String {
        "\(weekday.rawValue) \(String(format: "%02d:%02d", hour, minute)) \(timeZone.identifier)"
    }

    /// The due instant in the ISO week whose Monday is local day `monday`.
    private func due(monday: Int) -> Date {
        let local = (monday + weekday.isoIndex) * LocalClock.day + hour * 3600 + minute * 60
        return LocalClock.instant(local: local, timeZone)
    }

    private func slot(monday: Int) -> Slot {
        let due = due(monday: monday)
        let week = LocalClock.isoWeek(days: monday)
        return Slot(id: String(format: "%04d-W%02d", week.year, week.week), isoYear: week.year, isoWeek: week.week,
                    weekStart: LocalClock.instant(local: monday * LocalClock.day, timeZone),
                    due: due, end: self.due(monday: monday + 7))
    }

    /// The slot in force at `date`: the latest slot due at or before `date` (so
    /// `slot.due <= date < slot.end` always holds).
    ///
    /// A machine that was off over several due times finds only the latest of them here:
    /// a missed slot is caught up once, not once per missed week.
    public func slot(containing date: Date) -> Slot {
        let monday = LocalClock.monday(ofDays: LocalClock.localDays(date, timeZone))
        let this = due(monday: monday)
        return slot(monday: this <= date ? monday : monday - 7)
    }

    /// The next `count` due instants strictly after `date`, in order.
    public func nextDue(after date: Date, count: Int) -> [Date] {
        guard count > 0 else { return [] }
        var result: [Date] = []
        var s = slot(containing: date)
        while result.count < count {
            s = slot(containing: s.end)
            result.append(s.due)
        }
        return result
    }

    /// The slot `run` should back up now, or nil when nothing is due.
    ///
    /// `completed` are the start times of the server's scheduled points that count as done:
    /// status `ok` or `partial` (a partial point is not retried: the databases it refused
    /// would most likely be refused again), not soft-deleted. On-demand and failed points do
    /// not count. The slot in force at `now` is pending when none of them satisfies it
    /// (`Slot.isSatisfied(byPointStartedAt:)`). Because a slot is also satisfied by a point
    /// that started earlier in its ISO week, a catch-up run on Tuesday for the missed Sunday
    /// slot also covers the coming Sunday of the same ISO week: one point per ISO week.
    public func pendingSlot(at now: Date, completed: [Date]) -> Slot? {
        let s = slot(containing: now)
        return completed.contains(where: { s.isSatisfied(byPointStartedAt: $0) }) ? nil : s
    }

    /// `date` as `2026-03-29 03:00 +02:00` in the schedule's time zone.
    public func localText(_ date: Date) -> String { LocalClock.dateTimeText(date, timeZone) }
}
