import Testing
import Foundation
import SimCore
import Recording
import Scenario
import Analysis
import Store
import Cluster
@testable import Experiments

/// A small, fast scenario: a primary crash on seed 004's layout.
let sweepScenario = """
    name: sweep-test
    duration: 90s
    topology: etcd-separate
    workload: { clients: 2, rate: 10/s }
    faults: [ { at: 20s, jitter: 10s, crash: primary } ]
    expect: { rto: { max: 60s } }
    """

func plan(_ sets: [String], seeds: Int) throws -> SweepPlan {
    let g = try Grid.parse(sets)
    switch SweepPlan.make(text: sweepScenario, path: "sweep-test.yml", grid: g, seeds: seeds, firstSeed: 1) {
    case .success(let p): return p
    case .failure(let e): throw e
    }
}

func tempStore(_ tag: String) throws -> (Store, String) {
    let path = NSTemporaryDirectory() + "simctl-\(tag)-\(getpid())-\(UInt64.random(in: 0..<UInt64.max)).sqlite"
    return (try Store(path: path), path)
}

func cleanup(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

@Suite("Sweeps: common random numbers, shards, merge, resume")
struct SweepTests {
    @Test("common random numbers: seed k draws the same fault time and workload in every setting; another seed differs")
    func commonRandomNumbers() throws {
        let p = try plan(["patroni.ttl=20,30,45", "patroni.maximum_lag_on_failover=0,16MB"], seeds: 2)
        var faultTimes: [UInt64: Set<Nanos>] = [:]
        var preFaultWrites: [UInt64: Set<[Nanos]>] = [:]
        for (i, s0) in p.scenarios.enumerated() {
            for seed: UInt64 in [1, 2] {
                var s = s0
                s.seed = seed
                let sim = Simulation(scenario: s)
                sim.keepEveryWrite = true
                let run = sim.run()
                let t0 = run.faults[0].startNs
                faultTimes[seed, default: []].insert(t0)
                // Until the crash, the clients' arrival times come from their own streams only.
                preFaultWrites[seed, default: []].insert(run.keptWrites.filter { $0.sentNs < t0 }.map(\.sentNs))
                _ = i
            }
        }
        #expect(faultTimes[1]?.count == 1)
        #expect(faultTimes[2]?.count == 1)
        #expect(faultTimes[1] != faultTimes[2])
        #expect(preFaultWrites[1]?.count == 1)
        #expect(preFaultWrites[2]?.count == 1)
        #expect(preFaultWrites[1] != preFaultWrites[2])
    }

    @Test("shards are disjoint and together complete")
    func shards() throws {
        let p = try plan(["patroni.ttl=20,30,45", "patroni.loop_wait=5,10"], seeds: 7)
        let all = Set(p.jobs().map(\.index))
        #expect(all.count == p.runCount)
        for n in [1, 2, 3, 5, 42] {
            var seen: [Int] = []
            for i in 1...n { seen += p.jobs(shard: (i, n)).map(\.index) }
            #expect(seen.count == p.runCount, "n=\(n)")
            #expect(Set(seen) == all, "n=\(n)")
        }
        // The same (setting, seed) is the same job whatever the shard count.
        let j = p.jobs().first { $0.index == 17 }!
        #expect(p.jobs(shard: (17 % 4 + 1, 4)).contains { $0.index == 17 && $0.seed == j.seed && $0.scenario == j.scenario })
    }

    @Test("a sweep run in three shards and merged gives the same table as one machine's run; merging again adds nothing")
    func mergeEqualsSingle() throws {
        let p = try plan(["patroni.ttl=20,30"], seeds: 6)
        let (single, singlePath) = try tempStore("single")
        defer { cleanup(singlePath) }
        let row = try Sweeper.run(p, store: single, resume: false, shard: nil, workers: 2, simctlVersion: "t", timestamp: { "t" })
        let expected = try Sweeper.table(store: single, sweep: row.id, order: p.points.indices.map(p.pointJSON))
        #expect(expected.map(\.runs) == [6, 6])

        var shardPaths: [String] = []
        defer { shardPaths.forEach(cleanup) }
        for i in 1...3 {
            let (s, path) = try tempStore("shard\(i)")
            shardPaths.append(path)
            try Sweeper.run(p, store: s, resume: false, shard: (i, 3), workers: 1, simctlVersion: "t", timestamp: { "t" })
            #expect(try s.runCount() == 4)
        }
        let (merged, mergedPath) = try tempStore("merged")
        defer { cleanup(mergedPath) }
        for path in shardPaths { try merged.merge(from: path) }
        #expect(try merged.runCount() == 12)
        #expect(try merged.allSweeps().count == 1)
        let sweep = try #require(try merged.sweep(key: p.key))
        let got = try Sweeper.table(store: merged, sweep: sweep.id, order: p.points.indices.map(p.pointJSON))
        #expect(got == expected)
        // Idempotent.
        let again = try merged.merge(from: shardPaths[0])
        #expect(again.runs == 0 && again.skipped == 4)
        #expect(try merged.runCount() == 12)
        // Every child row came along.
        #expect(try merged.db.scalarInt("SELECT count(*) FROM timeline") == single.db.scalarInt("SELECT count(*) FROM timeline"))
        #expect(try merged.db.scalarInt("SELECT count(*) FROM findings") == single.db.scalarInt("SELECT count(*) FROM findings"))
    }

    @Test("an interrupted sweep keeps its finished runs, refuses a blind restart, and --resume completes it")
    func resume() throws {
        let p = try plan(["patroni.ttl=20,30"], seeds: 4)
        let (store, path) = try tempStore("resume")
        defer { cleanup(path) }
        let first = try Sweeper.run(p, store: store, resume: false, shard: nil, workers: 2, simctlVersion: "t", maxRuns: 3, timestamp: { "t" })
        #expect(try store.runCount() == 3)
        #expect(try store.sweep(id: first.id)?.finished == nil)
        #expect(throws: Sweeper.AlreadyStored.self) {
            try Sweeper.run(p, store: store, resume: false, shard: nil, workers: 2, simctlVersion: "t", timestamp: { "t" })
        }
        var ran = 0
        let second = try Sweeper.run(p, store: store, resume: true, shard: nil, workers: 2, simctlVersion: "t", timestamp: { "done" }, progress: { d, _ in ran = d })
        #expect(second.id == first.id)
        #expect(ran == 5)
        #expect(try store.runCount() == 8)
        #expect(try store.sweep(id: first.id)?.finished == "done")
        // Nothing left: a further resume runs nothing.
        ran = -1
        try Sweeper.run(p, store: store, resume: true, shard: nil, workers: 2, simctlVersion: "t", timestamp: { "t" }, progress: { d, _ in ran = max(ran, d) })
        #expect(ran == 0)
        // The result equals an uninterrupted sweep's.
        let (fresh, freshPath) = try tempStore("fresh")
        defer { cleanup(freshPath) }
        let row = try Sweeper.run(p, store: fresh, resume: false, shard: nil, workers: 1, simctlVersion: "t", timestamp: { "t" })
        let order = p.points.indices.map(p.pointJSON)
        #expect(try Sweeper.table(store: store, sweep: first.id, order: order) == Sweeper.table(store: fresh, sweep: row.id, order: order))
    }

    @Test("RTO grows with ttl, as Patroni's rules say it must")
    func rtoGrowsWithTTL() throws {
        let p = try plan(["patroni.ttl=20,30,45"], seeds: 8)
        let (store, path) = try tempStore("ttl")
        defer { cleanup(path) }
        let row = try Sweeper.run(p, store: store, resume: false, shard: nil, workers: 2, simctlVersion: "t", timestamp: { "t" })
        let t = try Sweeper.table(store: store, sweep: row.id, order: p.points.indices.map(p.pointJSON))
        let p50 = t.compactMap(\.p50)
        #expect(p50.count == 3)
        #expect(p50[0] < p50[1] && p50[1] < p50[2], "\(p50)")
        // The key lives at most ttl after the crash; then the race (2 s), the promotion and
        // HAProxy's rise (up to 6 s) and the clients' reconnect.
        #expect((t[0].max ?? 99) < 20 + 13)
        #expect((t[2].max ?? 0) > 40)
    }
}
