public import Foundation
public import VaultCore

/// A retention tag of a recovery point (grandfather-father-son).
public enum Tag: String, Codable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// The first successful scheduled point of an ISO week.
    case weekly
    /// The first successful scheduled point of a calendar month.
    case monthly
    /// The first successful scheduled point of a calendar year.
    case yearly
    /// A backup someone asked for (CLI `backup`, `POST /v1/backups`); never a GFS tag.
    case onDemand = "on-demand"

    /// Priority order for retention and display: yearly > monthly > weekly > on-demand.
    private var rank: Int {
        switch self {
        case .onDemand: return 0
        case .weekly: return 1
        case .monthly: return 2
        case .yearly: return 3
        }
    }

    /// Orders by retention priority: on-demand < weekly < monthly < yearly.
    public static func < (a: Tag, b: Tag) -> Bool { a.rank < b.rank }
    /// The tag as written in policies and JSON: `weekly`, `monthly`, `yearly`, `on-demand`.
    public var description: String { rawValue }

    /// The three calendar tags, longest-kept first.
    public static let gfs: [Tag] = [.yearly, .monthly, .weekly]
}

/// The calendar periods an instant falls in, in one time zone.
public struct Periods: Equatable, Hashable, Sendable {
    /// ISO 8601 week, e.g. `2020-W53` (its week-year may differ from the calendar year).
    public var week: String
    /// Calendar month, e.g. `2021-01`.
    public var month: String
    /// Calendar year, e.g. `2021`.
    public var year: String

    /// Periods from their ids.
    public init(week: String, month: String, year: String) { self.week = week; self.month = month; self.year = year }

    /// The period a GFS tag is about.
    public func period(for tag: Tag) -> String? {
        switch tag {
        case .weekly: return week
        case .monthly: return month
        case .yearly: return year
        case .onDemand: return nil
        }
    }
}

/// The facts about one recovery point that tagging and retention need.
public struct PointFacts: Codable, Equatable, Sendable {
    /// The point's id.
    public var id: String
    /// The point's server name (tags are per server).
    public var server: String
    /// When the point's backup started (its position in the sequence).
    public var startedAt: Date
    /// `ok`, `partial` or `failed` (see `Tagging` for what each earns).
    public var status: PointStatus
    /// Taken on request, not by the schedule: tagged `on-demand` only, never weekly/monthly/yearly.
    public var onDemand: Bool
    /// A retain-until recorded in the vault for this point (an on-demand `--retain`, or an
    /// extension with `pgvault retain`): the planner never expires the point before it.
    public var retainUntil: Date?
    /// Already soft-deleted: takes part in no tagging and gets a `.skip` decision.
    public var softDeleted: Bool
    /// Under legal hold: always kept.
    public var held: Bool

    /// The facts of one point; the defaults describe a plain scheduled point.
    public init(id: String, server: String, startedAt: Date, status: PointStatus, onDemand: Bool = false,
                retainUntil: Date? = nil, softDeleted: Bool = false, held: Bool = false) {
        self.id = id; self.server = server; self.startedAt = startedAt; self.status = status
        self.onDemand = onDemand; self.retainUntil = retainUntil; self.softDeleted = softDeleted; self.held = held
    }
}

/// The GFS tagging rules, as pure functions.
///
/// * The first successful scheduled point of an ISO week is `weekly`, of a calendar month
///   `monthly`, of a calendar year `yearly`, all in the schedule's time zone. A point
///   carries every tag it earns.
/// * A **failed** point (no database dumped) earns no tag and does not take a tag from a
///   later point.
/// * A **partial** point (some databases refused or failed, the others dumped) earns tags
///   like a successful one: for the databases it has, it is the best copy of its week.
///   But it does not block: the first `ok` point of the same week, month or year also earns
///   the tag, so the period ends up with one complete copy too. A partial point is blocked
///   by any earlier `ok` or partial point of the period.
/// * **On-demand** points are tagged `on-demand` only (unless failed) and neither earn nor
///   block calendar tags.
/// * **Soft-deleted** points take part in nothing, so a deleted point never keeps a tag
///   away from the next point of its period.
public enum Tagging {
    /// The week, month and year of `date` in `timeZone`.
    public static func periods(of date: Date, timeZone: TimeZone) -> Periods {
        let days = LocalClock.localDays(date, timeZone)
        let c = CivilDate.civil(days: days)
        let w = LocalClock.isoWeek(days: days)
        return Periods(week: String(format: "%04d-W%02d", w.year, w.week),
                       month: String(format: "%04d-%02d", c.year, c.month),
                       year: String(format: "%04d", c.year))
    }

    /// The calendar tags a point started at `pointStart` earns, given the start times of the
    /// earlier points that block it (for an `ok` point: the earlier `ok` points; for a
    /// partial point: the earlier `ok` and partial points; see the type's rules). Points at
    /// or after `pointStart` in the list are ignored.
    public static func tags(for pointStart: Date, earlierSuccessfulPoints: [Date], timeZone: TimeZone) -> Set<Tag> {
        let mine = periods(of: pointStart, timeZone: timeZone)
        var tags: Set<Tag> = [.weekly, .monthly, .yearly]
        for earlier in earlierSuccessfulPoints where earlier < pointStart {
            let p = periods(of: earlier, timeZone: timeZone)
            if p.week == mine.week { tags.remove(.weekly) }
            if p.month == mine.month { tags.remove(.monthly) }
            if p.year == mine.year { tags.remove(.yearly) }
            if tags.isEmpty { break }
        }
        return tags
    }

    /// The tags of every point, by point id, recomputed from each server's sequence of points
    /// (ordered by start time, then id). Soft-deleted points get an empty set.
    public static func assign(_ points: [PointFacts], timeZone: TimeZone) -> [String: Set<Tag>] {
        var result: [String: Set<Tag>] = [:]
        let ordered = points.sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
        // Per server and tag: the periods that already have an ok point / any ok-or-partial point.
        var okSeen: [String: Set<String>] = [:]
        var anySeen: [String: Set<String>] = [:]
        for p in ordered {
            var tags: Set<Tag> = []
            defer { result[p.id] = tags }
            if p.softDeleted || p.status == .failed { continue }
            if p.onDemand { tags = [.onDemand]; continue }
            let periods = periods(of: p.startedAt, timeZone: timeZone)
            for tag in Tag.gfs {
                guard let period = periods.period(for: tag) else { continue }
                let key = "\(tag.rawValue)\u{0}\(period)"
                let serverOk = okSeen[p.server, default: []]
                let serverAny = anySeen[p.server, default: []]
                switch p.status {
                case .ok:
                    if !serverOk.contains(key) { tags.insert(tag) }
                    okSeen[p.server, default: []].insert(key)
                    anySeen[p.server, default: []].insert(key)
                case .partial:
                    if !serverAny.contains(key) { tags.insert(tag) }
                    anySeen[p.server, default: []].insert(key)
                case .failed:
                    break
                }
            }
        }
        return result
    }
}

/// Retain-until arithmetic.
public enum Retention {
    /// `start` plus the longest retention among `tags` (yearly > monthly > weekly; on-demand
    /// uses `policy.onDemand`), in `RetentionPeriod.end(from:)` calendar arithmetic; nil
    /// when `tags` is empty.
    public static func retainUntil(start: Date, tags: Set<Tag>, policy: RetentionPolicy) -> Date? {
        tags.map { policy.period(for: $0).end(from: start) }.max()
    }

    /// The tag whose retention decides `retainUntil` (the longest; on ties the higher tag).
    public static func decidingTag(start: Date, tags: Set<Tag>, policy: RetentionPolicy) -> Tag? {
        tags.max { a, b in
            let ea = policy.period(for: a).end(from: start), eb = policy.period(for: b).end(from: start)
            return ea != eb ? ea < eb : a < b
        }
    }
}
