public import Foundation
import Hummingbird
public import Logging
import ServiceLifecycle
import VaultCore
import VaultArchive
import VaultEngine
public import VaultFormat
public import VaultPolicy
import VaultPostgres

/// Jobs this service started and is running, with live progress.
final class LiveJobs: @unchecked Sendable {
    struct Live { var kind: JobKind; var totals: ProgressTotals; var startedAt: Date; var actor: String; var server: String?; var point: String? }
    private let lock = NSLock()
    private var jobs: [String: Live] = [:]
    func add(_ id: String, _ live: Live) { lock.lock(); jobs[id] = live; lock.unlock() }
    func remove(_ id: String) { lock.lock(); jobs.removeValue(forKey: id); lock.unlock() }
    func get(_ id: String) -> Live? { lock.lock(); defer { lock.unlock() }; return jobs[id] }
    var all: [String: Live] { lock.lock(); defer { lock.unlock() }; return jobs }
}

/// Runs blocking work (a backup, a restore, a scheduler pass) on its own thread and awaits it.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { cont in
        let t = Thread { cont.resume(returning: body()) }
        t.stackSize = 1 << 20
        t.start()
    }
}

/// `pgvault serve`: the scheduler loop (what `run` does, every `interval`) and the HTTP API.
public struct VaultServer: Sendable {
    public let policy: Policy
    public let vault: Vault
    public let copyTarget: Vault?
    public let tokens: TokenStore
    public let host: String
    public let port: Int
    public let interval: TimeInterval
    public let logger: Logger
    let live = LiveJobs()
    let auditWatch: AuditWatch

    public init(policy: Policy, vault: Vault, copyTarget: Vault? = nil, tokens: TokenStore, host: String, port: Int,
                interval: TimeInterval, logger: Logger) {
        self.policy = policy; self.vault = vault; self.copyTarget = copyTarget; self.tokens = tokens; self.host = host; self.port = port
        self.interval = interval; self.logger = logger
        auditWatch = AuditWatch(storage: vault.storage)
    }

    /// Serves until SIGTERM / SIGINT; then stops the scheduler (a running backup is aborted
    /// cleanly: no manifest is written) and closes the listener.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router(context: VaultRequestContext.self)
        router.add(middleware: AuthMiddleware(tokens: tokens))
        addRoutes(router)
        let scheduler = SchedulerService(server: self)
        let app = Application(router: router,
                              configuration: .init(address: .hostname(host, port: port), serverName: "pgvault"),
                              services: [scheduler],
                              onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
                              logger: logger)
        try await app.runService()
    }

    // MARK: routes

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? VaultJSON.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    struct APIError: Encodable { var error: ErrorRecord }

    private struct ClientGone: Error {}

    /// Closes the queue once the response body that holds it is released, written or not:
    /// the reader thread then stops instead of waiting on a full queue for ever.
    private final class Closer: Sendable {
        let queue: BlockingQueue<Result<Data, VaultError>>
        init(_ queue: BlockingQueue<Result<Data, VaultError>>) { self.queue = queue }
        deinit { queue.close() }
    }

    /// `GET /v1/points/{id}`: the manifest exactly as stored (as `pgvault show --json` prints
    /// it), chunk lists included, streamed a MiB at a time: a 1 TiB point's is ~1 GB of JSON,
    /// which the server never holds. A reader thread decompresses it into a queue of four
    /// pieces that the response body drains; the status is sent once the first piece is read,
    /// so an unknown point or a manifest that cannot be read at all is a proper error answer.
    /// Damage found further on can only cut the response short (the JSON then does not parse);
    /// a client that goes away, or a body never written, stops the reader at its next piece.
    static func manifestResponse(_ vault: Vault, ref: String) async -> Response {
        let pieces = BlockingQueue<Result<Data, VaultError>>(capacity: 4)
        let reader = Thread {
            do {
                let key = Vault.pointKey(try vault.resolvePointId(ref, includeDeleted: true))
                try ManifestCodec.readJSON(vault.storage, key: key) { piece in
                    guard pieces.put(.success(Data(buffer: piece))) else { throw ClientGone() }
                }
            } catch is ClientGone {
            } catch {
                pieces.put(.failure(error as? VaultError ?? VaultError(.internalError, "\(error)")))
            }
            pieces.close()
        }
        reader.stackSize = 1 << 20
        reader.start()
        let first = await onThread { pieces.take() }
        if case .failure(let e)? = first {
            pieces.close()
            return Self.error(e)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let closer = Closer(pieces)
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { closer.queue.close() }
            var next = first
            while let item = next {
                try await writer.write(ByteBuffer(bytes: try item.get()))
                next = await onThread { closer.queue.take() }
            }
            try await writer.finish(nil)
        })
    }

    static func error(_ e: VaultError) -> Response {
        let status: HTTPResponse.Status
        switch e.code {
        case .pointNotFound: status = .notFound
        case .invalidArgument, .ambiguousPoint: status = .badRequest
        case .protected: status = .forbidden
        case .targetExists, .busy: status = .conflict
        default: status = .internalServerError
        }
        return json(APIError(error: e.record), status: status)
    }

    struct JobOut: Encodable {
        struct Progress: Encodable { var bytes: Int64; var activeDatabases: [String]; var done: Int; var total: Int }
        var record: JobRecord
        var progress: Progress?
    }

    struct BackupBody: Decodable { var server: String; var retain: String?; var databases: [String]? }
    struct RestoreBody: Decodable { var point: String; var to: String?; var tar: String?; var databases: [String]? }
    struct Accepted: Encodable { var job: String; var status: String; var href: String }

    func addRoutes(_ router: Router<VaultRequestContext>) {
        router.get("/healthz") { _, _ in "ok\n" }

        router.get("/metrics") { _, _ -> Response in
            let text: String = await onThread { [self] in
                let views = (try? VaultControl(vault: vault).pointViews()) ?? []
                let jobs = (try? JobLog(storage: vault.storage).all()) ?? []
                let stored = (try? vault.storedChunkBytes()) ?? 0
                return MetricsRenderer.render(points: views, jobs: jobs, storedBytes: stored, running: live.all.count,
                                              audit: auditWatch.check())
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }

        router.get("/v1/points") { _, _ -> Response in
            await onThread { [self] in
                do { return Self.json(try VaultControl(vault: vault).pointViews().map(PointSummary.init)) }
                catch let e as VaultError { return Self.error(e) } catch { return Self.error(VaultError(.internalError, "\(error)")) }
            }
        }

        router.get("/v1/points/:id") { [vault] _, context -> Response in
            await Self.manifestResponse(vault, ref: context.parameters.get("id") ?? "")
        }

        router.get("/v1/audit") { _, _ -> Response in
            await onThread { [self] in Self.json(auditWatch.check()) }
        }

        router.get("/v1/jobs") { _, _ -> Response in
            await onThread { [self] in
                do { return Self.json(try JobLog(storage: vault.storage).all().map { jobOut($0) }) }
                catch let e as VaultError { return Self.error(e) } catch { return Self.error(VaultError(.internalError, "\(error)")) }
            }
        }

        router.get("/v1/jobs/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            return await onThread { [self] in
                do {
                    if let j = try JobLog(storage: vault.storage).all().first(where: { $0.id == id }) { return Self.json(jobOut(j)) }
                    return Self.error(VaultError(.pointNotFound, "No job \(id) in the vault."))
                } catch let e as VaultError { return Self.error(e) } catch { return Self.error(VaultError(.internalError, "\(error)")) }
            }
        }

        router.post("/v1/backups") { request, context -> Response in
            let body = try await request.decode(as: BackupBody.self, context: context)
            let actor = context.tokenName
            return startBackup(body, actor: actor)
        }

        router.post("/v1/restores") { request, context -> Response in
            let body = try await request.decode(as: RestoreBody.self, context: context)
            let actor = context.tokenName
            return startRestore(body, actor: actor)
        }
    }

    func jobOut(_ j: JobRecord) -> JobOut {
        var out = JobOut(record: j, progress: nil)
        if j.status == .running, let l = live.get(j.id) {
            let s = l.totals.snapshot
            out.progress = .init(bytes: s.bytes, activeDatabases: s.active, done: s.done, total: s.total)
        }
        return out
    }

    func startBackup(_ body: BackupBody, actor: String) -> Response {
        guard let server = policy.server(named: body.server) else {
            return Self.error(VaultError(.invalidArgument, "No server \"\(body.server)\" in the policy; known: \(policy.servers.map(\.name).joined(separator: ", "))."))
        }
        var retain = policy.retention.onDemand
        if let r = body.retain {
            do { retain = try RetentionPeriod.parseChecked(r, option: "retain") } catch let e as VaultError { return Self.error(e) } catch {
                return Self.error(VaultError(.invalidArgument, "\(error)"))
            }
        }
        let request: BackupRequest
        do {
            var req = BackupRequest(conninfo: try server.connInfo())
            req.databases = body.databases ?? server.includeDatabases
            req.exclude = server.excludeDatabases
            req.jobs = server.jobs
            req.limits = server.limits
            req.serverName = server.name
            req.noRolePasswords = server.noRolePasswords
            req.retain = retain
            req.tags = ["on-demand"]
            req.onDemand = true
            req.actor = actor
            req.jobId = "backup-" + Identifier.make()
            request = req
        } catch let e as VaultError { return Self.error(e) } catch { return Self.error(VaultError(.internalError, "\(error)")) }
        let id = request.jobId ?? ""
        let totals = ProgressTotals()
        live.add(id, .init(kind: .backup, totals: totals, startedAt: Date(), actor: actor, server: server.name, point: nil))
        let t = Thread { [self] in
            defer { live.remove(id) }
            do { _ = try BackupEngine(vault: vault, logger: logger, progress: totals).run(request) }
            catch { logger.error("on-demand backup failed", metadata: ["job": "\(id)", "error": "\(error)"]) }
        }
        t.start()
        return Self.json(Accepted(job: id, status: "running", href: "/v1/jobs/\(id)"), status: .accepted)
    }

    func startRestore(_ body: RestoreBody, actor: String) -> Response {
        let target: RestoreTarget
        switch (body.to, body.tar) {
        case (let dir?, nil): target = .directory(dir)
        case (nil, let tar?): target = .tar(tar)
        default: return Self.error(VaultError(.invalidArgument, "Give exactly one of \"to\" (a directory on the server) or \"tar\" (an archive path)."))
        }
        let manifest: Manifest
        do { manifest = try vault.resolveSummary(body.point, includeDeleted: true); _ = try RestoreEngine.select(manifest, databases: body.databases ?? []) }
        catch let e as VaultError { return Self.error(e) } catch { return Self.error(VaultError(.internalError, "\(error)")) }
        let id = "restore-" + Identifier.make()
        let totals = ProgressTotals()
        live.add(id, .init(kind: .restore, totals: totals, startedAt: Date(), actor: actor, server: manifest.server.name, point: manifest.id))
        let t = Thread { [self] in
            defer { live.remove(id) }
            do { _ = try RestoreEngine(vault: vault, progress: totals).restore(point: manifest.id, to: target, databases: body.databases ?? [], jobId: id, actor: actor) }
            catch { logger.error("restore failed", metadata: ["job": "\(id)", "error": "\(error)"]) }
        }
        t.start()
        return Self.json(Accepted(job: id, status: "running", href: "/v1/jobs/\(id)"), status: .accepted)
    }
}

/// Bearer-token authentication and role checks: no or unknown token → 401; a reader using a
/// write endpoint → 403. `/healthz` is open (for load balancers and probes).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = VaultRequestContext
    let tokens: TokenStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/healthz" { return try await next(request, context) }
        guard let auth = request.headers[.authorization], auth.hasPrefix("Bearer "),
              let token = tokens.authenticate(String(auth.dropFirst("Bearer ".count))) else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer realm=\"pgvault\""
            headers[.contentType] = "application/json"
            let body = #"{"error":{"code":"unauthorized","message":"Send Authorization: Bearer <token> with a token from the service's token file."}}"#
            return Response(status: .unauthorized, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let needed: TokenStore.Role = request.method == .get || request.method == .head ? .reader : .operator
        guard token.role >= needed else {
            let body = #"{"error":{"code":"forbidden","message":"This token's role may only read; starting backups and restores needs the operator or admin role."}}"#
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .forbidden, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        var ctx = context
        ctx.tokenName = token.name
        return try await next(request, ctx)
    }
}

/// The request context: Hummingbird's core plus the authenticated token's name (the audit
/// log's actor for API writes).
struct VaultRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var tokenName = "api"
    init(source: Source) { coreContext = .init(source: source) }
}

/// The scheduler: a `Runner` pass every `interval`, until graceful shutdown.
struct SchedulerService: Service {
    let server: VaultServer

    func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let runner = Runner(policy: server.policy, vault: server.vault, copyTarget: server.copyTarget, logger: server.logger)
                let logger = server.logger
                let report = await onThread { runner.run(dryRun: false) }
                for a in report.actions where a.kind != .keep && a.kind != .skip {
                    logger.info("\(a.kind.rawValue): \(a.message)")
                }
                // Graceful shutdown is not cancellation: end the sleep when it starts.
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(server.interval)) }
            }
        } onGracefulShutdown: {
            // Abort a running dump cleanly: pg_dump is stopped and no manifest is written.
            Interrupt.shared.trigger(signal: SIGTERM)
        }
    }
}
