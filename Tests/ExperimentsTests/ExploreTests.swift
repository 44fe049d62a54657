import Testing
import SimCore
import Scenario
import Cluster
import Analysis
@testable import Experiments

/// `simctl explore`: schedules from a seed over every fault kind, the properties, and
/// shrinking that finds a planted bug's minimal reproducer the same way every time.
@Suite struct ExploreTests {
    /// The planted bug: no watchdog, and an application writing straight to db1 (not through
    /// HAProxy) — so whenever db1 keeps running while another member is promoted, both take
    /// writes. The expectation says there must be no split brain.
    static let planted = """
        name: planted
        description: a primary written to directly, without a watchdog
        seed: 7
        duration: 5m
        topology: etcd-colocated
        patroni: { ttl: 30, loop_wait: 10, retry_timeout: 10, watchdog: { mode: off } }
        workload: { clients: 1, rate: 10/s, direct: [{ host: db1, clients: 1 }] }
        faults:
          - { at: 60s, crash: db2 }
        expect:
          split_brain: none
        """

    static func target(_ text: String = planted, keep: Bool = false) throws -> ExploreTarget {
        try ExploreTarget.make(file: "planted.yml", text: text, keepFaults: keep).get()
    }

    @Test func theTargetKeepsTheClusterAndDropsItsFaults() throws {
        let t = try Self.target()
        let s = Schedule(faults: [GeneratedFault(at: 40, action: "pause: db1/patroni", forSeconds: 50, kind: "pause")], seed: 3)
        let text = Explorer.text(t, s, name: "x", description: "d")
        #expect(!text.contains("crash: db2") && text.contains("  - { at: 40s, pause: db1/patroni, for: 50s }"))
        #expect(text.contains("  - { at: 95s, heal: all }") && text.contains("split_brain: none") && text.contains("seed: 3"))
        // The bound: 2 × (ttl + loop_wait + retry_timeout) + HAProxy's (fall + rise) × inter + 60 s.
        let bound: Int = 2 * 50 + 5 * 2 + 60
        #expect(text.contains("duration: \(95 + bound)s"))
        let sc = try ScenarioLoader.load(text: text, file: "x.yml").get()
        #expect(sc.faults.count == 2 && sc.seed == 3)
        // Kept as a prefix, the scenario's own fault comes first and the schedule after it.
        let kept = try Self.target(keep: true)
        #expect(Explorer.text(kept, s, name: "x", description: "d").contains("  - { at: 60s, crash: db2 }\n  - { at: 40s"))
        #expect(Explorer.schedule(kept, seed: 1, index: 0).faults.allSatisfy { $0.at >= 80 })
        // A flow-style document is refused with a position.
        #expect(throws: ScenarioErrors.self) { try ExploreTarget.make(file: "f.yml", text: "{name: f, duration: 1m}", keepFaults: false).get() }
    }

    @Test func fewerNodesRewritesTheTopologyLine() {
        #expect(TopLevelText.withDBNodes("a: 1\ntopology: etcd-colocated\nb: 2", 2) == "a: 1\ntopology: { preset: etcd-colocated, db_nodes: 2 }\nb: 2")
        #expect(TopLevelText.withDBNodes("topology: { preset: etcd-separate, db_nodes: 3, front: haproxy }", 2)
                == "topology: { preset: etcd-separate, front: haproxy, db_nodes: 2 }")
        #expect(TopLevelText.withDBNodes("topology:\n  hosts: []", 2) == nil)
    }

    @Test func theGeneratorCoversEveryFaultKind() throws {
        let t = try Self.target()
        var counts: [String: Int] = [:]
        for i in 0..<3000 {
            for k in Explorer.schedule(t, seed: 11, index: i).kinds { counts[k, default: 0] += 1 }
        }
        for k in FaultGenerator.kinds { #expect((counts[k] ?? 0) >= 50, "\(k): \(counts[k] ?? 0)") }
        // Every schedule loads, and the same seed draws the same one.
        for i in 0..<200 { #expect(Explorer.scenario(t, Explorer.schedule(t, seed: 11, index: i)) != nil, "schedule \(i)") }
        #expect(Explorer.schedule(t, seed: 11, index: 5) == Explorer.schedule(t, seed: 11, index: 5))
        #expect(Explorer.schedule(t, seed: 11, index: 5) != Explorer.schedule(t, seed: 12, index: 5))
    }

    @Test func aPlantedSplitBrainIsFoundAndShrunkToAReproducerThatReplaysIt() throws {
        let t = try Self.target()
        let report = try Explorer.run([t], seed: 4, runs: 16, workers: 2, checkExpect: true, shrinkBudget: 60)
        #expect(report.runs == 16)
        let f = try #require(report.failures.first { $0.property == "expect.split_brain.none" }, "\(report.byProperty)")
        let shrunk = try #require(f.shrunk)
        #expect(shrunk.faults.count <= 2 && shrunk.faults.count <= f.schedule.faults.count, "\(shrunk.faults.map(\.yaml))")
        // The reproducer is an ordinary scenario file that fails the same way.
        let text = Explorer.reproducer(t, f, path: "Reports/explore/x.yml", checkExpect: true)
        #expect(text.contains("expect.split_brain.none fails") && text.contains("simctl run Reports/explore/x.yml --seed \(shrunk.seed)"))
        let sc = try ScenarioLoader.load(text: text, file: "x.yml").get()
        let run = Simulation(scenario: sc).run()
        let findings = Analyzer.analyze(run, scenario: sc)
        #expect(findings.expectations.contains { $0.name == "split_brain.none" && !$0.ok })
        // Shrinking is a function of its input.
        let again = Explorer.shrink(t, f.schedule, property: f.property, checkExpect: true, budget: 60)
        #expect(again.schedule == shrunk && again.runs == f.shrinkRuns)
    }

    @Test func livenessNamesWhatDidNotConverge() throws {
        // A PostgreSQL stopped for good: the heal does not start it, and Patroni on db3 was
        // stopped too, so nothing does.
        let t = try Self.target(Self.planted.replacingOccurrences(of: "split_brain: none", with: "invariants: hold"))
        let s = Schedule(faults: [GeneratedFault(at: 30, action: "stop: db3/patroni", kind: "stop"),
                                  GeneratedFault(at: 31, action: "stop: db3/postgres", kind: "stop")], seed: 5)
        let fails = try #require(Explorer.check(t, s, checkExpect: true))
        let live = try #require(fails.first { $0.property == "liveness.replicas_rejoined" })
        #expect(live.detail.contains("db3's PostgreSQL is not running"), "\(live.detail)")
        // A pause that ends converges.
        let ok = Schedule(faults: [GeneratedFault(at: 30, action: "pause: db1/patroni", forSeconds: 20, kind: "pause")], seed: 5)
        #expect(Explorer.check(t, ok, checkExpect: false)?.filter { $0.property.hasPrefix("liveness") }.isEmpty == true)
    }
}
