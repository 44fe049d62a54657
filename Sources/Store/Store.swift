import SimCore
import Recording
import Analysis

/// What identifies a run besides its record: where the scenario came from and how it was run.
public struct RunMeta: Sendable {
    public var scenarioFile: String
    public var scenarioSHA256: String
    /// `--set` overrides, in the order given, as key and value text.
    public var overrides: [(String, String)]
    public var simctlVersion: String
    public var sweepID: Int64?
    /// The sweep setting the run belongs to (key, value), in the grid's order.
    public var point: [(String, String)]
    /// The scenario's text (stored once per digest), so that the run can be shown later.
    public var scenarioText: String?
    /// The hosts and their services.
    public var hosts: [RunStory.Host]
    public init(scenarioFile: String, scenarioSHA256: String, overrides: [(String, String)], simctlVersion: String,
                sweepID: Int64? = nil, point: [(String, String)] = [], scenarioText: String? = nil, hosts: [RunStory.Host] = []) {
        self.scenarioFile = scenarioFile
        self.scenarioSHA256 = scenarioSHA256
        self.overrides = overrides
        self.simctlVersion = simctlVersion
        self.sweepID = sweepID
        self.point = point
        self.scenarioText = scenarioText
        self.hosts = hosts
    }

    public var pointJSON: JSON { .object(point.map { ($0.0, .string($0.1)) }) }

    public var overridesJSON: JSON { .object(overrides.map { ($0.0, .string($0.1)) }) }
}

/// The SQLite store: one file, WAL mode, migrated on open. A run is written in one
/// transaction, so an interrupted or failed run leaves no rows behind.
public final class Store {
    public let db: Database
    public static let schemaVersion = Schema.migrations.count

    public init(path: String) throws {
        db = try Database(path: path)
        // A file SQLite cannot read ("file is not a database") or another program's database
        // (tables, but no simctl schema version) is refused before anything is written to it.
        // One SELECT reads both on one snapshot: a migration commits its tables and the
        // version together, so a store another process is creating reads as (0, 0) or (n, t).
        let (version, tables): (Int64, Int64) = try {
            // Scoped: the statement is finalized (its read transaction ended) before the
            // journal mode changes.
            let probe = try db.prepare("SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master WHERE type = 'table')")
            _ = try probe.step()
            return (probe.int(0) ?? 0, probe.int(1) ?? 0)
        }()
        if version == 0, tables > 0 {
            throw Database.Error(message: "\(path): an SQLite database, but not a simctl store (it has \(tables) table\(tables == 1 ? "" : "s") and no simctl schema version); nothing was written to it")
        }
        try db.exec("PRAGMA journal_mode=WAL")
        try db.exec("PRAGMA synchronous=NORMAL")
        try db.exec("PRAGMA foreign_keys=ON")
        try migrate()
    }

    /// Brings the schema up to date. Several processes may open one new store at once (the
    /// shards of a sweep, parallel `simctl run`s): the version is read again inside one
    /// `BEGIN IMMEDIATE` transaction (the write lock, waited for with the busy timeout), so
    /// exactly one process migrates and the others find the work done.
    func migrate() throws {
        if Int(try db.scalarInt("PRAGMA user_version") ?? 0) == Schema.migrations.count { return }
        try db.transaction {
            let current = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
            if current > Schema.migrations.count {
                throw Database.Error(message: "\(db.path): written by a newer simctl (schema \(current), this one knows \(Schema.migrations.count))")
            }
            for v in current..<Schema.migrations.count { try db.exec(Schema.migrations[v]) }
            try db.exec("PRAGMA user_version = \(Schema.migrations.count)")
        }
    }

    /// Writes a run and its findings; returns its run_id. `failAfterRuns` is for tests of the
    /// one-transaction rule: it throws midway, after the `runs` row was inserted.
    @discardableResult
    public func save(_ run: RunRecord, _ f: Findings, meta: RunMeta, failMidway: Bool = false) throws -> Int64 {
        try db.transaction {
            let runID = try insertRun(run, f, meta)
            try insertFaults(runID, run)
            if failMidway { throw Database.Error(message: "injected failure after the runs row") }
            try insertTimeline(runID, run)
            try insertFindings(runID, run, f)
            try insertMetrics(runID, run, f)
            try insertReport(runID, run, f, meta)
            return runID
        }
    }

    func insertRun(_ run: RunRecord, _ f: Findings, _ meta: RunMeta) throws -> Int64 {
        let st = try db.prepare("""
            INSERT INTO runs (sweep_id, scenario, scenario_file, scenario_sha256, seed, overrides, simctl_version,
                              sim_seconds, events, wall_seconds, trace_hash, ok,
                              point, rto_s, recovered, lost_writes, lost_bytes, split_brain_s, failed_expectations,
                              noise_method, noise_events, noise_rate_per_year, noise_quiet_s, false_failovers, noise_demotions,
                              leader_lock_failures, noise_etcd_elections, noise_downtime_s, noise_lost_writes, noise_weight,
                              noise_source, noise_source_rate_per_year)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let sum = RunSummary(run, f)
        try st.run([meta.sweepID.map { .int($0) } ?? .null, .text(run.scenario), .text(meta.scenarioFile), .text(meta.scenarioSHA256),
                    .int(Int64(bitPattern: run.seed)), .text(meta.overridesJSON.text), .text(meta.simctlVersion),
                    .double(Time.seconds(run.durationNs)), .int(Int64(run.events)), .double(run.wallSeconds),
                    .text(run.traceHash), .int(f.ok && run.aborted == nil ? 1 : 0),
                    .text(meta.pointJSON.text), sum.faults.isEmpty ? .null : sum.worstRTONs.map { .double(Time.seconds($0)) } ?? .null,
                    sum.faults.isEmpty ? .null : .int(sum.unrecovered ? 0 : 1),
                    .int(Int64(sum.lostWrites)), .int(sum.lostBytes), .double(Time.seconds(sum.splitBrainNs)), .int(Int64(sum.failedExpectations))]
                    + Self.noiseValues(sum.noise))
        return db.lastInsertRowID
    }

    func insertFaults(_ id: Int64, _ run: RunRecord) throws {
        let st = try db.prepare("INSERT INTO faults (run_id, idx, kind, target, resolved, start_s, end_s) VALUES (?, ?, ?, ?, ?, ?, ?)")
        for x in run.faults {
            try st.run([.int(id), .int(Int64(x.index)), .text(x.kind), .text(x.target), .text(x.resolved),
                        .double(Time.seconds(x.startNs)), x.endNs.map { .double(Time.seconds($0)) } ?? .null])
        }
    }

    func insertTimeline(_ id: Int64, _ run: RunRecord) throws {
        let st = try db.prepare("INSERT INTO timeline (run_id, t_s, host, component, kind, detail) VALUES (?, ?, ?, ?, ?, ?)")
        for e in run.timeline {
            try st.run([.int(id), .double(Time.seconds(e.timeNs)), .text(e.host), .text(e.component), .text(e.kind), .text(e.detail.text)])
        }
    }

    func insertFindings(_ id: Int64, _ run: RunRecord, _ f: Findings) throws {
        let st = try db.prepare("INSERT INTO findings (run_id, kind, fault_index, start_s, end_s, value, unit, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        func row(_ kind: String, fault: Int? = nil, start: Nanos? = nil, end: Nanos? = nil, value: Double?, unit: String?, detail: JSON) throws {
            try st.run([.int(id), .text(kind), fault.map { .int(Int64($0)) } ?? .null,
                        start.map { .double(Time.seconds($0)) } ?? .null, end.map { .double(Time.seconds($0)) } ?? .null,
                        value.map { .double($0) } ?? .null, unit.map { .text($0) } ?? .null, .text(detail.text)])
        }
        for r in f.rto {
            try row("rto", fault: r.faultIndex, start: r.atNs, end: r.rtoNs.map { r.atNs + $0 }, value: r.rtoNs.map(Time.seconds), unit: "s",
                    detail: Summary.rtoJSON(r))
            for p in r.phases {
                try row("rto_phase", fault: r.faultIndex, start: p.atNs.flatMap { at in p.durationNs.map { at - $0 } }, end: p.atNs,
                        value: p.durationNs.map(Time.seconds), unit: "s", detail: .object([("phase", .string(p.name)), ("detail", .string(p.detail))]))
            }
        }
        if let r = f.rpo {
            try row("rpo_lost_writes", value: Double(r.lostWrites), unit: "writes",
                    detail: .object([("final_primary", r.finalPrimary.map(JSON.string) ?? .null), ("ids", .array(r.lostIds.map { .int(Int64($0)) }))]))
            try row("rpo_lost_bytes", value: Double(r.lostBytes), unit: "bytes", detail: .object([]))
            try row("rpo_window", value: Time.seconds(r.windowNs), unit: "s", detail: .object([]))
        }
        if let sb = f.splitBrain {
            for k in sb.kinds {
                try row("split_brain_\(k.name)", value: Time.seconds(k.totalNs), unit: "s",
                        detail: .object([("intervals", .int(Int64(k.intervals.count))), ("losing_acks", k.losingAcks.map { .int(Int64($0)) } ?? .null)]))
                for iv in k.intervals {
                    try row("split_brain_\(k.name)_interval", start: iv.startNs, end: iv.endNs, value: Time.seconds(iv.endNs - iv.startNs), unit: "s",
                            detail: .object([("detail", .string(iv.detail))]))
                }
            }
        }
        for v in f.violations {
            try row("invariant_violation", start: v.timeNs, value: 1, unit: nil, detail: .object([("kind", .string(v.kind)), ("detail", .string(v.detail))]))
        }
        if let n = f.noise {
            // Each false failover outside faults, and the noise totals (an episode's own
            // outcome is in the runs columns).
            for t in n.total.falseFailovers { try row("false_failover", start: t, value: 1, unit: nil, detail: .object([])) }
            try row("noise_events", value: Double(n.events), unit: "events", detail: .object(n.byName.map { ($0.name, .int(Int64($0.count))) }))
            try row("noise_downtime", value: Time.seconds(n.total.downtimeNs), unit: "s", detail: .object([("outages", .int(Int64(n.total.outages)))]))
            try row("noise_lost_writes", value: Double(n.total.lostWrites), unit: "writes", detail: .object([]))
            try row("noise_demotions", value: Double(n.total.demotions), unit: nil, detail: .object([]))
            try row("leader_lock_failures", value: Double(n.total.leaderLockFailures), unit: nil, detail: .object([]))
            try row("noise_etcd_elections", value: Double(n.total.etcdElections), unit: nil, detail: .object([]))
            if let t = n.tagged {
                try row("noise_episode", start: t.atNs, end: t.untilNs, value: Double(t.outcome.falseFailovers.count), unit: "false failovers",
                        detail: .object([("event", .string(t.name)), ("target", .string(t.target)), ("outcome", t.outcome.summary)]))
            }
        }
        for e in f.expectations {
            try row("expectation", value: e.ok ? 1 : 0, unit: nil,
                    detail: .object([("name", .string(e.name)), ("ok", .bool(e.ok)), ("detail", .string(e.detail))]))
        }
    }

    func insertMetrics(_ id: Int64, _ run: RunRecord, _ f: Findings) throws {
        let st = try db.prepare("INSERT INTO metrics (run_id, name, value) VALUES (?, ?, ?)")
        var m: [(String, Double)] = run.counters
        if let w = f.writes {
            m += [("writes_total", Double(w.total)), ("writes_ok", Double(w.ok)), ("writes_failed", Double(w.failed)),
                  ("writes_indeterminate", Double(w.indeterminate))]
        }
        if let s = f.staleReads { m += [("reads_total", Double(s.reads)), ("reads_stale", Double(s.stale))] }
        m.append(("events", Double(run.events)))
        for (k, v) in m { try st.run([.int(id), .text(k), .double(v)]) }
    }

    public func runCount() throws -> Int { Int(try db.scalarInt("SELECT count(*) FROM runs") ?? 0) }

    /// The noise columns of a run (all NULL without noise).
    static func noiseValues(_ n: RunSummary.Noise?) -> [Database.Value] {
        guard let n else { return Array(repeating: .null, count: 13) }
        return [.text(n.episode ? "episodes" : "direct"), .int(Int64(n.events)), .double(n.eventsPerYear), .double(Time.seconds(n.quietNs)),
                .int(Int64(n.falseFailovers)), .int(Int64(n.demotions)), .int(Int64(n.leaderLockFailures)), .int(Int64(n.etcdElections)),
                .double(Time.seconds(n.downtimeNs)), .int(Int64(n.lostWrites)), .double(n.weight),
                n.source.map { .int(Int64($0)) } ?? .null, n.source == nil ? .null : .double(n.sourcePerYear)]
    }
}
