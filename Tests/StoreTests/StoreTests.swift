import Testing
import Foundation
import SimCore
import Recording
import Scenario
import Cluster
import Analysis
@testable import Store

func tempPath(_ tag: String) -> String {
    NSTemporaryDirectory() + "simctl-store-\(tag)-\(getpid())-\(UInt64.random(in: 0..<UInt64.max)).sqlite"
}

func removeStore(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

/// A short real run to store.
func smallRun() throws -> (RunRecord, Findings) {
    let yaml = """
        name: store-test
        duration: 60s
        topology: etcd-separate
        workload: { clients: 1, rate: 5/s }
        faults: [ { at: 20s, crash: primary } ]
        expect: { split_brain: none }
        """
    guard case .success(let s) = ScenarioLoader.load(text: yaml, file: "t.yml") else { throw CancellationError() }
    let r = Simulation(scenario: s).run()
    return (r, Analyzer.analyze(r, scenario: s))
}

@Suite("The SQLite store")
struct StoreTests {
    let meta = RunMeta(scenarioFile: "t.yml", scenarioSHA256: "abc", overrides: [("patroni.ttl", "20")], simctlVersion: "t")

    @Test("a run is written in one transaction: a failure midway leaves no rows in any table")
    func oneTransaction() throws {
        let path = tempPath("tx")
        defer { removeStore(path) }
        let store = try Store(path: path)
        let (run, f) = try smallRun()
        #expect(throws: Database.Error.self) { try store.save(run, f, meta: meta, failMidway: true) }
        for table in ["runs", "faults", "timeline", "findings", "metrics"] {
            #expect(try store.db.scalarInt("SELECT count(*) FROM \(table)") == 0, "\(table) has rows")
        }
        let id = try store.save(run, f, meta: meta)
        #expect(try store.runCount() == 1)
        #expect(try store.db.scalarInt("SELECT count(*) FROM faults WHERE run_id = ?", [.int(id)]) == 1)
        #expect(try store.db.scalarInt("SELECT count(*) FROM timeline WHERE run_id = ?", [.int(id)]) ?? 0 > 5)
        #expect(try store.db.scalarInt("SELECT count(*) FROM findings WHERE run_id = ? AND kind = 'rto'", [.int(id)]) == 1)
    }

    @Test("the runs row carries the summary columns users query")
    func summaryColumns() throws {
        let path = tempPath("cols")
        defer { removeStore(path) }
        let store = try Store(path: path)
        let (run, f) = try smallRun()
        let id = try store.save(run, f, meta: meta)
        let row = try store.db.rows("SELECT seed, overrides, trace_hash, rto_s, recovered, lost_writes, split_brain_s, failed_expectations, ok FROM runs WHERE run_id = ?", [.int(id)])[0]
        #expect(row[0] == "1")
        #expect(row[1] == "{\"patroni.ttl\":\"20\"}")
        #expect(row[2] == run.traceHash)
        let rto = try #require(f.rto.first?.rtoNs)
        #expect(abs(Double(row[3]!)! - Time.seconds(rto)) < 1e-6)
        #expect(row[4] == "1")
        #expect(row[8] == "1")
        // The JSON columns work with SQLite's JSON functions.
        #expect(try store.db.rows("SELECT json_extract(overrides, '$.\"patroni.ttl\"') FROM runs")[0][0] == "20")
    }

    @Test("schema migrations run once, and a store from a newer simctl is refused")
    func migrations() throws {
        let path = tempPath("mig")
        defer { removeStore(path) }
        _ = try Store(path: path)
        let again = try Store(path: path)
        #expect(try again.db.scalarInt("PRAGMA user_version") == Int64(Store.schemaVersion))
        try again.db.exec("PRAGMA user_version = 99")
        #expect(throws: Database.Error.self) { _ = try Store(path: path) }
    }
}
