import SimCore
import Recording
import Analysis

/// A sweep as the `sweeps` table holds it.
public struct SweepRow: Sendable, Equatable {
    public var id: Int64
    public var key: String
    public var scenario: String
    public var scenarioFile: String
    public var scenarioSHA256: String
    /// JSON: [{"key": ..., "values": [...]}, ...]
    public var grid: String
    public var seeds: Int
    public var firstSeed: UInt64
    public var simctlVersion: String
    public var started: String
    public var finished: String?

    public init(id: Int64, key: String, scenario: String, scenarioFile: String, scenarioSHA256: String, grid: String, seeds: Int,
                firstSeed: UInt64, simctlVersion: String, started: String, finished: String?) {
        self.id = id; self.key = key; self.scenario = scenario; self.scenarioFile = scenarioFile
        self.scenarioSHA256 = scenarioSHA256; self.grid = grid; self.seeds = seeds; self.firstSeed = firstSeed
        self.simctlVersion = simctlVersion; self.started = started; self.finished = finished
    }
}

/// A stored run, summarised: the sweep setting it belongs to (the `point` JSON text) and its
/// numbers.
public struct StoredRun: Sendable {
    public var runID: Int64
    public var point: String
    public var summary: RunSummary
}

extension Store {
    public func sweep(key: String) throws -> SweepRow? {
        try sweeps(where: "key = ?", [.text(key)]).first
    }

    public func sweep(id: Int64) throws -> SweepRow? {
        try sweeps(where: "sweep_id = ?", [.int(id)]).first
    }

    public func allSweeps() throws -> [SweepRow] { try sweeps(where: "1", []) }

    func sweeps(where cond: String, _ args: [Database.Value]) throws -> [SweepRow] {
        let st = try db.prepare("""
            SELECT sweep_id, key, scenario, scenario_file, scenario_sha256, grid, seeds, first_seed, simctl_version, started, finished
            FROM sweeps WHERE \(cond) ORDER BY sweep_id
            """)
        try st.bind(args)
        var out: [SweepRow] = []
        while try st.step() {
            out.append(SweepRow(id: try st.reqInt(0), key: try st.reqText(1), scenario: try st.reqText(2), scenarioFile: try st.reqText(3), scenarioSHA256: try st.reqText(4),
                                grid: try st.reqText(5), seeds: Int(try st.reqInt(6)), firstSeed: UInt64(bitPattern: try st.reqInt(7)),
                                simctlVersion: try st.reqText(8), started: try st.reqText(9), finished: st.text(10)))
        }
        return out
    }

    /// Inserts a sweep row (its id is assigned here) and returns it.
    public func insertSweep(_ s: SweepRow) throws -> SweepRow {
        try db.prepare("""
            INSERT INTO sweeps (key, scenario, scenario_file, scenario_sha256, grid, seeds, first_seed, simctl_version, started, finished)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run([.text(s.key), .text(s.scenario), .text(s.scenarioFile), .text(s.scenarioSHA256), .text(s.grid), .int(Int64(s.seeds)),
                      .int(Int64(bitPattern: s.firstSeed)), .text(s.simctlVersion), .text(s.started), s.finished.map { .text($0) } ?? .null])
        var r = s
        r.id = db.lastInsertRowID
        return r
    }

    public func finishSweep(_ id: Int64, at: String) throws {
        try db.prepare("UPDATE sweeps SET finished = ? WHERE sweep_id = ?").run([.text(at), .int(id)])
    }

    /// The (point, seed) pairs a sweep already has: what `--resume` skips.
    public func doneRuns(sweep id: Int64) throws -> Set<String> {
        let st = try db.prepare("SELECT point, seed FROM runs WHERE sweep_id = ?")
        try st.bind([.int(id)])
        var out: Set<String> = []
        while try st.step() { out.insert(Self.runKey(point: try st.reqText(0), seed: UInt64(bitPattern: try st.reqInt(1)))) }
        return out
    }

    public static func runKey(point: String, seed: UInt64) -> String { "\(point)#\(seed)" }

    /// Every run of a sweep (or, with nil, every run of a scenario outside sweeps), summarised
    /// from the stored rows; ordered by point, then seed, then run_id.
    public func storedRuns(sweep id: Int64) throws -> [StoredRun] {
        try storedRuns(where: "r.sweep_id = ?", [.int(id)])
    }

    func storedRuns(where cond: String, _ args: [Database.Value]) throws -> [StoredRun] {
        let st = try db.prepare("""
            SELECT r.run_id, r.point, r.seed, r.lost_writes, r.lost_bytes, r.split_brain_s, r.failed_expectations, r.trace_hash,
                   r.noise_method, r.noise_events, r.noise_rate_per_year, r.noise_quiet_s, r.false_failovers, r.noise_demotions,
                   r.leader_lock_failures, r.noise_etcd_elections, r.noise_downtime_s, r.noise_lost_writes, r.noise_weight,
                   r.noise_source, r.noise_source_rate_per_year
            FROM runs r WHERE \(cond) ORDER BY r.point, r.seed, r.run_id
            """)
        try st.bind(args)
        var out: [StoredRun] = []
        var index: [Int64: Int] = [:]
        while try st.step() {
            let id = try st.reqInt(0)
            index[id] = out.count
            out.append(StoredRun(runID: id, point: try st.reqText(1),
                                 summary: RunSummary(seed: UInt64(bitPattern: try st.reqInt(2)), faults: [], lostWrites: Int(try st.reqInt(3)),
                                                     lostBytes: try st.reqInt(4), splitBrainNs: Time.fromSeconds(try st.reqDouble(5)),
                                                     failedExpectations: Int(try st.reqInt(6)), traceHash: try st.reqText(7))))
            if let m = st.text(8) {
                out[out.count - 1].summary.noise = RunSummary.Noise(
                    episode: m == "episodes", events: Int(st.int(9) ?? 0), eventsPerYear: st.double(10) ?? 0, quietNs: Time.fromSeconds(st.double(11) ?? 0),
                    falseFailovers: Int(st.int(12) ?? 0), demotions: Int(st.int(13) ?? 0), leaderLockFailures: Int(st.int(14) ?? 0),
                    etcdElections: Int(st.int(15) ?? 0), downtimeNs: Time.fromSeconds(st.double(16) ?? 0), lostWrites: Int(st.int(17) ?? 0))
                out[out.count - 1].summary.noise?.weight = st.double(18) ?? 1
                out[out.count - 1].summary.noise?.source = st.int(19).map { Int($0) }
                out[out.count - 1].summary.noise?.sourcePerYear = st.double(20) ?? 0
            }
        }
        let f = try db.prepare("""
            SELECT f.run_id, f.fault_index, f.value FROM findings f JOIN runs r ON r.run_id = f.run_id
            WHERE f.kind = 'rto' AND \(cond) ORDER BY f.run_id, f.fault_index
            """)
        try f.bind(args)
        while try f.step() {
            guard let i = index[try f.reqInt(0)] else { continue }
            out[i].summary.faults.append(.init(index: Int(try f.reqInt(1)), rtoNs: f.double(2).map(Time.fromSeconds)))
        }
        return out
    }
}
