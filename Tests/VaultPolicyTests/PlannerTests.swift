import Foundation
import Testing
import VaultCore
import VaultPolicy

// Golden table for the retention planner (issue 5): every row's action and reason is
// written out by hand. Policy: weekly 8w, monthly 12m, yearly 10y, on-demand 30d, in UTC.

let standardRetention = RetentionPolicy(weekly: .init(count: 8, unit: .weeks), monthly: .init(count: 12, unit: .months),
                                        yearly: .init(count: 10, unit: .years), onDemand: .init(count: 30, unit: .days))

struct PlanRow: CustomStringConvertible, Sendable {
    var id: String
    var start: String
    var status: PointStatus = .ok
    var onDemand = false
    var retainUntil: String? = nil
    var softDeleted = false
    var held = false
    var server = "db1"
    var action: Decision.Action
    var tags: Set<Tag>
    var reason: String
    var description: String { id }

    var facts: PointFacts {
        PointFacts(id: id, server: server, startedAt: t(start), status: status, onDemand: onDemand,
                   retainUntil: retainUntil.map(t), softDeleted: softDeleted, held: held)
    }
}

@Suite("Retention planner")
struct PlannerTests {
    static let rows: [PlanRow] = [
        PlanRow(id: "A", start: "2019-01-06T02:00:00Z", action: .keep, tags: all,
                reason: "keep: yearly 2019 (also monthly 2019-01, weekly 2019-W01), retained until 2029-01-06"),
        PlanRow(id: "B", start: "2025-01-05T02:00:00Z", action: .keep, tags: all,
                reason: "keep: yearly 2025 (also monthly 2025-01, weekly 2025-W01), retained until 2035-01-05"),
        // R was the first point of March 2025 but is soft-deleted: S inherits the monthly tag.
        PlanRow(id: "R", start: "2025-03-02T02:00:00Z", softDeleted: true, action: .skip, tags: [],
                reason: "skip: soft-deleted; purge removes it when its soft-delete window ends"),
        PlanRow(id: "S", start: "2025-03-09T02:00:00Z", action: .expire, tags: [.weekly, .monthly],
                reason: "expire: monthly 2025-03 (also weekly 2025-W10), retention 12m ended 2026-03-09"),
        PlanRow(id: "C", start: "2026-01-04T02:00:00Z", action: .keep, tags: all,
                reason: "keep: yearly 2026 (also monthly 2026-01, weekly 2026-W01), retained until 2036-01-04"),
        PlanRow(id: "D", start: "2026-01-11T02:00:00Z", action: .expire, tags: [.weekly],
                reason: "expire: weekly 2026-W02, retention 8w ended 2026-03-08"),
        PlanRow(id: "E", start: "2026-02-01T02:00:00Z", action: .keep, tags: [.weekly, .monthly],
                reason: "keep: monthly 2026-02 (also weekly 2026-W05), retained until 2027-02-01"),
        PlanRow(id: "U", start: "2026-03-01T02:00:00Z", action: .keep, tags: [.weekly, .monthly],
                reason: "keep: monthly 2026-03 (also weekly 2026-W09), retained until 2027-03-01"),
        PlanRow(id: "N", start: "2026-03-01T09:00:00Z", onDemand: true, retainUntil: "2027-03-01T00:00:00Z",
                action: .keep, tags: [.onDemand], reason: "keep: on-demand, retained until 2027-03-01 (--retain)"),
        PlanRow(id: "O", start: "2026-03-15T02:00:00Z", held: true, action: .keep, tags: [.weekly],
                reason: "keep: legal hold (weekly 2026-W11, retention 8w ended 2026-05-10)"),
        PlanRow(id: "P", start: "2026-03-22T02:00:00Z", softDeleted: true, action: .skip, tags: [],
                reason: "skip: soft-deleted; purge removes it when its soft-delete window ends"),
        PlanRow(id: "Q", start: "2026-03-29T02:00:00Z", retainUntil: "2026-12-31T00:00:00Z", action: .keep, tags: [.weekly],
                reason: "keep: weekly 2026-W13, retained until 2026-12-31 as recorded in the vault; the policy alone would keep it until 2026-05-24"),
        PlanRow(id: "M", start: "2026-04-01T09:00:00Z", onDemand: true, action: .expire, tags: [.onDemand],
                reason: "expire: on-demand, retention 30d ended 2026-05-01"),
        PlanRow(id: "F", start: "2026-04-05T02:00:00Z", action: .keep, tags: [.weekly, .monthly],
                reason: "keep: monthly 2026-04 (also weekly 2026-W14), retained until 2027-04-05"),
        PlanRow(id: "G", start: "2026-04-12T02:00:00Z", action: .keep, tags: [.weekly],
                reason: "keep: weekly 2026-W15, retained until 2026-06-07"),
        PlanRow(id: "H", start: "2026-04-12T10:00:00Z", action: .expire, tags: [],
                reason: "expire: no tag (2026-W15, 2026-04 and 2026 already have their weekly, monthly and yearly points)"),
        PlanRow(id: "db2-1", start: "2026-04-12T11:00:00Z", server: "db2", action: .keep, tags: all,
                reason: "keep: yearly 2026 (also monthly 2026-04, weekly 2026-W15), retained until 2036-04-12"),
        PlanRow(id: "I", start: "2026-04-19T02:00:00Z", status: .failed, action: .expire, tags: [],
                reason: "expire: failed point (no database dumped), earns no tag"),
        PlanRow(id: "T", start: "2026-04-19T06:00:00Z", action: .keep, tags: [.weekly],
                reason: "keep: weekly 2026-W16, retained until 2026-06-14"),
        PlanRow(id: "J", start: "2026-04-20T02:00:00Z", status: .partial, action: .keep, tags: [.weekly],
                reason: "keep: weekly 2026-W17, retained until 2026-06-15"),
        PlanRow(id: "K", start: "2026-04-22T02:00:00Z", action: .keep, tags: [.weekly],
                reason: "keep: weekly 2026-W17, retained until 2026-06-17"),
        PlanRow(id: "L", start: "2026-05-10T09:00:00Z", onDemand: true, action: .keep, tags: [.onDemand],
                reason: "keep: on-demand, retained until 2026-06-09 (retention 30d)"),
    ]

    @Test func goldenDecisions() {
        let now = t("2026-06-01T00:00:00Z")
        // Shuffled input order must not matter (tags come from the start times), and the
        // decisions come back in input order.
        let input = Self.rows.reversed().map(\.facts)
        let decisions = RetentionPlanner.plan(points: input, retention: standardRetention, timeZone: utc, now: now)
        #expect(decisions.map(\.pointId) == Self.rows.reversed().map(\.id))
        let byId = Dictionary(uniqueKeysWithValues: decisions.map { ($0.pointId, $0) })
        for row in Self.rows {
            let d = byId[row.id]
            #expect(d?.action == row.action, "\(row.id)")
            #expect(d?.tags == row.tags, "\(row.id)")
            #expect(d?.reason == row.reason, "\(row.id)")
        }
    }

    @Test func retainUntilIsReportedForKeptPoints() {
        let now = t("2026-06-01T00:00:00Z")
        let decisions = RetentionPlanner.plan(points: Self.rows.map(\.facts), retention: standardRetention, timeZone: utc, now: now)
        let byId = Dictionary(uniqueKeysWithValues: decisions.map { ($0.pointId, $0) })
        #expect(byId["C"]?.retainUntil == t("2036-01-04T02:00:00Z"))
        #expect(byId["Q"]?.retainUntil == t("2026-12-31T00:00:00Z"))
        #expect(byId["H"]?.retainUntil == nil)
        #expect(byId["D"]?.retainUntil == t("2026-03-08T02:00:00Z"))
    }

    @Test func aPointExpiresExactlyAtItsRetainUntil() {
        let p = [PointFacts(id: "x", server: "db1", startedAt: t("2026-01-11T02:00:00Z"), status: .ok)]
        // (2026-01-04 would be yearly; this one is alone in its sequence, so it is all three.)
        let weeklyOnly = [PointFacts(id: "y", server: "db1", startedAt: t("2026-01-04T02:00:00Z"), status: .ok)] + p
        let before = RetentionPlanner.plan(points: weeklyOnly, retention: standardRetention, timeZone: utc,
                                           now: t("2026-03-08T01:59:59Z"))
        let at = RetentionPlanner.plan(points: weeklyOnly, retention: standardRetention, timeZone: utc,
                                       now: t("2026-03-08T02:00:00Z"))
        #expect(before[1].action == .keep)
        #expect(at[1].action == .expire)
    }

    @Test func decisionsEncodeAsJSON() throws {
        let d = RetentionPlanner.plan(points: [Self.rows[0].facts], retention: standardRetention, timeZone: utc,
                                      now: t("2026-06-01T00:00:00Z"))
        let json = String(decoding: try VaultJSON.encode(d), as: UTF8.self)
        #expect(json.contains("\"action\" : \"keep\""))
        #expect(json.contains("\"reason\" : \"keep: yearly 2019"))
        let back = try VaultJSON.decode([Decision].self, from: try VaultJSON.encode(d), what: "decisions")
        #expect(back == d)
    }
}
