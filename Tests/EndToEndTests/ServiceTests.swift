import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VaultCore
import VaultTestSupport

/// A policy file for one server and database, due now (today's weekday, 00:00 UTC).
func writePolicy(_ cli: CLI, database: String, extra: String = "") throws -> String {
    var cal = Calendar(identifier: .gregorian)
    cal.timeZone = TimeZone(identifier: "UTC") ?? cal.timeZone
    let days = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
    let today = days[cal.component(.weekday, from: Date()) - 1]
    let yaml = """
    vault: \(cli.vault)
    servers:
      - name: testsrv
        conninfo: "\(cli.base)"
        databases:
          include: ["\(database)"]
    schedule:
      weekly:
        day: \(today)
        time: "00:00"
        timezone: UTC
    retention:
      weekly: 8w
      monthly: 12m
      yearly: 10y
      on-demand: 30d
    \(extra)
    """
    let path = cli.dir.appendingPathComponent("policy.yaml").path
    try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
    return path
}

/// Minimal HTTP client for the tests (URLSession, synchronous).
struct HTTP {
    let base: String
    func call(_ method: String, _ path: String, token: String?, body: String? = nil) throws -> (status: Int, body: String) {
        var req = URLRequest(url: URL(string: base + path)!)
        req.httpMethod = method
        if let token { req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body { req.httpBody = Data(body.utf8); req.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let box = ResultBox()
        URLSession.shared.dataTask(with: req) { data, resp, err in
            box.set(((resp as? HTTPURLResponse)?.statusCode ?? -1, String(decoding: data ?? Data(), as: UTF8.self), err))
        }.resume()
        let r = box.wait()
        if let e = r.2 { throw ShellError(description: "\(method) \(path): \(e)") }
        return (r.0, r.1)
    }
}

final class ResultBox: @unchecked Sendable {
    private let cond = NSCondition()
    private var value: (Int, String, (any Error)?)?
    func set(_ v: (Int, String, (any Error)?)) { cond.lock(); value = v; cond.broadcast(); cond.unlock() }
    func wait() -> (Int, String, (any Error)?) {
        cond.lock(); defer { cond.unlock() }
        while value == nil { cond.wait() }
        return value ?? (-1, "", nil)
    }
}

/// Parses Prometheus text exposition format 0.0.4 strictly enough to catch malformed output:
/// every sample belongs to a family announced by # TYPE, names and labels are well formed.
func parsePrometheus(_ text: String) throws -> [String: [(labels: [String: String], value: Double)]] {
    var out: [String: [(labels: [String: String], value: Double)]] = [:]
    var typed = Set<String>()
    let nameRE = try Regex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    for line in text.split(separator: "\n") {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(String(parts[3])) else {
                throw ShellError(description: "bad TYPE line: \(line)")
            }
            typed.insert(String(parts[2])); continue
        }
        if line.hasPrefix("#") { continue }
        var name = "", labels: [String: String] = [:], rest = Substring(line)
        if let brace = line.firstIndex(of: "{") {
            name = String(line[..<brace])
            guard let close = line.lastIndex(of: "}") else { throw ShellError(description: "unclosed labels: \(line)") }
            let inner = line[line.index(after: brace)..<close]
            for pair in inner.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[1].hasPrefix("\""), kv[1].hasSuffix("\"") else { throw ShellError(description: "bad label: \(pair)") }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
            rest = line[line.index(after: close)...]
        } else {
            let parts = line.split(separator: " ", maxSplits: 1)
            name = String(parts[0]); rest = parts.count > 1 ? parts[1] : ""
        }
        guard (try? nameRE.wholeMatch(in: name)) != nil, typed.contains(name) else { throw ShellError(description: "sample of unknown family: \(line)") }
        guard let v = Double(rest.trimmingCharacters(in: .whitespaces)) else { throw ShellError(description: "bad value: \(line)") }
        out[name, default: []].append((labels, v))
    }
    return out
}

@Suite("Schedules: run and serve", .serialized)
struct ServiceTests {
    @Test func tenOverlappingRunsMakeExactlyOneBackupPerSlot() throws {
        let cli = try CLI("runs")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("runs"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        try cli.initVault()
        let policy = try writePolicy(cli, database: db)
        try cli.expect(0, ["policy", "check", policy])

        let procs = try (0..<10).map { _ -> (Process, Pipe) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: cli.binary)
            p.arguments = ["run", "--policy", policy]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            return (p, out)
        }
        var outputs: [String] = []
        for (p, out) in procs {
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            outputs.append(String(decoding: data, as: UTF8.self))
        }
        let points = try #require(try cli.json(try cli.expect(0, ["points", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        #expect(points.count == 1, "ten overlapping runs made \(points.count) points:\n\(outputs.joined(separator: "\n---\n"))")
        #expect(outputs.filter { $0.contains("backed up testsrv") }.count == 1)
        let tags = try #require(try cli.json(try cli.expect(0, ["show", "--vault", cli.vault, "latest", "--json"])) as? [String: Any])["tags"] as? [String]
        #expect(Set(tags ?? []) == ["weekly", "monthly", "yearly"], "the first point of a week, month and year earns all three tags")
        // An eleventh run later in the same slot does nothing but report.
        let again = try cli.expect(0, ["run", "--policy", policy])
        #expect(again.stdout.contains("already has its backup"))
        let dry = try cli.expect(0, ["run", "--policy", policy, "--dry-run"])
        #expect(dry.stdout.contains("keep:") && dry.stdout.contains("yearly"))
    }

    @Test func runCopiesNewPointsToTheSecondVault() throws {
        let cli = try CLI("copyto")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("cpy"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        try cli.initVault()
        let second = cli.dir.appendingPathComponent("offsite").path
        try cli.expect(0, ["init", second])
        let policy = try writePolicy(cli, database: db, extra: "copyTo: \(second)")
        let r = try cli.expect(0, ["run", "--policy", policy])
        #expect(r.stdout.contains("copied"), "\(r.stdout)")
        let a = try #require(try cli.json(try cli.expect(0, ["points", "--vault", cli.vault, "--json"])) as? [[String: Any]])
        let b = try #require(try cli.json(try cli.expect(0, ["points", "--vault", second, "--json"])) as? [[String: Any]])
        #expect(a.count == 1 && b.count == 1 && a.first?["id"] as? String == b.first?["id"] as? String)
        #expect(a.first?["retainUntil"] as? String == b.first?["retainUntil"] as? String)
        let out = cli.dir.appendingPathComponent("from-offsite").path
        try cli.expect(0, ["restore", "--vault", second, "latest", "--to", out])
        #expect(try Shell.run("/usr/bin/sha256sum", ["-c", "--quiet", "SHA256SUMS"], cwd: URL(fileURLWithPath: out)).status == 0)
        // A second run copies nothing new.
        let again = try cli.expect(0, ["run", "--policy", policy])
        #expect(!again.stdout.contains("copied"))
    }

    @Test func dailyScheduleIsRefusedWithLineNumber() throws {
        let cli = try CLI("daily")
        defer { cli.cleanup() }
        let path = cli.dir.appendingPathComponent("p.yaml").path
        try Data("vault: /tmp/x\nservers:\n  - name: a\n    conninfo: \"host=x\"\nschedule:\n  daily:\n    time: \"02:00\"\n".utf8)
            .write(to: URL(fileURLWithPath: path))
        let r = try cli.expect(2, ["policy", "check", path])
        #expect(r.stderr.contains("p.yaml:6") && r.stderr.lowercased().contains("weekly"), "\(r.stderr)")
    }

    @Test func serveAnswersTheAPIWithTokensRolesMetricsAndJobs() throws {
        let cli = try CLI("serve")
        defer { cli.cleanup() }
        let db = try cli.createDatabase(TestEnvironment.uniqueName("srv"))
        defer { cli.drop(db) }
        try loadSampleData(cli, db)
        try cli.initVault()
        let policy = try writePolicy(cli, database: db)
        let tokens = cli.dir.appendingPathComponent("tokens").path
        let readerToken = "reader-" + UUID().uuidString, opToken = "operator-" + UUID().uuidString
        try Data("# test tokens\nviewer reader \(readerToken)\nci-bot operator \(opToken)\n".utf8).write(to: URL(fileURLWithPath: tokens))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: tokens)
        // A token file others can read is refused.
        let loose = try cli.expect(2, ["serve", "--policy", policy, "--tokens", tokens, "--listen", "127.0.0.1:0"])
        #expect(loose.stderr.contains("chmod 600"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokens)

        let port = 20000 + Int.random(in: 0..<20000)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cli.binary)
        p.arguments = ["serve", "--policy", policy, "--tokens", tokens, "--listen", "127.0.0.1:\(port)", "--interval", "3600"]
        let errPipe = Pipe()
        p.standardError = errPipe
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        let http = HTTP(base: "http://127.0.0.1:\(port)")
        var up = false
        for _ in 0..<100 {
            if let r = try? http.call("GET", "/healthz", token: nil), r.status == 200 { up = true; break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try #require(up, "serve did not answer /healthz")

        // The scheduler's first pass backs up the due slot; wait for the point.
        var points: [[String: Any]] = []
        for _ in 0..<100 {
            let r = try http.call("GET", "/v1/points", token: readerToken)
            #expect(r.status == 200)
            points = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [[String: Any]] ?? []
            if !points.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(points.count == 1)

        #expect(try http.call("GET", "/v1/points", token: nil).status == 401)
        #expect(try http.call("GET", "/v1/points", token: "wrong-token-0123456789").status == 401)
        #expect(try http.call("POST", "/v1/backups", token: readerToken, body: #"{"server":"testsrv"}"#).status == 403)
        let pid = try #require(points.first?["id"] as? String)
        let one = try http.call("GET", "/v1/points/\(pid)", token: readerToken)
        #expect(one.status == 200 && one.body.contains("\"files\""))
        // The manifest as stored, streamed: the same JSON as `show --json`, chunk lists included.
        let shown = try cli.expect(0, ["show", pid, "--vault", cli.vault, "--json"]).stdout
        #expect(one.body == shown.trimmingCharacters(in: .newlines))
        #expect(one.body.contains("\"id\":\""), "chunk entries are included")
        let byPrefix = try http.call("GET", "/v1/points/\(pid.prefix(12))", token: readerToken)
        #expect(byPrefix.status == 200 && byPrefix.body == one.body)
        #expect(try http.call("GET", "/v1/points/nosuchpoint", token: readerToken).status == 404)

        // An on-demand backup by the operator token, followed to its end.
        let started = try http.call("POST", "/v1/backups", token: opToken, body: #"{"server":"testsrv","retain":"14d"}"#)
        #expect(started.status == 202, "\(started.body)")
        let job = try #require((try JSONSerialization.jsonObject(with: Data(started.body.utf8)) as? [String: Any])?["job"] as? String)
        func waitJob(_ id: String) throws -> [String: Any] {
            for _ in 0..<300 {
                let r = try http.call("GET", "/v1/jobs/\(id)", token: readerToken)
                if r.status == 200, let o = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
                   let rec = o["record"] as? [String: Any], let s = rec["status"] as? String, s != "running" { return rec }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw ShellError(description: "job \(id) did not finish")
        }
        let backupRec = try waitJob(job)
        #expect(backupRec["status"] as? String == "ok" && backupRec["actor"] as? String == "ci-bot")
        let audit = try cli.expect(0, ["audit", "--vault", cli.vault, "--json"])
        #expect(audit.stdout.contains("\"actor\" : \"ci-bot\""), "the API write is audited under the token's name")

        // A restore job into a directory on the server.
        let out = cli.dir.appendingPathComponent("api-restore").path
        let rs = try http.call("POST", "/v1/restores", token: opToken, body: "{\"point\":\"latest\",\"to\":\"\(out)\"}")
        #expect(rs.status == 202, "\(rs.body)")
        let rjob = try #require((try JSONSerialization.jsonObject(with: Data(rs.body.utf8)) as? [String: Any])?["job"] as? String)
        let restoreRec = try waitJob(rjob)
        #expect(restoreRec["status"] as? String == "ok" && restoreRec["kind"] as? String == "restore")
        let check = try Shell.run("/usr/bin/sha256sum", ["-c", "--quiet", "SHA256SUMS"], cwd: URL(fileURLWithPath: out))
        #expect(check.status == 0)
        let jobs = try http.call("GET", "/v1/jobs", token: readerToken)
        #expect(jobs.status == 200 && jobs.body.contains(rjob) && jobs.body.contains(job))

        // Metrics parse as Prometheus text and carry the last success per database.
        let m = try http.call("GET", "/metrics", token: readerToken)
        #expect(m.status == 200)
        let families = try parsePrometheus(m.body)
        let last = try #require(families["pgvault_last_success_timestamp_seconds"])
        #expect(last.contains { $0.labels["server"] == "testsrv" && $0.labels["database"] == db && abs($0.value - Date().timeIntervalSince1970) < 600 })
        #expect((families["pgvault_vault_stored_bytes"]?.first?.value ?? 0) > 0)
        #expect(families["pgvault_backup_bytes_dumped_total"] != nil && families["pgvault_backup_failures_total"] != nil)

        // The audit chain as the service watches it: the same head as `audit --verify`, a
        // metric to alert on, and records cut from the end of the log show at the next check.
        func auditStatus() throws -> [String: Any] {
            let r = try http.call("GET", "/v1/audit", token: readerToken)
            #expect(r.status == 200, "\(r.body)")
            return try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
        }
        let watched = try auditStatus()
        let cliHead = try #require(try cli.json(try cli.expect(0, ["audit", "--verify", "--json", "--vault", cli.vault])) as? [String: Any])["head"] as? String
        #expect(watched["ok"] as? Bool == true && watched["head"] as? String == cliHead, "\(watched)")
        #expect(try parsePrometheus(try http.call("GET", "/metrics", token: readerToken).body)["pgvault_audit_chain_ok"]?.first?.value == 1)
        #expect(try http.call("GET", "/v1/audit", token: nil).status == 401)
        let records = try #require(watched["records"] as? Int)
        let lastPath = cli.vault + "/audit/" + String(format: "%012d", records) + ".json"
        let lastRecord = try Data(contentsOf: URL(fileURLWithPath: lastPath))
        try FileManager.default.removeItem(atPath: lastPath)
        try cli.expect(0, ["audit", "--verify", "--vault", cli.vault])   // the chain alone cannot tell
        let cut = try auditStatus()
        #expect(cut["ok"] as? Bool == false && cut["firstBroken"] as? Int == records, "\(cut)")
        #expect((cut["reason"] as? String)?.contains("removed from its end") == true, "\(cut)")
        #expect(try parsePrometheus(try http.call("GET", "/metrics", token: readerToken).body)["pgvault_audit_chain_ok"]?.first?.value == 0)
        #expect(FileManager.default.createFile(atPath: lastPath, contents: lastRecord, attributes: [.posixPermissions: 0o400]))
        #expect(try auditStatus()["ok"] as? Bool == true)

        // SIGTERM stops it gracefully.
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(!p.isRunning)
        #expect(p.terminationStatus == 0)
    }
}
