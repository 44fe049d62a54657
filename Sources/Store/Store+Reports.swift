import SimCore
import Recording
import Analysis

/// What a stored run says about itself, beyond its story: where it came from.
public struct StoredReport: Sendable {
    public var story: RunStory
    public var scenarioText: String?
    public var scenarioSHA256: String
    public var simctlVersion: String
    public var sweepID: Int64?
}

extension Store {
    func insertReport(_ id: Int64, _ run: RunRecord, _ f: Findings, _ meta: RunMeta) throws {
        if let text = meta.scenarioText {
            try db.prepare("INSERT OR IGNORE INTO scenario_texts (sha256, text) VALUES (?, ?)").run([.text(meta.scenarioSHA256), .text(text)])
        }
        let series = WriteSeries.of(run, lostIds: f.rpo?.lostIds ?? [])
        try db.prepare("INSERT INTO run_reports (run_id, findings, hosts, faults, series, aborted) VALUES (?, ?, ?, ?, ?, ?)")
            .run([.int(id), .text(f.document.text), .text(RunStory.hostsDocument(meta.hosts).text), .text(RunStory.faultsDocument(run.faults).text),
                  .text(series.document.text), run.aborted.map { .text($0) } ?? .null])
    }

    public struct NotFound: Error, CustomStringConvertible {
        public var description: String
    }

    /// A stored run, as its reports need it. Throws `NotFound` (with what to do) when the run
    /// is not in the store, or was stored by a simctl that did not keep its report.
    public func report(_ id: Int64) throws -> StoredReport {
        let rows = try db.rows("""
            SELECT r.scenario, r.scenario_file, r.scenario_sha256, r.seed, r.overrides, r.simctl_version, r.sim_seconds, r.events,
                   r.wall_seconds, r.trace_hash, r.sweep_id, p.findings, p.hosts, p.faults, p.series, p.aborted, t.text
            FROM runs r LEFT JOIN run_reports p USING (run_id) LEFT JOIN scenario_texts t ON t.sha256 = r.scenario_sha256
            WHERE r.run_id = ?
            """, [.int(id)])
        guard let r = rows.first else {
            let n = (try? db.scalarInt("SELECT max(run_id) FROM runs")) ?? nil
            throw NotFound(description: "\(db.path): no run \(id)" + (n.map { " (runs are numbered 1 to \($0))" } ?? " (the store has no runs)"))
        }
        guard let findingsText = r[11], let hostsText = r[12], let faultsText = r[13], let seriesText = r[14] else {
            throw NotFound(description: "\(db.path): run \(id) was stored by a simctl that did not keep its report; run it again: simctl run \(r[1] ?? "FILE") --seed \(r[3] ?? "N")")
        }
        func parse(_ t: String, _ what: String) throws -> JSON {
            do { return try JSON.parse(t) } catch { throw NotFound(description: "\(db.path): run \(id): its \(what) is not valid JSON (\(error))") }
        }
        let findings: Findings
        do { findings = try Findings(document: try parse(findingsText, "findings")) } catch let e as Findings.DecodeError {
            throw NotFound(description: "\(db.path): run \(id): \(e.description)")
        }
        var overrides: [(String, String)] = []
        if case .object(let kv)? = try? JSON.parse(r[4] ?? "{}") { overrides = kv.map { ($0.0, $0.1.stringValue ?? $0.1.text) } }
        let timeline = try db.rows("SELECT t_s, host, component, kind, detail FROM timeline WHERE run_id = ? ORDER BY rowid", [.int(id)]).map { t in
            TimelineEntry(timeNs: Time.fromSeconds(Double(t[0] ?? "0") ?? 0), host: t[1] ?? "", component: t[2] ?? "", kind: t[3] ?? "",
                          detail: (try? JSON.parse(t[4] ?? "{}")) ?? .object([]))
        }
        let story = RunStory(scenario: r[0] ?? "", scenarioFile: r[1] ?? "", seed: UInt64(bitPattern: Int64(r[3] ?? "0") ?? 0),
                             durationNs: Time.fromSeconds(Double(r[6] ?? "0") ?? 0), events: UInt64(r[7] ?? "0") ?? 0,
                             wallSeconds: Double(r[8] ?? "0") ?? 0, traceHash: r[9] ?? "",
                             hosts: RunStory.hosts(document: try parse(hostsText, "hosts")), faults: RunStory.faults(document: try parse(faultsText, "faults")),
                             timeline: Timeline(timeline), findings: findings, series: WriteSeries(document: try parse(seriesText, "series")),
                             aborted: r[15], overrides: overrides, runID: id)
        return StoredReport(story: story, scenarioText: r[16], scenarioSHA256: r[2] ?? "", simctlVersion: r[5] ?? "", sweepID: r[10].flatMap { Int64($0) })
    }
}
