import SimCore

/// What a merge did.
public struct MergeStats: Sendable, Equatable {
    public var sweeps = 0
    public var runs = 0
    public var skipped = 0
    public init() {}
}

extension Store {
    static let runColumns = ["scenario", "scenario_file", "scenario_sha256", "seed", "overrides", "simctl_version", "sim_seconds", "events",
                             "wall_seconds", "trace_hash", "ok", "point", "rto_s", "recovered", "lost_writes", "lost_bytes",
                             "split_brain_s", "failed_expectations", "noise_method", "noise_events", "noise_rate_per_year", "noise_quiet_s",
                             "false_failovers", "noise_demotions", "leader_lock_failures", "noise_etcd_elections", "noise_downtime_s", "noise_lost_writes", "noise_weight",
                             "noise_source", "noise_source_rate_per_year"]
    static let childTables: [(String, [String])] = [
        ("faults", ["idx", "kind", "target", "resolved", "start_s", "end_s"]),
        ("timeline", ["t_s", "host", "component", "kind", "detail"]),
        ("findings", ["kind", "fault_index", "start_s", "end_s", "value", "unit", "detail"]),
        ("metrics", ["name", "value"]),
        ("run_reports", ["findings", "hosts", "faults", "series", "aborted"]),
    ]

    /// Copies every sweep and run of the store at `path` into this one, in one transaction.
    /// A sweep is matched by its key (so shards of one sweep become one sweep again); a sweep
    /// run already present (same setting and seed) is skipped, as is an identical plain run:
    /// merging the same file twice changes nothing.
    @discardableResult
    public func merge(from path: String) throws -> MergeStats {
        // Opening it as a store first brings an older file's schema up to date.
        _ = try Store(path: path)
        try db.prepare("ATTACH DATABASE ? AS src").run([.text(path)])
        defer { try? db.exec("DETACH DATABASE src") }
        return try db.transaction {
            var stats = MergeStats()
            var sweepMap: [Int64: Int64] = [:]
            let srcSweeps = try db.prepare("""
                SELECT sweep_id, key, scenario, scenario_file, scenario_sha256, grid, seeds, first_seed, simctl_version, started, finished
                FROM src.sweeps ORDER BY sweep_id
                """)
            var rows: [SweepRow] = []
            while try srcSweeps.step() {
                rows.append(SweepRow(id: try srcSweeps.reqInt(0), key: try srcSweeps.reqText(1), scenario: try srcSweeps.reqText(2), scenarioFile: try srcSweeps.reqText(3),
                                     scenarioSHA256: try srcSweeps.reqText(4), grid: try srcSweeps.reqText(5), seeds: Int(try srcSweeps.reqInt(6)),
                                     firstSeed: UInt64(bitPattern: try srcSweeps.reqInt(7)), simctlVersion: try srcSweeps.reqText(8),
                                     started: try srcSweeps.reqText(9), finished: srcSweeps.text(10)))
            }
            for s in rows {
                if let existing = try sweep(key: s.key) {
                    sweepMap[s.id] = existing.id
                    if let f = s.finished, existing.finished.map({ $0 < f }) ?? true { try finishSweep(existing.id, at: f) }
                } else {
                    sweepMap[s.id] = try insertSweep(s).id
                    stats.sweeps += 1
                }
            }
            try db.exec("INSERT OR IGNORE INTO scenario_texts (sha256, text) SELECT sha256, text FROM src.scenario_texts")
            let cols = Self.runColumns.joined(separator: ", ")
            let srcRuns = try db.prepare("""
                SELECT run_id, sweep_id, scenario_sha256, seed, overrides, trace_hash, simctl_version, point, wall_seconds
                FROM src.runs ORDER BY run_id
                """)
            let sweepDup = try db.prepare("SELECT 1 FROM runs WHERE sweep_id = ? AND point = ? AND seed = ? LIMIT 1")
            let plainDup = try db.prepare("""
                SELECT 1 FROM runs WHERE sweep_id IS NULL AND scenario_sha256 = ? AND seed = ? AND overrides = ? AND trace_hash = ?
                AND simctl_version = ? AND wall_seconds = ? LIMIT 1
                """)
            let insert = try db.prepare("INSERT INTO runs (sweep_id, \(cols)) SELECT ?, \(cols) FROM src.runs WHERE run_id = ?")
            let copies = try Self.childTables.map { t, c in
                try db.prepare("INSERT INTO \(t) (run_id, \(c.joined(separator: ", "))) SELECT ?, \(c.joined(separator: ", ")) FROM src.\(t) WHERE run_id = ?")
            }
            var pending: [(Int64, Int64?, String, Int64, String, String, String, String, Double)] = []
            while try srcRuns.step() {
                pending.append((try srcRuns.reqInt(0), srcRuns.int(1), try srcRuns.reqText(2), try srcRuns.reqInt(3), try srcRuns.reqText(4),
                                try srcRuns.reqText(5), try srcRuns.reqText(6), try srcRuns.reqText(7), try srcRuns.reqDouble(8)))
            }
            for (srcID, srcSweep, sha, seed, overrides, trace, version, point, wall) in pending {
                let target = srcSweep.flatMap { sweepMap[$0] }
                let dup: Bool
                if let t = target {
                    try sweepDup.bind([.int(t), .text(point), .int(seed)])
                    dup = try sweepDup.step()
                } else {
                    try plainDup.bind([.text(sha), .int(seed), .text(overrides), .text(trace), .text(version), .double(wall)])
                    dup = try plainDup.step()
                }
                if dup { stats.skipped += 1; continue }
                try insert.run([target.map { .int($0) } ?? .null, .int(srcID)])
                let newID = db.lastInsertRowID
                for c in copies { try c.run([.int(newID), .int(srcID)]) }
                stats.runs += 1
            }
            return stats
        }
    }
}
