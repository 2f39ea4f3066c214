import Foundation
import Testing
import VaultCore
import VaultPolicy

// Golden tables for the weekly schedule (issue 5). Every expected instant is written out by
// hand as a UTC literal, with the local reading in a comment.

/// A UTC instant from an RFC 3339 literal.
func t(_ text: String) -> Date {
    guard let d = Timestamp.parse(text) else { fatalError("bad date literal \(text)") }
    return d
}

func zone(_ id: String) -> TimeZone {
    guard let z = TimeZone(identifier: id) else { fatalError("no time zone \(id)") }
    return z
}

let utc = zone("UTC")
let berlin = zone("Europe/Berlin")
let losAngeles = zone("America/Los_Angeles")

@Suite("Weekly schedule")
struct ScheduleTests {
    let sundayBerlin0230 = Schedule(weekday: .sunday, hour: 2, minute: 30, timeZone: berlin)
    let sundayUTC0200 = Schedule(weekday: .sunday, hour: 2, minute: 0, timeZone: utc)

    @Test func nextDueAcrossSpringForward() {
        // 2026-03-29: Europe/Berlin jumps from 02:00 CET to 03:00 CEST; 02:30 does not exist
        // and runs at the first valid instant after the gap, 03:00 CEST.
        #expect(sundayBerlin0230.nextDue(after: t("2026-03-20T00:00:00Z"), count: 3) == [
            t("2026-03-22T01:30:00Z"),   // 02:30 CET
            t("2026-03-29T01:00:00Z"),   // 03:00 CEST (02:30 skipped)
            t("2026-04-05T00:30:00Z"),   // 02:30 CEST
        ])
        let s = Schedule(weekday: .sunday, hour: 2, minute: 0, timeZone: berlin)
        #expect(s.nextDue(after: t("2026-03-28T00:00:00Z"), count: 1) == [t("2026-03-29T01:00:00Z")])  // 03:00 CEST
        // 03:00 itself exists on that day and is not moved.
        let s3 = Schedule(weekday: .sunday, hour: 3, minute: 0, timeZone: berlin)
        #expect(s3.nextDue(after: t("2026-03-28T00:00:00Z"), count: 1) == [t("2026-03-29T01:00:00Z")])
    }

    @Test func nextDueAcrossFallBackRunsOnce() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice and the slot
        // is the first of the two (00:30Z), not 01:30Z too.
        #expect(sundayBerlin0230.nextDue(after: t("2026-10-12T00:00:00Z"), count: 3) == [
            t("2026-10-18T00:30:00Z"),   // 02:30 CEST
            t("2026-10-25T00:30:00Z"),   // 02:30 CEST, first pass
            t("2026-11-01T01:30:00Z"),   // 02:30 CET
        ])
        // Between the two passes of 02:30, and during the second, the slot stays the same.
        #expect(sundayBerlin0230.slot(containing: t("2026-10-25T01:30:00Z")).due == t("2026-10-25T00:30:00Z"))
        #expect(sundayBerlin0230.slot(containing: t("2026-10-25T01:30:00Z")).id == "2026-W43")
        #expect(sundayBerlin0230.nextDue(after: t("2026-10-25T00:30:00Z"), count: 1) == [t("2026-11-01T01:30:00Z")])
    }

    @Test func nextDueInLosAngelesAndStrictlyAfter() {
        let s = Schedule(weekday: .saturday, hour: 23, minute: 15, timeZone: losAngeles)
        // 2026-03-08 is the US spring-forward Sunday; Saturday 23:15 is not affected but its offset changes.
        #expect(s.nextDue(after: t("2026-02-28T00:00:00Z"), count: 3) == [
            t("2026-03-01T07:15:00Z"),   // Sat 2026-02-28 23:15 PST
            t("2026-03-08T07:15:00Z"),   // Sat 2026-03-07 23:15 PST
            t("2026-03-15T06:15:00Z"),   // Sat 2026-03-14 23:15 PDT
        ])
        // A due instant is not "after" itself.
        #expect(s.nextDue(after: t("2026-03-01T07:15:00Z"), count: 1) == [t("2026-03-08T07:15:00Z")])
        #expect(s.nextDue(after: t("2026-03-01T07:15:00Z"), count: 0) == [])
    }

    @Test(arguments: [
        // (instant, slot id, slot due)
        ("2020-12-27T02:00:00Z", "2020-W52", "2020-12-27T02:00:00Z"),
        ("2021-01-01T12:00:00Z", "2020-W52", "2020-12-27T02:00:00Z"),  // Friday of W53, before W53's Sunday
        ("2021-01-03T01:59:59Z", "2020-W52", "2020-12-27T02:00:00Z"),
        ("2021-01-03T02:00:00Z", "2020-W53", "2021-01-03T02:00:00Z"),  // Sunday of ISO week 2020-W53
        ("2021-01-09T23:00:00Z", "2020-W53", "2021-01-03T02:00:00Z"),
        ("2021-01-10T02:00:00Z", "2021-W01", "2021-01-10T02:00:00Z"),
        ("2026-11-29T03:00:00Z", "2026-W48", "2026-11-29T02:00:00Z"),
        ("2027-01-03T02:00:00Z", "2026-W53", "2027-01-03T02:00:00Z"),  // 2026 has 53 ISO weeks too
    ])
    func slotsAreIsoWeeks(at: String, id: String, due: String) {
        let slot = sundayUTC0200.slot(containing: t(at))
        #expect(slot.id == id)
        #expect(slot.due == t(due))
        #expect(slot.due <= t(at) && t(at) < slot.end)
    }

    @Test func slotBoundsAndWeekStartInBerlin() {
        let s = sundayBerlin0230.slot(containing: t("2026-03-30T12:00:00Z"))
        #expect(s.id == "2026-W13")
        #expect(s.isoYear == 2026 && s.isoWeek == 13)
        #expect(s.weekStart == t("2026-03-22T23:00:00Z"))  // Monday 2026-03-23 00:00 CET
        #expect(s.due == t("2026-03-29T01:00:00Z"))
        #expect(s.end == t("2026-04-05T00:30:00Z"))
        #expect(sundayBerlin0230.localText(s.due) == "2026-03-29 03:00 +02:00")
    }

    @Test func missedSlotsAreCaughtUpOnceThenTheScheduleResumes() {
        let s = sundayUTC0200
        // Last point Sunday 2026-03-01 (W09); machine off until Tuesday 2026-03-24 (W13).
        var done = [t("2026-03-01T02:05:00Z")]
        // Only the latest due slot counts (W12, due Sunday 03-22), not W10, W11 and W12.
        let pending = s.pendingSlot(at: t("2026-03-24T10:00:00Z"), completed: done)
        #expect(pending?.id == "2026-W12")
        #expect(pending?.due == t("2026-03-22T02:00:00Z"))
        done.append(t("2026-03-24T10:00:00Z"))
        #expect(s.pendingSlot(at: t("2026-03-24T10:15:00Z"), completed: done) == nil)
        // The catch-up ran in ISO week W13, so W13's own Sunday slot is already satisfied:
        // one point per ISO week.
        #expect(s.pendingSlot(at: t("2026-03-29T02:10:00Z"), completed: done) == nil)
        // W14 runs as usual.
        #expect(s.pendingSlot(at: t("2026-04-05T02:01:00Z"), completed: done)?.id == "2026-W14")
    }

    @Test func aSlotIsDueOnlyFromItsDueTime() {
        let s = sundayUTC0200
        let done = [t("2026-03-22T02:03:00Z")]
        #expect(s.pendingSlot(at: t("2026-03-29T01:59:00Z"), completed: done) == nil)   // W12 done, W13 not yet due
        #expect(s.pendingSlot(at: t("2026-03-29T02:00:00Z"), completed: done)?.id == "2026-W13")
        #expect(s.pendingSlot(at: t("2026-03-29T02:00:00Z"), completed: [])?.id == "2026-W13")
    }

    /// Checked against Foundation's Calendar for zones with unusual DST: every due instant
    /// reads as the scheduled day and time, unless that time was skipped, in which case it is
    /// the instant the clock jumped.
    @Test(arguments: ["Europe/Berlin", "America/Los_Angeles", "America/Santiago", "Australia/Lord_Howe",
                      "Asia/Kolkata", "America/Havana", "Pacific/Chatham"])
    func dueTimesReadAsScheduledInEveryZone(zoneId: String) {
        let tz = zone(zoneId)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        for (day, hour, minute) in [(Weekday.sunday, 0, 0), (.sunday, 2, 30), (.saturday, 23, 59), (.wednesday, 1, 0)] {
            let s = Schedule(weekday: day, hour: hour, minute: minute, timeZone: tz)
            let dues = s.nextDue(after: t("2026-01-01T00:00:00Z"), count: 110)
            #expect(dues.count == 110)
            for (a, b) in zip(dues, dues.dropFirst()) {
                // Consecutive slots are a week apart, give or take a DST shift.
                #expect(abs(b.timeIntervalSince(a) - 7 * 86400) <= 3600, "\(zoneId) \(a) \(b)")
            }
            for due in dues {
                let c = cal.dateComponents([.weekday, .hour, .minute], from: due)
                let wantWeekday = (day.isoIndex + 1) % 7 + 1  // Calendar: Sunday = 1
                if c.weekday == wantWeekday && c.hour == hour && c.minute == minute {
                    // Ambiguous readings resolve to the first one.
                    let hourEarlier = due.addingTimeInterval(-3600)
                    let e = cal.dateComponents([.hour, .minute], from: hourEarlier)
                    let halfEarlier = cal.dateComponents([.hour, .minute], from: due.addingTimeInterval(-1800))
                    #expect(!(e.hour == hour && e.minute == minute) && !(halfEarlier.hour == hour && halfEarlier.minute == minute),
                            "\(zoneId) \(due) is the second reading")
                } else {
                    // Skipped: the offset changed right at `due`.
                    #expect(tz.secondsFromGMT(for: due.addingTimeInterval(-1)) < tz.secondsFromGMT(for: due),
                            "\(zoneId) \(s.summary): \(due) reads \(c)")
                }
                #expect(s.slot(containing: due).due == due)
            }
        }
    }

    @Test(arguments: [("sunday", Weekday.sunday), ("Mon", .monday), ("WEDNESDAY", .wednesday), ("sat", .saturday)])
    func weekdaysParse(text: String, day: Weekday) { #expect(Weekday.parse(text) == day) }

    @Test func weekdayIsoIndex() {
        #expect(Weekday.monday.isoIndex == 0 && Weekday.sunday.isoIndex == 6)
        #expect(Weekday.parse("sundays") == nil && Weekday.parse("su") == nil)
    }
}

/// Swift Testing has a `Tag` too; in these tests `Tag` is pgvault's retention tag.
typealias Tag = VaultPolicy.Tag
