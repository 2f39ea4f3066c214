import ArgumentParser
import Dispatch
import Foundation
import Logging
import VaultCore
import VaultFormat
import VaultPolicy
import VaultService

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "The vault service: the scheduler loop plus an HTTP API and Prometheus metrics.",
        discussion: Help.reflow("""
        Does what `pgvault run` does every --interval, and serves (JSON):
          GET  /healthz                 no token needed
          GET  /metrics                 Prometheus text: last success per server
                                        and database, bytes dumped and stored,
                                        durations, failures, vault size
          GET  /v1/points, /v1/points/{id}
          GET  /v1/jobs, /v1/jobs/{id}  backup and restore jobs, with live progress
          GET  /v1/audit     the audit chain: ok, records, head (checked from the
                             head it saw last: a cut or rewritten log shows)
          POST /v1/backups   {"server": "db1", "retain": "30d",
                              "databases": ["shop"]}  -> 202 {"job": ...}
          POST /v1/restores  {"point": "latest", "to": "/restore/dir"}
                             (or "tar": "/x.tar.zst")
        Every request except /healthz needs `Authorization: Bearer TOKEN` from --tokens, a file
        (mode 0600) of lines `NAME ROLE TOKEN`, ROLE reader (GET only), operator or admin
        (also POST). No token: 401; a reader posting: 403. Writes record the token's NAME
        as the actor in the job record and the audit log.

        SIGTERM or SIGINT stops it gracefully: a running dump is aborted cleanly (pg_dump
        stopped, no recovery point written) and the listener closes.

        Example:
          pgvault serve --policy /etc/pgvault/policy.yaml \\
              --tokens /etc/pgvault/tokens --listen 127.0.0.1:8432
        """))

    @Option(help: ArgumentHelp("The policy file (YAML).", valueName: "file")) var policy: String
    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host:port")) var listen: String = "127.0.0.1:8432"
    @Option(help: ArgumentHelp("API token file (0600): lines `NAME ROLE TOKEN`.", valueName: "file")) var tokens: String
    @Option(help: ArgumentHelp("Seconds between scheduler passes.", valueName: "seconds")) var interval: Int = 60

    func validate() throws {
        guard let colon = listen.lastIndex(of: ":"), Int(listen[listen.index(after: colon)...]) != nil else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8432.")
        }
        guard interval >= 1 else { throw ValidationError("--interval must be at least 1 second.") }
    }

    func run() throws {
        try runReportingErrors(json: false) {
            let p = try PolicyLoader.load(path: policy)
            let vault = try openPolicyVault(p.vault)
            let copyTarget = try p.copyTo.map { try openPolicyVault($0) }
            let store = try TokenStore.load(path: tokens)
            let colon = listen.lastIndex(of: ":") ?? listen.endIndex
            let host = String(listen[..<colon])
            let port = Int(listen[listen.index(after: colon)...]) ?? 8432
            let server = VaultServer(policy: p, vault: vault, copyTarget: copyTarget, tokens: store, host: host, port: port,
                                     interval: TimeInterval(interval), logger: makeLogger(level: .info))
            let result = Locked<(any Error)?>(nil)
            let done = DispatchSemaphore(value: 0)
            Task {
                do {
                    try await server.run { port in
                        Output.stderr("pgvault serve: listening on \(host):\(port), vault \(vault.config.id), scheduler every \(interval)s")
                    }
                } catch { result.set(error) }
                done.signal()
            }
            done.wait()
            if let e = result.get() { throw e }
            Output.stderr("pgvault serve: stopped")
            return 0
        }
    }
}
