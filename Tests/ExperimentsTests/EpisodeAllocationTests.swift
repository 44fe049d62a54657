import Testing
import SimCore
import Analysis
import Store
@testable import Experiments

/// Episodes stratified by source: the estimate, the pilot's Neyman allocation, and a sweep
/// that allocates from its stored pilot the same way when resumed.
@Suite struct EpisodeAllocationTests {
    func episode(source: Int, perYear: Double, ff: Int = 0, downtime: Double = 0, weight: Double = 1) -> RunSummary.Noise {
        var n = RunSummary.Noise(episode: true, events: 1, eventsPerYear: 1200, quietNs: Time.m, falseFailovers: ff, demotions: 0,
                                 leaderLockFailures: 0, etcdElections: 0, downtimeNs: Time.fromSeconds(downtime), lostWrites: 0)
        n.source = source
        n.sourcePerYear = perYear
        n.weight = weight
        return n
    }
    func rates(_ ns: [RunSummary.Noise]) -> NoiseRates? {
        NoiseRates(ns.enumerated().map { i, n in
            var s = RunSummary(seed: UInt64(i), faults: [], lostWrites: 0, lostBytes: 0, splitBrainNs: 0, failedExpectations: 0, traceHash: "")
            s.noise = n
            return s
        })
    }

    @Test func theRateIsTheSumOverSourcesOfRateTimesMeanOutcome() throws {
        // Source 0: 200/y, 1 false failover in 4 episodes (weight 2 → mean 0.5): 100/y.
        // Source 1: 1000/y, none in 10. Together 100/y.
        let ns = (0..<4).map { episode(source: 0, perYear: 200, ff: $0 == 0 ? 1 : 0, weight: $0 == 0 ? 2 : 1) }
            + (0..<10).map { _ in episode(source: 1, perYear: 1000) }
        let r = try #require(rates(ns))
        #expect(abs(r.falseFailovers.rate - 100) < 1e-9)
        // Variance 200² × var(2,0,0,0)/4 = 40000 × 1 / 4 → half-width 1.96 × 100.
        #expect(abs(r.falseFailovers.hi - (100 + 196)) < 1e-6 && r.falseFailovers.lo == 0)
        // Nothing seen: 3 × the largest rate per episode run (1000 / 10 × 3), not the sum.
        let none = try #require(rates(ns.map { var n = $0; n.falseFailovers = 0; return n }))
        #expect(none.falseFailovers.rate == 0 && abs(none.falseFailovers.hi - 300) < 1e-9)
        // A source no episode came from is counted at the pooled mean: Λ 1200 covers 200 + 1000,
        // so with 1000 + 400 configured, 200 more at the mean over all 14 episodes.
        let gap = try #require(rates(ns.map { var n = $0; n.eventsPerYear = 1400; return n }))
        #expect(abs(gap.falseFailovers.rate - (100 + 200 * 2.0 / 14)) < 1e-9)
    }

    @Test func neymanSendsEpisodesWhereTheSpreadIs() {
        let sources = [(index: 0, perYear: 1.0), (index: 3, perYear: 1.0), (index: 5, perYear: 8.0)]
        // Source 0 fails over in a tenth of its pilot episodes; 3 never does anything; 5 costs
        // a varying downtime.
        let pilot = (0..<40).map { episode(source: 0, perYear: 1, ff: $0 % 10 == 0 ? 1 : 0) }
            + (0..<40).map { _ in episode(source: 3, perYear: 1) }
            + (0..<40).map { episode(source: 5, perYear: 8, downtime: Double($0 % 4)) }
        let n = EpisodePlan.allocate(1000, sources: sources, pilot: pilot, mode: .adaptive)
        #expect(n.reduce(0, +) == 1000)
        // False failovers: all of Neyman's share to source 0; downtime: all to 5; demotions
        // (never seen): the rates' proportions 1:1:8. Averaged, ×0.9, plus a tenth evenly.
        let summed: [Double] = [1.1, 0.1, 1.8]
        let expected = summed.map { (x: Double) -> Double in 0.9 * x / 3 + 0.1 / 3 }
        for i in 0..<3 { #expect(abs(Double(n[i]) - 1000 * expected[i]) <= 1, "\(n)") }
        #expect(EpisodePlan.allocate(10, sources: sources, pilot: pilot, mode: .uniform) == [4, 3, 3])
        #expect(EpisodePlan.pilotSeeds(seeds: 2000, sources: 8) == 500 && EpisodePlan.pilotSeeds(seeds: 50, sources: 8) == 50)
    }

    @Test func theAllocatedEpisodesAreInterleaved() {
        let seq = EpisodePlan.sequence([6, 2, 0, 2])
        #expect(seq.count == 10 && [0, 1, 3].map { i in seq.filter { $0 == i }.count } == [6, 2, 2] && !seq.contains(2))
        // Every prefix stays within one episode of its share.
        for k in 1...10 {
            for (i, c) in [6, 2, 0, 2].enumerated() {
                #expect(abs(Double(seq.prefix(k).filter { $0 == i }.count) - Double(c * k) / 10) < 1 + 1e-9)
            }
        }
    }

    static let noisy = """
        name: episodes-test
        duration: 90s
        topology: etcd-colocated
        workload: { clients: 1, rate: 2/s }
        noise:
          method: episodes
          episode: { at: 20s }
          sources:
            - { name: patroni stall, kind: pause, on: primary/patroni, rate: 10/d, duration: { min: 1s, max: 40s } }
            - { name: blip, kind: latency_spike, between: [db, db], rate: 1/d, duration: 200ms, latency: 20ms }
        """

    @Test func aSweepAllocatesFromItsStoredPilotAndResumesTheSame() throws {
        let g = try Grid.parse(["patroni.ttl=20"])
        guard case .success(let p) = SweepPlan.make(text: Self.noisy, path: "episodes-test.yml", grid: g, seeds: 32, firstSeed: 1) else {
            Issue.record("the plan did not load"); return
        }
        #expect(p.episodic && p.pilotSeeds == 20)
        // The pilot goes round the sources.
        #expect(p.jobs().map { $0.episodeSource ?? -1 } == (0..<20).map { $0 % 2 })
        let (store, path) = try tempStore("episodes")
        defer { cleanup(path) }
        let first = try Sweeper.run(p, store: store, resume: false, shard: nil, workers: 2, simctlVersion: "t", maxRuns: 25, timestamp: { "t" })
        #expect(try store.runCount() == 25)
        try Sweeper.run(p, store: store, resume: true, shard: nil, workers: 2, simctlVersion: "t", timestamp: { "t" })
        #expect(try store.runCount() == 32)
        let runs = try store.storedRuns(sweep: first.id)
        #expect(runs.allSatisfy { $0.summary.noise?.source != nil })
        // After the pilot, the sources are as allocated from the pilot's runs.
        let pilot = runs.filter { $0.summary.seed <= 20 }.compactMap(\.summary.noise)
        let counts = EpisodePlan.allocate(12, sources: p.episodeSources(0), pilot: pilot, mode: .adaptive)
        let rest = runs.filter { $0.summary.seed > 20 }.compactMap(\.summary.noise?.source)
        #expect([0, 1].map { i in rest.filter { $0 == i }.count } == counts)
        // And the whole equals an uninterrupted sweep's.
        let (fresh, freshPath) = try tempStore("episodes-fresh")
        defer { cleanup(freshPath) }
        let row = try Sweeper.run(p, store: fresh, resume: false, shard: nil, workers: 1, simctlVersion: "t", timestamp: { "t" })
        let order = [p.pointJSON(0)]
        #expect(try Sweeper.table(store: store, sweep: first.id, order: order) == Sweeper.table(store: fresh, sweep: row.id, order: order))
        // Each run replays with its source fixed by the stored override.
        let overrides = try store.db.rows("SELECT overrides FROM runs WHERE seed = 30").compactMap { $0.first ?? nil }
        #expect(overrides.count == 1 && overrides.allSatisfy { $0.contains("noise.episode.source") })
    }
}
