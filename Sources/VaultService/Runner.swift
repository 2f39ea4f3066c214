public import Foundation
public import Logging
public import VaultCore
public import VaultEngine
public import VaultFormat
public import VaultPolicy
import VaultPostgres
import VaultStorage

/// One action `pgvault run` took or, with --dry-run, would take.
public struct RunAction: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case settings, backup, skip, keep, expire, refused, purge, copy, error, busy
    }
    public var kind: Kind
    public var server: String?
    public var point: String?
    public var message: String
    public var exitCode: Int32?
}

public struct RunReport: Codable, Sendable {
    public var startedAt: Date
    public var finishedAt: Date
    public var dryRun: Bool
    public var actions: [RunAction]
    public var exitCode: Int32
}

/// What `pgvault run` (cron) and the scheduler of `pgvault serve` do, once:
/// 1. take the vault's `run` lease (another run holding it: nothing to do, exit 0);
/// 2. apply the policy's protection settings to the vault (refusals are reported);
/// 3. back up every server whose weekly slot is due and has no successful point yet, with
///    the GFS tags it earns and the retention of its longest-kept tag;
/// 4. apply retention: points whose retention ended go through the protection rules'
///    delete path (soft delete where enabled; held and immutable points stay);
/// 5. copy new points to the policy's `copyTo` vault, if it names one;
/// 6. purge soft-deleted points past their window and garbage-collect chunks.
/// Idempotent: run it every 5–15 minutes; ten overlapping runs make one backup per slot.
public struct Runner: Sendable {
    public let policy: Policy
    public let vault: Vault
    /// The policy's `copyTo` vault, opened (3-2-1: a second copy elsewhere).
    public let copyTarget: Vault?
    public let logger: Logger
    public let progress: any ProgressSink
    /// Injected clock for the schedule and retention (backups themselves take real time).
    public let now: @Sendable () -> Date

    public init(policy: Policy, vault: Vault, copyTarget: Vault? = nil, logger: Logger, progress: any ProgressSink = NoProgress(),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.policy = policy; self.vault = vault; self.copyTarget = copyTarget; self.logger = logger
        self.progress = progress; self.now = now
    }

    public func run(dryRun: Bool, onAction: (RunAction) -> Void = { _ in }) -> RunReport {
        let started = now()
        var actions: [RunAction] = []
        func act(_ a: RunAction) { actions.append(a); onAction(a) }
        var exit: Int32 = 0
        func worsen(_ code: Int32) {
            // failed (1) outranks partial (3) outranks ok (0)
            if code == 1 || (code == 3 && exit == 0) { exit = code }
        }

        var lease: Lease?
        if !dryRun {
            do { lease = try Lease.acquire("run", storage: vault.storage, duration: 600, now: started) }
            catch let e as VaultError where e.code == .busy {
                act(RunAction(kind: .busy, message: "another run is in progress; nothing to do: \(e.message)"))
                return RunReport(startedAt: started, finishedAt: now(), dryRun: dryRun, actions: actions, exitCode: 0)
            } catch {
                act(RunAction(kind: .error, message: "\(error)", exitCode: 1))
                return RunReport(startedAt: started, finishedAt: now(), dryRun: dryRun, actions: actions, exitCode: 1)
            }
        }
        defer { lease?.release() }

        do {
            try applyProtection(dryRun: dryRun, act: act)
        } catch let e as VaultError {
            act(RunAction(kind: e.code == .protected ? .refused : .error, message: "protection settings: \(e.message)"))
            worsen(e.code == .protected ? 3 : 1)
        } catch { act(RunAction(kind: .error, message: "\(error)")); worsen(1) }

        for server in policy.servers {
            do {
                let code = try backupIfDue(server, dryRun: dryRun, act: act)
                worsen(code)
            } catch let e as VaultError {
                act(RunAction(kind: .error, server: server.name, message: e.message, exitCode: e.exitCode.rawValue))
                if e.code == .interrupted { exit = 130; break }
                worsen(1)
            } catch {
                act(RunAction(kind: .error, server: server.name, message: "\(error)", exitCode: 1))
                worsen(1)
            }
        }
        if exit == 130 {
            return RunReport(startedAt: started, finishedAt: now(), dryRun: dryRun, actions: actions, exitCode: exit)
        }

        if let target = copyTarget {
            if dryRun {
                act(RunAction(kind: .copy, message: "would copy new points to \(target.storage.location)"))
            } else {
                do {
                    let r = try VaultCopy.copy(from: vault, to: target, points: [])
                    for c in r.copied {
                        act(RunAction(kind: .copy, point: c.point,
                                      message: "copied \(c.point) to \(target.storage.location): \(c.chunksSent) chunks sent (\(ByteSize.format(c.bytesSent))), \(c.chunksReused) already there"))
                    }
                } catch let e as VaultError { act(RunAction(kind: .error, message: "copy to \(target.storage.location): \(e.message)")); worsen(1) }
                catch { act(RunAction(kind: .error, message: "copy: \(error)")); worsen(1) }
            }
        }

        do { try applyRetention(dryRun: dryRun, act: act) }
        catch let e as VaultError { act(RunAction(kind: .error, message: "retention: \(e.message)")); worsen(1) }
        catch { act(RunAction(kind: .error, message: "retention: \(error)")); worsen(1) }

        do {
            let r = try VaultControl(vault: vault, now: now()).purge(dryRun: dryRun)
            let verb = dryRun ? "would purge" : "purged"
            for p in r.purged { act(RunAction(kind: .purge, server: p.server, point: p.point, message: "\(verb) \(p.point)")) }
            if let d = r.sweepDeferred { act(RunAction(kind: .purge, message: "chunk sweep skipped: \(d)")) }
            else if r.chunksRemoved > 0 {
                act(RunAction(kind: .purge, message: "\(dryRun ? "would remove" : "removed") \(r.chunksRemoved) unreferenced chunks (\(ByteSize.format(r.bytesFreed)))"))
            }
        } catch let e as VaultError { act(RunAction(kind: .error, message: "purge: \(e.message)")); worsen(1) }
        catch { act(RunAction(kind: .error, message: "purge: \(error)")); worsen(1) }

        return RunReport(startedAt: started, finishedAt: now(), dryRun: dryRun, actions: actions, exitCode: exit)
    }

    private func applyProtection(dryRun: Bool, act: (RunAction) -> Void) throws {
        guard let p = policy.protection else { return }
        let control = VaultControl(vault: vault, now: now())
        let current = try control.settings()
        var changes: [String] = []
        if let i = p.immutability, i != current.immutability, !(current.immutability == .locked) { changes.append("immutability \(current.immutability.rawValue) -> \(i.rawValue)") }
        if let s = p.softDelete, s != current.softDelete { changes.append("soft delete \(current.softDelete.rawValue) -> \(s.rawValue)") }
        if let d = p.softDeleteDays, d != current.softDeleteDays { changes.append("soft-delete days \(current.softDeleteDays) -> \(d)") }
        guard !changes.isEmpty else { return }
        if !dryRun {
            // A locked vault stays locked; the policy's `unlocked` means "at least unlocked".
            let immutability = current.immutability == .locked ? nil : p.immutability
            try control.changeSettings(immutability: immutability, softDelete: p.softDelete, softDeleteDays: p.softDeleteDays)
        }
        act(RunAction(kind: .settings, message: "\(dryRun ? "would set" : "set") " + changes.joined(separator: ", ")))
    }

    /// Facts the pure planners need, for every point of the vault.
    private func facts() throws -> [PointFacts] {
        try VaultControl(vault: vault, now: now()).pointViews().map { v in
            PointFacts(id: v.id, server: v.manifest.server.name, startedAt: v.manifest.startedAt, status: v.manifest.status,
                       onDemand: v.manifest.onDemand ?? true, retainUntil: v.state.retainUntil,
                       softDeleted: v.state.isSoftDeleted, held: v.state.isHeld)
        }
    }

    private func backupIfDue(_ server: ServerPolicy, dryRun: Bool, act: (RunAction) -> Void) throws -> Int32 {
        let t = now()
        let mine = try facts().filter { $0.server == server.name && !$0.softDeleted }
        let completed = mine.filter { !$0.onDemand && $0.status != .failed }.map(\.startedAt)
        guard let slot = policy.schedule.pendingSlot(at: t, completed: completed) else {
            let next = policy.schedule.nextDue(after: t, count: 1).first
            act(RunAction(kind: .skip, server: server.name,
                          message: "\(server.name): slot \(policy.schedule.slot(containing: t).id) already has its backup; next due \(next.map { policy.schedule.localText($0) } ?? "?")"))
            return 0
        }
        let tags = Tagging.tags(for: t, earlierSuccessfulPoints: completed, timeZone: policy.schedule.timeZone)
        let deciding = Retention.decidingTag(start: t, tags: tags, policy: policy.retention) ?? .weekly
        let period = policy.retention.period(for: deciding)
        let tagText = tags.sorted().map(\.rawValue).joined(separator: ",")
        if dryRun {
            act(RunAction(kind: .backup, server: server.name,
                          message: "would back up \(server.name) for slot \(slot.id) (tags \(tagText.isEmpty ? "none" : tagText), retain \(period))"))
            return 0
        }
        var request = BackupRequest(conninfo: try server.connInfo())
        request.databases = server.includeDatabases
        request.exclude = server.excludeDatabases
        request.jobs = server.jobs
        request.limits = server.limits
        request.serverName = server.name
        request.noRolePasswords = server.noRolePasswords
        request.retain = period
        request.tags = tags.sorted().map(\.rawValue)
        request.onDemand = false
        let result = try BackupEngine(vault: vault, logger: logger, progress: progress).run(request)
        let id = result.manifest?.id
        var message = "backed up \(server.name) for slot \(slot.id): point \(id ?? "-") \(result.manifest?.status.rawValue ?? "failed"), tags \(tagText.isEmpty ? "none" : tagText), retain \(period)"
        if !result.failures.isEmpty { message += "; \(result.failures.count) problem(s): " + result.failures.map(\.message).joined(separator: " | ") }
        act(RunAction(kind: .backup, server: server.name, point: id, message: message, exitCode: result.exitCode.rawValue))
        return result.exitCode.rawValue
    }

    private func applyRetention(dryRun: Bool, act: (RunAction) -> Void) throws {
        let t = now()
        let decisions = RetentionPlanner.plan(points: try facts(), policy: policy, now: t)
        let control = VaultControl(vault: vault, now: t)
        for d in decisions {
            switch d.action {
            case .skip: continue
            case .keep:
                act(RunAction(kind: .keep, server: d.server, point: d.pointId, message: "\(d.pointId) \(d.reason)"))
            case .expire:
                if dryRun {
                    act(RunAction(kind: .expire, server: d.server, point: d.pointId, message: "would delete \(d.pointId): \(d.reason)"))
                    continue
                }
                do {
                    let outcome = try control.delete(d.pointId, reason: "retention: \(d.reason)")
                    let what: String
                    switch outcome {
                    case .softDeleted(let after): what = "soft-deleted (purge from \(Timestamp.rfc3339(after)))"
                    case .removed: what = "removed"
                    }
                    act(RunAction(kind: .expire, server: d.server, point: d.pointId, message: "\(d.pointId) \(what): \(d.reason)"))
                } catch let e as VaultError where e.code == .protected {
                    act(RunAction(kind: .refused, server: d.server, point: d.pointId, message: "\(d.pointId) kept: \(e.message)"))
                }
            }
        }
    }
}

extension ServerPolicy {
    /// The server's conninfo, with its `passfile:` as libpq's `passfile` option (per server,
    /// never a process-wide environment variable).
    func connInfo() throws -> ConnInfo {
        let c = try ConnInfo(try resolvedConninfo())
        guard let passfile else { return c }
        return c.setting("passfile", passfile)
    }
}
