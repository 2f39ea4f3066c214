import Foundation
import Testing
import VaultCore
import VaultPolicy

// Golden tables for GFS tagging (issue 5). Each row is written out by hand:
// (point id, start, status, on-demand) → expected tags.

struct TagRow: CustomStringConvertible, Sendable {
    var id: String
    var start: String
    var status: PointStatus = .ok
    var onDemand = false
    var softDeleted = false
    var expected: Set<Tag>
    var description: String { "\(id) \(start) \(status)" }
}

/// Tags every row's point in one server sequence and compares with the row's expectation.
func checkTags(_ rows: [TagRow], timeZone: TimeZone, sourceLocation: SourceLocation = #_sourceLocation) {
    let points = rows.map { PointFacts(id: $0.id, server: "db1", startedAt: t($0.start), status: $0.status,
                                       onDemand: $0.onDemand, softDeleted: $0.softDeleted) }
    let tags = Tagging.assign(points, timeZone: timeZone)
    for row in rows {
        #expect(tags[row.id] == row.expected, "\(row) in \(timeZone.identifier)", sourceLocation: sourceLocation)
    }
}

let all: Set<Tag> = [.weekly, .monthly, .yearly]

@Suite("GFS tags")
struct TaggingTests {
    @Test func isoWeek53SpansTheNewYear() {
        // 2020 has 53 ISO weeks: 2020-W53 runs Mon 2020-12-28 … Sun 2021-01-03.
        checkTags([
            TagRow(id: "w52", start: "2020-12-27T02:00:00Z", expected: all),           // 2020-W52, Dec, 2020 (first)
            TagRow(id: "w53thu", start: "2020-12-31T02:00:00Z", expected: [.weekly]),  // 2020-W53 (Dec 2020 taken)
            TagRow(id: "w53sun", start: "2021-01-03T02:00:00Z", expected: [.monthly, .yearly]),  // W53 taken; Jan 2021, 2021
            TagRow(id: "w01", start: "2021-01-10T02:00:00Z", expected: [.weekly]),     // 2021-W01
        ], timeZone: utc)
        #expect(Tagging.periods(of: t("2021-01-01T12:00:00Z"), timeZone: utc)
                == Periods(week: "2020-W53", month: "2021-01", year: "2021"))
        #expect(Tagging.periods(of: t("2019-12-30T12:00:00Z"), timeZone: utc)
                == Periods(week: "2020-W01", month: "2019-12", year: "2019"))  // ISO week-year 2020 starts in 2019
    }

    // The same four instants around New Year, tagged in three time zones.
    // p1 2020-12-31T23:30Z = UTC Thu Dec 31 | Berlin Fri Jan 1 00:30 | LA Thu Dec 31 15:30
    // p2 2021-01-01T05:00Z = UTC Fri Jan 1  | Berlin Fri Jan 1 06:00 | LA Thu Dec 31 21:00
    // p3 2021-01-01T09:00Z = UTC Fri Jan 1  | Berlin Fri Jan 1 10:00 | LA Fri Jan 1 01:00
    static let newYear = ["2020-12-20T10:00:00Z", "2020-12-31T23:30:00Z", "2021-01-01T05:00:00Z", "2021-01-01T09:00:00Z"]

    @Test(arguments: [
        ("UTC", [all, [.weekly], [.monthly, .yearly], []] as [Set<Tag>]),
        ("Europe/Berlin", [all, all, [], []]),
        ("America/Los_Angeles", [all, [.weekly], [], [.monthly, .yearly]]),
    ])
    func yearBoundaryDependsOnTheTimeZone(zoneId: String, expected: [Set<Tag>]) {
        let rows = zip(Self.newYear, expected).enumerated().map { i, pair in
            TagRow(id: "p\(i)", start: pair.0, expected: pair.1)
        }
        checkTags(rows, timeZone: zone(zoneId))
    }

    @Test func dstChangeWeeksInBerlin() {
        checkTags([
            TagRow(id: "a", start: "2026-03-22T01:30:00Z", expected: all),             // Sun 02:30 CET, W12, first of 2026 here
            TagRow(id: "b", start: "2026-03-29T01:00:00Z", expected: [.weekly]),       // Sun 03:00 CEST (spring forward), W13
            TagRow(id: "c", start: "2026-03-29T22:30:00Z", expected: [.weekly]),       // Mon 00:30 CEST = W14 in Berlin
            TagRow(id: "d", start: "2026-03-31T22:30:00Z", expected: [.monthly]),      // Wed Apr 1 00:30 CEST: April in Berlin
            TagRow(id: "e", start: "2026-10-25T00:30:00Z", expected: [.weekly, .monthly]),  // 02:30 CEST, W43, first of Oct
            TagRow(id: "f", start: "2026-10-25T01:30:00Z", expected: []),              // 02:30 CET, the repeated hour: same week
        ], timeZone: berlin)
        // In UTC the same instants fall differently: c is still Sunday of W13, d still March.
        checkTags([
            TagRow(id: "a", start: "2026-03-22T01:30:00Z", expected: all),
            TagRow(id: "b", start: "2026-03-29T01:00:00Z", expected: [.weekly]),
            TagRow(id: "c", start: "2026-03-29T22:30:00Z", expected: []),
            TagRow(id: "d", start: "2026-03-31T22:30:00Z", expected: [.weekly]),
            TagRow(id: "e", start: "2026-10-25T00:30:00Z", expected: [.weekly, .monthly]),
            TagRow(id: "f", start: "2026-10-25T01:30:00Z", expected: []),
        ], timeZone: utc)
    }

    @Test func missedWeeksAndASecondRunInTheSameWeek() {
        checkTags([
            TagRow(id: "feb22", start: "2026-02-22T02:00:00Z", expected: all),              // W08
            TagRow(id: "mar01", start: "2026-03-01T02:00:00Z", expected: [.weekly, .monthly]),  // W09, March
            // W10, W11, W12 missed (machine off); one catch-up on Tuesday of W13.
            TagRow(id: "mar24", start: "2026-03-24T10:00:00Z", expected: [.weekly]),        // W13
            TagRow(id: "mar29", start: "2026-03-29T02:00:00Z", expected: []),               // second run in W13: no tag
            TagRow(id: "apr05", start: "2026-04-05T02:00:00Z", expected: [.weekly, .monthly]),
            TagRow(id: "apr05b", start: "2026-04-05T02:00:00Z", expected: []),              // same instant, later id
        ], timeZone: utc)
    }

    @Test func failedPointsEarnNothingAndStealNothing() {
        checkTags([
            TagRow(id: "f1", start: "2026-01-04T02:00:00Z", status: .failed, expected: []),
            TagRow(id: "ok1", start: "2026-01-04T03:00:00Z", expected: all),                // the failed one did not block
            TagRow(id: "f2", start: "2026-01-11T02:00:00Z", status: .failed, expected: []),
            TagRow(id: "ok2", start: "2026-01-11T09:00:00Z", expected: [.weekly]),
        ], timeZone: utc)
    }

    @Test func partialPointsEarnTagsButDoNotBlockTheFirstOkPoint() {
        checkTags([
            // W02 2026 (Mon Jan 5 … Sun Jan 11)
            TagRow(id: "p1", start: "2026-01-05T02:00:00Z", status: .partial, expected: all),  // first of week, month, year
            TagRow(id: "p2", start: "2026-01-06T02:00:00Z", status: .partial, expected: []),   // blocked by p1
            TagRow(id: "o1", start: "2026-01-07T02:00:00Z", expected: all),                    // first ok: tagged as well
            TagRow(id: "o2", start: "2026-01-08T02:00:00Z", expected: []),
            TagRow(id: "p3", start: "2026-01-09T02:00:00Z", status: .partial, expected: []),   // blocked by o1
            // W03: ok first, then partial → the partial gets nothing.
            TagRow(id: "o3", start: "2026-01-12T02:00:00Z", expected: [.weekly]),
            TagRow(id: "p4", start: "2026-01-13T02:00:00Z", status: .partial, expected: []),
            // W05 spans Jan/Feb: a partial on Sun Feb 1 takes February, the next ok point
            // (W06) takes February too because only a partial had it.
            TagRow(id: "p5", start: "2026-01-26T02:00:00Z", status: .partial, expected: [.weekly]),
            TagRow(id: "p6", start: "2026-02-01T02:00:00Z", status: .partial, expected: [.monthly]),
            TagRow(id: "o4", start: "2026-02-02T02:00:00Z", expected: [.weekly, .monthly]),
        ], timeZone: utc)
    }

    @Test func onDemandPointsAreOnlyOnDemand() {
        checkTags([
            TagRow(id: "od1", start: "2026-01-04T01:00:00Z", onDemand: true, expected: [.onDemand]),
            TagRow(id: "s1", start: "2026-01-04T02:00:00Z", expected: all),             // not blocked by od1
            TagRow(id: "od2", start: "2026-01-05T02:00:00Z", status: .partial, onDemand: true, expected: [.onDemand]),
            TagRow(id: "od3", start: "2026-01-06T02:00:00Z", status: .failed, onDemand: true, expected: []),
        ], timeZone: utc)
    }

    @Test func softDeletedPointsDoNotKeepTheirTag() {
        checkTags([
            TagRow(id: "gone", start: "2026-03-01T02:00:00Z", softDeleted: true, expected: []),
            TagRow(id: "next", start: "2026-03-08T02:00:00Z", expected: all),  // inherits month and year
        ], timeZone: utc)
    }

    @Test func tagsArePerServer() {
        let points = [
            PointFacts(id: "a", server: "db1", startedAt: t("2026-01-04T02:00:00Z"), status: .ok),
            PointFacts(id: "b", server: "db2", startedAt: t("2026-01-04T03:00:00Z"), status: .ok),
        ]
        let tags = Tagging.assign(points, timeZone: utc)
        #expect(tags["a"] == all && tags["b"] == all)
    }

    @Test func thePrimitiveTakesTheBlockingPoints() {
        #expect(Tagging.tags(for: t("2021-01-03T02:00:00Z"), earlierSuccessfulPoints: [t("2020-12-31T02:00:00Z")],
                             timeZone: utc) == [.monthly, .yearly])
        #expect(Tagging.tags(for: t("2021-01-03T02:00:00Z"), earlierSuccessfulPoints: [], timeZone: utc) == all)
        // Later points in the list are ignored.
        #expect(Tagging.tags(for: t("2021-01-03T02:00:00Z"), earlierSuccessfulPoints: [t("2021-01-03T05:00:00Z")],
                             timeZone: utc) == all)
    }

    @Test func retainUntilIsTheLongestTag() {
        let r = RetentionPolicy(weekly: .init(count: 8, unit: .weeks), monthly: .init(count: 12, unit: .months),
                                yearly: .init(count: 10, unit: .years), onDemand: .init(count: 30, unit: .days))
        let start = t("2026-01-04T02:00:00Z")
        #expect(Retention.retainUntil(start: start, tags: [.weekly], policy: r) == t("2026-03-01T02:00:00Z"))
        #expect(Retention.retainUntil(start: start, tags: [.weekly, .monthly], policy: r) == t("2027-01-04T02:00:00Z"))
        #expect(Retention.retainUntil(start: start, tags: all, policy: r) == t("2036-01-04T02:00:00Z"))
        #expect(Retention.retainUntil(start: start, tags: [.onDemand], policy: r) == t("2026-02-03T02:00:00Z"))
        #expect(Retention.retainUntil(start: start, tags: [], policy: r) == nil)
        #expect(Retention.decidingTag(start: start, tags: all, policy: r) == .yearly)
        // Jan 31 + 1 month keeps the month's end.
        let m1 = RetentionPolicy(weekly: .init(count: 4, unit: .weeks), monthly: .init(count: 1, unit: .months),
                                 yearly: .init(count: 1, unit: .years))
        #expect(Retention.retainUntil(start: t("2026-01-31T02:00:00Z"), tags: [.monthly], policy: m1)
                == t("2026-02-28T02:00:00Z"))
    }
}
