import SimCore
import Recording

/// `simctl explore`'s tables (schema migration 6).
extension Store {
    public func insertExploration(file: String, sha256: String, seed: UInt64, simctlVersion: String, started: String) throws -> Int64 {
        try db.prepare("INSERT INTO explorations (scenario_file, scenario_sha256, seed, simctl_version, started) VALUES (?, ?, ?, ?, ?)")
            .run([.text(file), .text(sha256), .int(Int64(bitPattern: seed)), .text(simctlVersion), .text(started)])
        return db.lastInsertRowID
    }

    public func finishExploration(_ id: Int64, runs: Int, failedRuns: Int, at: String) throws {
        try db.prepare("UPDATE explorations SET runs = ?, failed_runs = ?, finished = ? WHERE exploration_id = ?")
            .run([.int(Int64(runs)), .int(Int64(failedRuns)), .text(at), .int(id)])
    }

    public func insertExploreRun(_ exploration: Int64, index: Int, seed: UInt64, kinds: [String], faults: [String], events: UInt64,
                                 traceHash: String, failed: [String], runID: Int64?) throws {
        try db.prepare("""
            INSERT INTO explore_runs (exploration_id, run_index, seed, kinds, faults, events, trace_hash, failed, run_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run([.int(exploration), .int(Int64(index)), .int(Int64(bitPattern: seed)), .text(JSON.array(kinds.map(JSON.string)).text),
                      .text(faults.joined(separator: "\n")), .int(Int64(events)), .text(traceHash), .text(JSON.array(failed.map(JSON.string)).text),
                      runID.map { .int($0) } ?? .null])
    }

    public func insertExploreFailure(_ exploration: Int64, index: Int, property: String, detail: String, faults: Int, shrunkFaults: Int?,
                                     shrinkRuns: Int?, reproducer: String?, replay: String?) throws {
        try db.prepare("""
            INSERT INTO explore_failures (exploration_id, run_index, property, detail, faults, shrunk_faults, shrink_runs, reproducer, replay)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run([.int(exploration), .int(Int64(index)), .text(property), .text(detail), .int(Int64(faults)),
                      shrunkFaults.map { .int(Int64($0)) } ?? .null, shrinkRuns.map { .int(Int64($0)) } ?? .null,
                      reproducer.map { .text($0) } ?? .null, replay.map { .text($0) } ?? .null])
    }
}
