import Foundation
import Testing
import VaultCore
import VaultPolicy

// A simulated ten-year run (issue 5): an injected clock steps from due time to due time of a
// weekly schedule (Sunday 02:00 Europe/Berlin), `pendingSlot` decides whether to back up,
// every backup succeeds, and after each backup the planner runs and its expired points are
// soft-deleted (purged 14 days later). The surviving points are compared with the policy's
// arithmetic: weekly 8w + monthly 12m + yearly 10y.

@Suite("Ten-year simulation")
struct SimulationTests {
    struct Outcome {
        var alive: [PointFacts]
        var tags: [String: Set<Tag>]
        var backups: Int
        var minAlive: Int
        var maxAlive: Int
        var now: Date
    }

    static func simulate(from start: Date, until end: Date, schedule: Schedule, retention: RetentionPolicy,
                         checkEachWeek: (Date, [PointFacts]) -> Void = { _, _ in }) -> Outcome {
        var points: [PointFacts] = []
        var softDeletedAt: [String: Date] = [:]
        var backups = 0
        var minAlive = Int.max, maxAlive = 0
        var now = start
        while true {
            guard let due = schedule.nextDue(after: now, count: 1).first, due < end else { break }
            // cron runs every 15 minutes; three runs around the due time must make one backup.
            for minutes in [5, 20, 35] {
                now = due.addingTimeInterval(Double(minutes) * 60)
                let completed = points.filter { !$0.softDeleted && $0.status != .failed && !$0.onDemand }.map(\.startedAt)
                if let slot = schedule.pendingSlot(at: now, completed: completed) {
                    backups += 1
                    points.append(PointFacts(id: "p\(backups)-\(slot.id)", server: "db1", startedAt: now, status: .ok))
                }
                let decisions = RetentionPlanner.plan(points: points, retention: retention, timeZone: schedule.timeZone, now: now)
                for d in decisions where d.action == .expire {
                    if let i = points.firstIndex(where: { $0.id == d.pointId }) {
                        points[i].softDeleted = true
                        softDeletedAt[d.pointId] = now
                    }
                }
                // Purge after a 14-day soft-delete window.
                points.removeAll { p in softDeletedAt[p.id].map { now.timeIntervalSince($0) >= 14 * 86400 } ?? false }
            }
            let alive = points.filter { !$0.softDeleted }
            checkEachWeek(now, alive)
            // The range over the last 52 weeks, when all ten yearly points are (nearly) there.
            if now > end.addingTimeInterval(-364 * 86400) { minAlive = min(minAlive, alive.count); maxAlive = max(maxAlive, alive.count) }
        }
        let alive = points.filter { !$0.softDeleted }
        return Outcome(alive: alive, tags: Tagging.assign(alive, timeZone: schedule.timeZone), backups: backups,
                       minAlive: minAlive, maxAlive: maxAlive, now: now)
    }

    /// The policy's arithmetic, without the planner: with one point per week, every point is
    /// weekly, the first point of a month is monthly, the first of a year is yearly, and a
    /// point lives until start + its longest retention.
    static func expectedAlive(_ all: [Date], now: Date, tz: TimeZone, retention: RetentionPolicy) -> Set<Date> {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        var seenMonths = Set<String>(), seenYears = Set<String>()
        var result = Set<Date>()
        for d in all.sorted() {
            let c = cal.dateComponents([.year, .month], from: d)
            let month = "\(c.year!)-\(c.month!)", year = "\(c.year!)"
            var until = retention.weekly.end(from: d)
            if seenMonths.insert(month).inserted { until = max(until, retention.monthly.end(from: d)) }
            if seenYears.insert(year).inserted { until = max(until, retention.yearly.end(from: d)) }
            if now < until { result.insert(d) }
        }
        return result
    }

    @Test func tenYearsOfWeeklyBackups() {
        let schedule = Schedule(weekday: .sunday, hour: 2, minute: 0, timeZone: berlin)
        let start = t("2026-01-01T00:00:00Z")
        let end = t("2036-01-01T00:00:00Z")
        var allStarts: [Date] = []
        var weeksChecked = 0
        var mismatches = 0
        let outcome = Self.simulate(from: start, until: end, schedule: schedule, retention: standardRetention) { now, alive in
            // Every week, the planner's survivors equal the arithmetic's.
            for p in alive where !allStarts.contains(p.startedAt) { allStarts.append(p.startedAt) }
            let expected = Self.expectedAlive(allStarts, now: now, tz: berlin, retention: standardRetention)
            if Set(alive.map(\.startedAt)) != expected { mismatches += 1 }
            weeksChecked += 1
        }
        #expect(mismatches == 0, "weeks where the planner and the arithmetic disagree")

        // 2026-01-04 … 2035-12-30: 522 Sundays, one backup each, despite three cron runs per week.
        #expect(outcome.backups == 522)
        #expect(weeksChecked == 522)

        // At the end (Sunday 2035-12-30 02:35 CET):
        let byTag = { (tag: Tag) in outcome.alive.filter { outcome.tags[$0.id]?.contains(tag) == true }.count }
        let deciding = { (tag: Tag) in
            outcome.alive.filter { Retention.decidingTag(start: $0.startedAt, tags: outcome.tags[$0.id] ?? [], policy: standardRetention) == tag }.count
        }
        // yearly: the first Sunday of 2026 … 2035 (10)
        #expect(byTag(.yearly) == 10)
        // monthly: first Sundays of Jan … Dec 2035 (12), plus the 9 older yearly points, which
        // are each also the first point of their January (Jan 2035's is counted once).
        #expect(byTag(.monthly) == 12 + 9)
        // Kept for their longest tag: 10 yearly, 11 monthly (Jan 2035 is yearly), 7 weekly
        // (Nov 11 … Dec 30 2035 is 8 Sundays; Dec 2 is the monthly point of December).
        #expect(deciding(.yearly) == 10)
        #expect(deciding(.monthly) == 11)
        #expect(deciding(.weekly) == 7)
        // 8 weekly + 12 monthly + 10 yearly = 30, minus 2 points that count twice = 28.
        #expect(outcome.alive.count == 28)
        #expect(outcome.minAlive >= 8 + 12 + 9 - 3 && outcome.maxAlive <= 9 + 13 + 10)
        print("""
            ten-year simulation: \(outcome.backups) backups; at \(schedule.localText(outcome.now)) \(outcome.alive.count) points remain: \
            by longest tag yearly \(deciding(.yearly)), monthly \(deciding(.monthly)), weekly \(deciding(.weekly)); \
            carrying the tag: yearly \(byTag(.yearly)), monthly \(byTag(.monthly)), weekly \(byTag(.weekly)); \
            over the last 52 weeks \(outcome.minAlive)…\(outcome.maxAlive) points
            """)
    }
}
