import Foundation
public import Logging
public import VaultCore
public import VaultFormat
public import VaultPostgres
import VaultStorage
import Synchronization

/// What `pgvault backup` asks for.
public struct BackupRequest: Sendable {
    public var conninfo: ConnInfo
    public var databases: [String] = []
    public var exclude: [String] = []
    public var jobs: Int = 1
    public var limits = Limits()
    public var serverName: String?
    public var noRolePasswords = false
    public var pgBin: String?
    /// How long the point is kept; nil: the vault's default retention.
    public var retain: RetentionPeriod?
    /// GFS tags to record (scheduled backups); a failed point keeps none.
    public var tags: [String] = ["on-demand"]
    /// False for backups taken by the schedule (`pgvault run`, `serve`).
    public var onDemand = true
    /// Job id to use (the service hands it out before the job starts); nil: a new one.
    public var jobId: String?
    /// Who asked, for the job record and the audit log (default `user@host`).
    public var actor: String = Actor.current
    public init(conninfo: ConnInfo) { self.conninfo = conninfo }
}

public struct BackupResult: Sendable {
    public var manifest: Manifest?
    public var job: JobRecord
    public var exitCode: ExitCode
    /// Per-database failures and refusals, in database order.
    public var failures: [VaultError]
}

/// One backup run: preflight, one pg_dump per database streamed into the vault, the cluster
/// globals, and the manifest written last.
public struct BackupEngine: Sendable {
    public let vault: Vault
    public let logger: Logger
    public let progress: any ProgressSink
    public let interrupt: Interrupt

    public init(vault: Vault, logger: Logger, progress: any ProgressSink = NoProgress(), interrupt: Interrupt = .shared) {
        self.vault = vault
        self.logger = logger
        self.progress = progress
        self.interrupt = interrupt
    }

    public func run(_ request: BackupRequest) throws -> BackupResult {
        let started = Timestamp.millis(Date())
        let jobId = request.jobId ?? "backup-" + Identifier.make(at: started)   // also the lease name: locks/backup-*.json
        var job = JobRecord(id: jobId, kind: .backup, startedAt: started)
        job.actor = request.actor
        let jobs = JobLog(storage: vault.storage)
        try jobs.started(job)
        do {
            // Hold a backup lease for the whole run, and never write chunks while garbage
            // collection sweeps (see VaultControl.purge for the handshake).
            var told = false
            let lease = try Lease.acquireWriter(jobId, storage: vault.storage) { gc in
                try checkInterrupt()
                if !told { progress.report(.note("waiting for garbage collection by \(gc.holder) to finish")); told = true }
            }
            defer { lease.release() }

            let result = try perform(request, job: &job, started: started, lease: lease)
            // The point is committed: a failure to record the job must not make it look failed.
            do { try jobs.finished(result.job) }
            catch { logger.error("could not write the job record", metadata: ["job": "\(jobId)", "error": "\(error)"]) }
            return result
        } catch {
            let e = error as? VaultError ?? VaultError(.internalError, "The backup failed unexpectedly: \(error)")
            job.finishedAt = Timestamp.millis(Date())
            job.status = e.code == .interrupted ? .interrupted : .failed
            job.error = e.record
            try? jobs.finished(job)
            throw e
        }
    }

    private func perform(_ request: BackupRequest, job: inout JobRecord, started: Date, lease: Lease) throws -> BackupResult {
        let info = request.conninfo
        try DumpCommand.checkPassable(info)
        let admin = try PGConnection.connect(info)
        defer { admin.close() }
        let server = ServerInfo(name: request.serverName ?? info.serverName,
                                host: info.host, port: info.port,
                                version: admin.serverVersion, versionNum: admin.serverVersionNum)
        job.server = server.name
        let tools = try PgTools.locate(serverMajor: server.major, override: request.pgBin)
        progress.report(.connected(server: server.name, version: server.version, pgDump: tools.version))
        logger.info("backup started", metadata: ["server": "\(server.name)", "pg_dump": "\(tools.pgDump)"])

        let databases = try Discovery.databases(admin, include: request.databases, exclude: request.exclude)
        progress.report(.databases(databases.map(\.name)))

        // The point's retain-until is known from the start, so chunks are locked for it as they
        // are written (S3 Object Lock; see ObjectLock.swift) before the manifest exists.
        let period = try request.retain ?? VaultControl(vault: vault).settings().defaultRetention
        let retainUntil = Timestamp.millis(period.end(from: started))
        let store = ChunkStore(storage: ObjectLock.forChunks(vault.storage, until: retainUntil),
                               maxDepth: vault.config.deltaDepth ?? VaultConfig.defaultDeltaDepth,
                               opDeltas: vault.config.format >= 4)
        let chunker = Chunker(vault.config.chunker)
        let level = vault.config.compression.level

        // Delta bases: each database's dump in the newest earlier point of this server.
        var found: [String: FileEntry] = [:]
        if vault.config.delta ?? true {
            // Summaries find the newest point holding each database; only those manifests are read.
            var newest: [String: String] = [:]
            for m in try vault.summaries() where m.server.name == server.name && m.status != .failed {
                for f in m.files where f.kind == .dump { if let db = f.database, newest[db] == nil { newest[db] = m.id } }
            }
            for id in Set(newest.values) {
                let m = try vault.loadPoint(key: Vault.pointKey(id))
                for f in m.files where f.kind == .dump {
                    if let db = f.database, newest[db] == id { found[db] = f; store.learn(f.chunks) }
                }
            }
        }
        // Shared with the workers, and emptied once they are done: a large database's previous
        // chunk list (hundreds of MB at 1 TiB) need not live on while the new manifest is written.
        let previousDumps = Locked(found)
        found = [:]

        // Cluster globals on their own thread, beside the databases: small, and a failure
        // here is reported like a database's.
        var files: [FileEntry] = []
        var failures: [VaultError] = []
        var stats = PointStats()
        let globalsResult = Locked<(files: [FileEntry], failures: [VaultError], stats: PointStats, fatal: VaultError?)>(([], [], PointStats(), nil))
        let globalsDone = DispatchGroup()
        globalsDone.enter()
        let globalsThread = Thread { [self] in
            defer { globalsDone.leave() }
            for (kind, name) in [(FileKind.roles, "roles.sql"), (FileKind.tablespaces, "tablespaces.sql")] {
                do {
                    try checkInterrupt()
                    let cmd = try DumpCommand.pgDumpAllGlobals(tools: tools, conn: info, roles: kind == .roles,
                                                               noRolePasswords: request.noRolePasswords)
                    defer { cmd.cleanup() }
                    let writer = FileWriter(store: store, chunker: chunker, compressor: Compressor(level: level))
                    try stream(executable: tools.pgDumpAll, cmd.arguments, cmd.environment, label: name, into: writer,
                               database: nil)
                    let r = try writer.finish()
                    let entry = FileEntry(path: name, kind: kind, database: nil, size: r.size, sha256: r.sha256, chunks: r.chunks)
                    globalsResult.withLock { $0.files.append(entry); $0.stats.add(writer) }
                    progress.report(.file(name: name, bytes: r.size))
                } catch let e as VaultError where e.code != .interrupted && e.code != .diskFull {
                    var err = e
                    if kind == .roles && !request.noRolePasswords {
                        err.message += " On a managed service that hides role passwords, add --no-role-passwords."
                    }
                    globalsResult.withLock { $0.failures.append(err) }
                    logger.error("globals failed", metadata: ["file": "\(name)", "error": "\(err.message)"])
                } catch let e as VaultError {
                    globalsResult.withLock { $0.fatal = e }
                    return
                } catch {
                    globalsResult.withLock { $0.fatal = VaultError(.internalError, "unexpected error: \(error)") }
                    return
                }
            }
        }
        globalsThread.start()

        // One worker per --jobs slot pulls the next database.
        let queue = Locked(databases.makeIterator())
        let results = Locked([String: (DatabaseRecord, [FileEntry], PointStats, VaultError?)]())
        let fatal = Locked<VaultError?>(nil)
        let workers = max(1, min(request.jobs, databases.count))
        let group = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            let t = Thread { [self] in
                defer { group.leave() }
                while true {
                    if fatal.withLock({ $0 != nil }) { return }
                    guard let db = queue.withLock({ it -> DatabaseInfo? in it.next() }) else { return }
                    do {
                        let r = try backupDatabase(db, request: request, tools: tools, store: store,
                                                   chunker: chunker, level: level, previous: previousDumps.withLock { $0[db.name] })
                        results.withLock { $0[db.name] = r }
                    } catch let e as VaultError {
                        fatal.withLock { $0 = $0 ?? e }
                        return
                    } catch {
                        fatal.withLock { $0 = $0 ?? VaultError(.internalError, "unexpected error: \(error)") }
                        return
                    }
                }
            }
            t.stackSize = 1 << 20
            t.start()
        }
        group.wait()
        globalsDone.wait()
        previousDumps.withLock { $0 = [:] }
        store.forgetLearnt()
        if let e = fatal.withLock({ $0 }) ?? globalsResult.withLock({ $0.fatal }) { throw e }
        let globals = globalsResult.withLock { $0 }
        files = globals.files.sorted { $0.path < $1.path }
        failures = globals.failures
        stats = globals.stats
        try checkInterrupt()

        var records: [DatabaseRecord] = []
        let done = results.withLock { $0 }
        for db in databases {
            guard let (rec, dbFiles, dbStats, err) = done[db.name] else { continue }
            records.append(rec)
            files.append(contentsOf: dbFiles)
            stats.merge(dbStats)
            if let err { failures.append(err) }
        }
        stats.logicalBytes = files.reduce(0) { $0 + $1.size }
        stats.chunks = files.reduce(0) { $0 + $1.chunks.count }

        let okCount = records.filter { $0.outcome == .ok }.count
        let status: PointStatus = failures.isEmpty ? .ok : (okCount > 0 ? .partial : .failed)
        let finished = Timestamp.millis(Date())
        let manifest = Manifest(id: Identifier.make(at: started), vaultId: vault.config.id, jobId: job.id,
                                server: server, pgDumpVersion: tools.version, pgVaultVersion: pgVaultVersion,
                                startedAt: started, finishedAt: finished, status: status, limits: request.limits,
                                databases: records, files: files, stats: stats)
        try checkInterrupt()
        var point = manifest
        point.retention = period.description
        point.tags = status == .failed ? [] : request.tags
        point.onDemand = request.onDemand
        point.retainUntil = retainUntil
        if status == .failed && !request.onDemand {
            // A failed scheduled point earns no tag and must not be kept for the retention its
            // tags would have earned: retention expires it at the next run (into soft delete).
            point.retainUntil = nil
            point.retention = nil
        }
        // Every reused chunk and every link of every chain locked at least as long as this point
        // (S3 Object Lock), before the manifest exists.
        try store.extendLocks()
        // Never commit on a lease that lapsed: a sweep may have run meanwhile (VaultControl.purge).
        try lease.check()
        try vault.commit(point)
        do {
            try AuditLog(storage: vault.storage).append(
                operation: "point.create", target: point.id,
                details: ["server": server.name, "status": status.rawValue,
                          "retainUntil": point.retainUntil.map(Timestamp.rfc3339) ?? "none",
                          "databases": "\(okCount)/\(records.count)"],
                actor: request.actor)
        } catch {
            // The point exists and is valid; `audit --verify` still verifies (no gap is left).
            logger.error("could not append point.create to the audit log", metadata: ["point": "\(point.id)", "error": "\(error)"])
        }
        logger.info("recovery point written", metadata: ["point": "\(point.id)", "status": "\(status.rawValue)"])
        let unreadable = store.unreadableBases
        if unreadable.count > 0 {
            // The point is complete (those chunks are stored whole); the older points are not.
            logger.warning("delta bases of the previous point could not be read; those chunks were stored whole. The vault is damaged: run `pgvault verify` to see which points are affected.",
                           metadata: ["chunks": "\(unreadable.count)", "objects": "\(unreadable.objects.joined(separator: ", "))"])
        }

        job.finishedAt = finished
        job.status = status == .ok ? .ok : (status == .partial ? .partial : .failed)
        job.pointId = point.id
        job.databases = records.filter { $0.outcome == .ok }.map(\.name)
        job.bytes = stats.logicalBytes
        job.storedBytes = stats.storedBytes
        job.failures = failures.isEmpty ? nil : failures.map(\.record)
        // Exit 3 when databases were refused or failed but the run itself worked; 1 when
        // no database could be dumped because pg_dump failed for every one of them.
        let anyFailed = records.contains { $0.outcome == .failed }
        let exit: ExitCode = failures.isEmpty ? .ok : (okCount == 0 && anyFailed ? .failed : .partial)
        return BackupResult(manifest: point, job: job, exitCode: exit, failures: failures)
    }

    /// Preflight (snapshot, limits), CREATE DATABASE script and the pg_dump of one database.
    /// Per-database problems are returned as the record's error; only interrupts and a full
    /// disk are thrown (they stop the whole run).
    private func backupDatabase(_ db: DatabaseInfo, request: BackupRequest, tools: PgTools, store: ChunkStore,
                                chunker: Chunker, level: Int32, previous: FileEntry?)
        throws -> (DatabaseRecord, [FileEntry], PointStats, VaultError?) {
        var rec = DatabaseRecord(name: db.name, outcome: .failed)
        rec.sizeBytes = db.sizeBytes
        rec.startedAt = Timestamp.millis(Date())
        var stats = PointStats()
        func fail(_ e: VaultError, _ outcome: DatabaseOutcome) -> (DatabaseRecord, [FileEntry], PointStats, VaultError?) {
            rec.outcome = outcome
            rec.error = e.record
            rec.finishedAt = Timestamp.millis(Date())
            if outcome == .refused { progress.report(.refused(database: db.name, message: e.message)) }
            else { progress.report(.finished(database: db.name, ok: false, bytes: 0)) }
            return (rec, [], stats, e)
        }
        do {
            try checkInterrupt()
            let session = try SnapshotSession(request.conninfo, database: db.name)
            defer { session.close() }
            // An interrupt cancels a long limit scan at once instead of waiting for it.
            let cancelToken = interrupt.onInterrupt { [connection = session.connection] in connection.cancel() }
            defer { interrupt.unregister(cancelToken) }
            // The limits inside the snapshot the dump will use: size first (an oversized
            // database is never scanned), then every bytea column.
            let limits = try LimitCheck.evaluate(session.connection, database: db, limits: request.limits)
            rec.sizeBytes = limits.database.sizeBytes
            rec.largestBytea = limits.largest?.bytes
            rec.largestByteaColumn = limits.largest?.column
            if let e = limits.violation { return fail(e, .refused) }
            progress.report(.started(database: db.name))
            let base = FileNames.escape(db.name)
            var files: [FileEntry] = []

            let sqlName = base + ".database.sql"
            let ddl = try DatabaseDDL.script(session.connection, database: db)
            let sqlWriter = FileWriter(store: store, chunker: chunker, compressor: Compressor(level: level))
            try sqlWriter.append(Data(ddl.utf8))
            let s = try sqlWriter.finish()
            files.append(FileEntry(path: sqlName, kind: .databaseSQL, database: db.name, size: s.size, sha256: s.sha256, chunks: s.chunks))
            stats.add(sqlWriter)

            let dumpName = base + ".dump"
            let cmd = try DumpCommand.pgDump(tools: tools, conn: request.conninfo, database: db.name,
                                             snapshot: session.snapshotId)
            defer { cmd.cleanup() }
            let writer = FileWriter(store: store, chunker: chunker, compressor: Compressor(level: level))
            writer.delta = previous.map { DeltaSource(previous: $0, storage: store.storage) }
            writer.expectedSize = rec.sizeBytes ?? 0   // pg_database_size: an upper bound of the dump, roughly
            try stream(executable: tools.pgDump, cmd.arguments, cmd.environment, label: dumpName, into: writer, database: db.name)
            let d = try writer.finish()
            files.append(FileEntry(path: dumpName, kind: .dump, database: db.name, size: d.size, sha256: d.sha256, chunks: d.chunks))
            stats.add(writer)

            rec.outcome = .ok
            rec.snapshot = session.snapshotId != nil
            rec.dumpFile = dumpName
            rec.databaseSQLFile = sqlName
            rec.finishedAt = Timestamp.millis(Date())
            progress.report(.finished(database: db.name, ok: true, bytes: d.size))
            return (rec, files, stats, nil)
        } catch let e as VaultError {
            if e.code == .interrupted || e.code == .diskFull || e.code == .storage || e.code == .io { throw e }
            logger.error("database failed", metadata: ["database": "\(db.name)", "error": "\(e.message)"])
            return fail(e, .failed)
        }
    }

    /// Spawns `executable` and streams its standard output into `writer`.
    private func stream(executable: String, _ arguments: [String], _ environment: [String: String], label: String,
                        into writer: FileWriter, database: String?) throws {
        try checkInterrupt()
        let child = try ChildProcess.spawn(executable: executable, arguments: arguments, environment: environment)
        let pid = child.pid
        interrupt.register(pid) { child.terminate(signal: SIGTERM) }
        defer { interrupt.unregister(pid) }
        if let database {
            writer.onChunk = { [progress] n in progress.report(.bytes(database: database, count: n)) }
        }
        let reader = PipeReader { buf in try child.read(into: buf) }
        do {
            try writer.consume { buf in try reader.read(into: buf) }
        } catch {
            reader.stop()
            child.terminate(signal: SIGTERM)
            reader.join()
            _ = child.wait()
            throw error
        }
        reader.join()
        let r = child.wait()
        try checkInterrupt()
        guard r.status == 0 && r.signal == nil else {
            let what = r.signal.map { "was killed by signal \($0)" } ?? "exited with status \(r.status)"
            let tool = (executable as NSString).lastPathComponent
            throw VaultError(.pgDumpFailed,
                "\(tool) \(what) while writing \(label); nothing of it was kept. Its message is below; fix the cause and run the backup again.",
                cause: r.stderr.trimmingCharacters(in: .whitespacesAndNewlines), location: database ?? label)
        }
    }

    private func checkInterrupt() throws {
        if interrupt.isSet {
            throw VaultError(.interrupted, "The backup was interrupted; no recovery point was written. Run it again.")
        }
    }
}

extension PointStats {
    mutating func add(_ w: FileWriter) {
        storedBytes += w.storedBytes
        newChunks += w.newChunks
    }
    mutating func merge(_ o: PointStats) {
        storedBytes += o.storedBytes
        newChunks += o.newChunks
    }
}
