import Testing
import SimCore
import Analysis
@testable import Experiments

/// Per-year noise rates from runs, and objectives that weigh them against RTO.
@Suite struct NoiseRatesTests {
    func run(seed: UInt64, episode: Bool, ff: Int, weight: Double = 1, quiet: Nanos = 3 * Time.m, rto: Nanos? = nil) -> RunSummary {
        var s = RunSummary(seed: seed, faults: rto.map { [.init(index: 0, rtoNs: $0)] } ?? [], lostWrites: 0, lostBytes: 0, splitBrainNs: 0,
                           failedExpectations: 0, traceHash: "")
        s.noise = RunSummary.Noise(episode: episode, events: 1, eventsPerYear: 1000, quietNs: quiet, falseFailovers: ff, demotions: ff,
                                   leaderLockFailures: 0, etcdElections: 0, downtimeNs: Nanos(ff) * 20 * Time.s, lostWrites: 0)
        s.noise?.weight = weight
        return s
    }

    @Test func episodesAreTheNoiseRateTimesTheWeightedMeanOutcome() throws {
        // 100 episodes, 10 of them a false failover at weight 0.5: 1000/y × 10 × 0.5 / 100 = 50/y.
        let runs = (0..<100).map { run(seed: UInt64($0), episode: true, ff: $0 < 10 ? 1 : 0, weight: $0 < 10 ? 0.5 : 1) }
        let r = try #require(NoiseRates(runs))
        #expect(r.episodes && r.runs == 100)
        #expect(abs(r.falseFailovers.rate - 50) < 1e-9)
        #expect(r.falseFailovers.lo < 50 && r.falseFailovers.hi > 50 && r.falseFailovers.lo > 0)
        // 20 s of downtime per false failover: 1000 s a year.
        #expect(abs(r.downtime.rate - 1000) < 1e-6)
        #expect(abs(r.availability - (1 - 1000 / (365 * 86400.0))) < 1e-12)
        // None seen: 0, with the rule of three's bound (3/n events per episode).
        let none = try #require(NoiseRates((0..<100).map { run(seed: UInt64($0), episode: true, ff: 0) }))
        #expect(none.falseFailovers.rate == 0 && abs(none.falseFailovers.hi - 30) < 1e-9)
    }

    @Test func directRunsCountOverTheirQuietTime() throws {
        // 4 runs of a quarter year each with 5 false failovers in all: 5 a year, Poisson bounds.
        let q = Nanos(365 * 86400) * Time.s / 4
        let r = try #require(NoiseRates((0..<4).map { run(seed: UInt64($0), episode: false, ff: $0 == 0 ? 5 : 0, quiet: q) }))
        #expect(!r.episodes)
        #expect(abs(r.falseFailovers.rate - 5) < 1e-9)
        // Garwood's exact interval for 5 events is 1.62–11.67.
        #expect(abs(r.falseFailovers.lo - 1.62) < 0.05 && abs(r.falseFailovers.hi - 11.67) < 0.15, "\(r.falseFailovers)")
        #expect(NoiseRates([RunSummary(seed: 1, faults: [], lostWrites: 0, lostBytes: 0, splitBrainNs: 0, failedExpectations: 0, traceHash: "")]) == nil)
    }

    @Test func anObjectiveWeighsRTOAgainstFalseFailovers() throws {
        let obj = try Objective.parse("min rto.p95 where noise.false_failovers_per_year < 1")
        // ttl 20 recovers fastest but fails over falsely 5 times a year; ttl 30 is the pick.
        let fast = SettingStats(point: "{\"patroni.ttl\":\"20\"}", runs: (0..<50).map { run(seed: UInt64($0), episode: true, ff: $0 < 25 ? 1 : 0, weight: 0.01, rto: 20 * Time.s) })
        let mid = SettingStats(point: "{\"patroni.ttl\":\"30\"}", runs: (0..<50).map { run(seed: UInt64($0), episode: true, ff: 0, rto: 30 * Time.s) })
        #expect(abs((fast.metric("noise.false_failovers_per_year") ?? 0) - 5) < 1e-9)
        #expect(obj.best([fast, mid])?.point == mid.point)
        #expect(try Objective.parse("max noise.availability").best([fast, mid])?.point == mid.point)
        #expect(throws: Objective.ParseError.self) { try Objective.parse("min rto.p95 where noise.false_failover < 1") }
    }
}
