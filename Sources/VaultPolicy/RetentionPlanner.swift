public import Foundation
import VaultCore

/// What retention decides for one point.
public struct Decision: Codable, Equatable, Sendable, CustomStringConvertible {
    /// What happens to the point.
    public enum Action: String, Codable, Sendable {
        /// The point stays.
        case keep
        /// The point's retention has ended: `run` deletes it through the protection rules
        /// (into soft delete where enabled).
        case expire
        /// Already soft-deleted: nothing to decide (purge handles it after its window).
        case skip
    }

    /// The point's id.
    public var pointId: String
    /// The point's server name.
    public var server: String
    /// When the point's backup started.
    public var startedAt: Date
    /// Keep, expire or skip.
    public var action: Action
    /// The tags the point holds, recomputed from the server's sequence of points.
    public var tags: Set<Tag>
    /// The instant retention keeps the point until (the later of the policy's and any
    /// recorded retain-until); nil when nothing retains it.
    public var retainUntil: Date?
    /// One line in words, starting with `keep:`, `expire:` or `skip:`, e.g.
    /// `keep: yearly 2019, retained until 2029-01-06` or
    /// `expire: weekly 2026-W01, retention 8w ended 2026-03-01`.
    public var reason: String

    /// A decision from its parts.
    public init(pointId: String, server: String, startedAt: Date, action: Action, tags: Set<Tag>,
                retainUntil: Date?, reason: String) {
        self.pointId = pointId; self.server = server; self.startedAt = startedAt; self.action = action
        self.tags = tags; self.retainUntil = retainUntil; self.reason = reason
    }

    /// `<point id> <reason>`
    public var description: String { "\(pointId) \(reason)" }
}

/// Retention as a pure function: `(points, policy, now) → decisions with reasons`.
///
/// For each point that is not soft-deleted:
/// 1. tags are recomputed from the server's sequence of points (`Tagging.assign`), so a
///    failed or deleted point never holds a tag;
/// 2. the policy's retain-until is the start plus the longest retention among the tags
///    (`Retention.retainUntil`); an on-demand point uses its recorded `--retain` if it has
///    one, else `retention.on-demand`;
/// 3. a retain-until recorded in the vault (`PointFacts.retainUntil`) is never cut short:
///    the later of the two counts (so shortening the policy affects new points only);
/// 4. the point is kept while `now` is before that instant, or while it is under legal hold;
///    otherwise it expires. A point without any tag (failed, or a second point of a week,
///    month and year that already have theirs) and without a recorded retain-until expires.
///
/// Decisions come back in the order of `points`.
public enum RetentionPlanner {
    /// Plans with the policy's retention and its schedule's time zone.
    public static func plan(points: [PointFacts], policy: Policy, now: Date) -> [Decision] {
        plan(points: points, retention: policy.retention, timeZone: policy.schedule.timeZone, now: now)
    }

    /// Plans with explicit retention and time zone (the zone the calendar tags are counted in).
    public static func plan(points: [PointFacts], retention: RetentionPolicy, timeZone: TimeZone, now: Date) -> [Decision] {
        let tags = Tagging.assign(points, timeZone: timeZone)
        return points.map { decide($0, tags: tags[$0.id] ?? [], retention: retention, timeZone: timeZone, now: now) }
    }

    private static func decide(_ p: PointFacts, tags: Set<Tag>, retention: RetentionPolicy, timeZone tz: TimeZone,
                               now: Date) -> Decision {
        func day(_ d: Date) -> String { LocalClock.dateText(d, tz) }
        func make(_ action: Decision.Action, _ until: Date?, _ reason: String) -> Decision {
            Decision(pointId: p.id, server: p.server, startedAt: p.startedAt, action: action, tags: tags,
                     retainUntil: until, reason: reason)
        }
        if p.softDeleted {
            return make(.skip, p.retainUntil, "skip: soft-deleted; purge removes it when its soft-delete window ends")
        }

        // What the policy says, and in which words.
        var policyUntil: Date?
        var what: String          // "yearly 2019", "on-demand", "failed point"
        var period: String?       // "10y", "--retain"
        let periods = Tagging.periods(of: p.startedAt, timeZone: tz)
        if tags.contains(.onDemand) {
            what = "on-demand"
            if let explicit = p.retainUntil {
                policyUntil = explicit; period = "--retain"
            } else {
                policyUntil = retention.onDemand.end(from: p.startedAt); period = retention.onDemand.description
            }
        } else if let tag = Retention.decidingTag(start: p.startedAt, tags: tags, policy: retention) {
            policyUntil = Retention.retainUntil(start: p.startedAt, tags: tags, policy: retention)
            what = "\(tag.rawValue) \(periods.period(for: tag) ?? "")"
            let others = Tag.gfs.filter { $0 != tag && tags.contains($0) }.map { "\($0.rawValue) \(periods.period(for: $0) ?? "")" }
            if !others.isEmpty { what += " (also \(others.joined(separator: ", ")))" }
            period = retention.period(for: tag).description
        } else if p.status == .failed {
            what = "failed point (no database dumped), earns no tag"
        } else if p.onDemand {
            what = "on-demand"
        } else {
            what = "no tag (\(periods.week), \(periods.month) and \(periods.year) already have their weekly, monthly and yearly points)"
        }

        // A recorded retain-until longer than the policy's wins.
        var until = policyUntil
        var recordedWins = false
        if let recorded = p.retainUntil, recorded > (policyUntil ?? .distantPast) {
            until = recorded; recordedWins = true
        }

        if let u = until, now < u {
            if p.onDemand && tags.contains(.onDemand) {
                let how = period == "--retain" ? "(--retain)" : "(retention \(period ?? "?"))"
                return make(.keep, u, "keep: on-demand, retained until \(day(u)) \(how)")
            }
            if recordedWins {
                let policyPart = policyUntil.map { "; the policy alone would keep it until \(day($0))" } ?? ""
                return make(.keep, u, "keep: \(what), retained until \(day(u)) as recorded in the vault\(policyPart)")
            }
            return make(.keep, u, "keep: \(what), retained until \(day(u))")
        }
        let ended = until.map { ", retention \(recordedWins ? "recorded in the vault" : (period ?? "?")) ended \(day($0))" } ?? ""
        if p.held {
            return make(.keep, until, "keep: legal hold (\(what)\(ended))")
        }
        return make(.expire, until, "expire: \(what)\(ended)")
    }
}
