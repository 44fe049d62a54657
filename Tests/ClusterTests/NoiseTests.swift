import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis
import Experiments

/// Background noise (`noise:`): each kind arrives at its rate and does what it says, a pause or
/// a slow link turns into a false failover exactly when Patroni's rules say it must, and the
/// episode method agrees with direct long runs.
@Suite struct NoiseTests {
    static let cluster = """
        seed: 1
        topology: etcd-separate
        patroni: { ttl: 30, loop_wait: 10, retry_timeout: 10, use_pg_rewind: true }
        workload: { clients: 2, rate: 2/s }
        """

    @Test func everyKindArrivesAtItsRate() throws {
        let o = try simulate("""
            name: noise-rates
            duration: 4h
            \(Self.cluster)
            noise:
              sources:
                - { kind: pause, on: patroni, rate: 20/h, duration: 200ms }
                - { kind: disk_stall, on: etcd, rate: 20/h, duration: 300ms }
                - { kind: slow_fsync, on: etcd, rate: 20/h, duration: 2s, fsync: 20ms }
                - { kind: latency_spike, between: [db, etcd], rate: 5/h, duration: 1s, latency: 5ms }
                - { kind: jitter_burst, between: [db, db], rate: 20/h, duration: 1s, jitter: 5ms }
                - { kind: loss_burst, between: [proxy, db], rate: 20/h, duration: 1s, loss: 0.1 }
                - { kind: slow_queries, rate: 20/h, duration: 5s, delay: 500ms }
            """)
        let n = try #require(o.findings.noise)
        #expect(n.byName.count == 7)
        for (i, src) in o.scenario.noise.sources.enumerated() {
            let expected = src.totalRatePerSecond * 4 * 3600
            let got = Double(n.byName[i].count)
            // Poisson: within four standard deviations.
            #expect(abs(got - expected) <= 4 * expected.squareRoot(), "\(src.name): \(got) events, expected \(expected)")
        }
        // Each kind's effect is visible where it lands: frozen Patroni processes, and the
        // records name what each event hit.
        #expect(!o.entries("process_paused").isEmpty)
        #expect(o.run.noise.filter { $0.kind == "pause" }.allSatisfy { $0.target.hasSuffix("/patroni") })
        #expect(o.run.noise.filter { $0.kind == "loss_burst" }.allSatisfy { $0.target.contains("haproxy1<->db") })
        #expect(o.run.noise.filter { $0.kind == "slow_queries" }.allSatisfy { $0.target.hasSuffix("/postgres") })
        // Short, small disturbances cost nothing here.
        #expect(n.total.falseFailovers.isEmpty)
        #expect(o.findings.violations.isEmpty)
    }

    /// One episode whose event is exactly `source` (the background is a rate no run sees).
    static func episode(_ source: String, seed: UInt64 = 1) throws -> Outcome {
        try simulate("""
            name: noise-episode
            duration: 4m
            \(cluster)
            noise:
              method: episodes
              sources:
                - \(source)
            """, seed: seed)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func patroniPauseLongerThanTheLeaseFailsOver(seed: UInt64) throws {
        // A frozen Patroni refreshes nothing: past ttl the key expires and a replica promotes
        // (the primary's PostgreSQL keeps accepting writes meanwhile: no watchdog here).
        let long = try Self.episode("{ kind: pause, on: primary/patroni, rate: 1/y, duration: 45s }", seed: seed)
        let n = try #require(long.findings.noise?.tagged)
        #expect(n.outcome.falseFailovers.count == 1)
        #expect(long.newPrimaries.count == 2)
        // Shorter than ttl − loop_wait: the next cycle refreshes the key in time.
        let short = try Self.episode("{ kind: pause, on: primary/patroni, rate: 1/y, duration: 8s }", seed: seed)
        #expect(short.findings.noise?.tagged?.outcome.falseFailovers.isEmpty == true)
        #expect(short.newPrimaries.count == 1)
    }

    @Test func slowEtcdLinksPastRetryTimeoutDemoteThePrimary() throws {
        // Every request from the primary to etcd takes 12 s: its leader refresh cannot finish
        // within retry_timeout (10 s), so Patroni demotes ("DCS is not accessible").
        let slow = try Self.episode("{ kind: latency_spike, between: [primary, etcd], pick: all, rate: 1/y, duration: 40s, latency: 6s }")
        let o = try #require(slow.findings.noise?.tagged?.outcome)
        #expect(o.demotions >= 1)
        let why = slow.entries(Kind.demote).compactMap { $0.detail["why"]?.stringValue }
        #expect(why.contains { $0.contains("DCS is not accessible") || $0.contains("failed to update leader lock") }, "\(why)")
        // A 20 ms spike is far inside every timeout.
        let mild = try Self.episode("{ kind: latency_spike, between: [primary, etcd], pick: all, rate: 1/y, duration: 40s, latency: 20ms }")
        #expect(mild.findings.noise?.tagged?.outcome == NoiseFindings.Outcome())
    }

    @Test func queriesPastPatronisStatementTimeoutFailTheCycleButKeepTheKey() throws {
        // Patroni's own connection runs with statement_timeout=2000: a 3 s answer is cancelled
        // and the cycle ends "Error communicating with PostgreSQL. Will try again later" without
        // updating the lock. On etcd3 the key still lives: touch_member refreshes the lease the
        // leader key is attached to (etcd3.py `touch_member` → `refresh_lease`).
        let slow = try Self.episode("{ kind: slow_queries, rate: 1/y, duration: 60s, delay: 3s }")
        let failing = slow.entries(Kind.patroni, host: "db1").filter { $0.detail["msg"]?.stringValue == "Error communicating with PostgreSQL. Will try again later" }
        #expect(!failing.isEmpty)
        #expect(slow.findings.noise?.tagged?.outcome.falseFailovers.isEmpty == true)
        #expect(slow.newPrimaries.count == 1)
        // A 1 s answer only stretches the cycle.
        let mild = try Self.episode("{ kind: slow_queries, rate: 1/y, duration: 60s, delay: 1s }")
        #expect(!mild.entries(Kind.patroni, host: "db1").contains { $0.detail["msg"]?.stringValue?.hasPrefix("Error communicating") == true })
    }

    @Test func episodesAgreeWithADirectLongRun() throws {
        // A high-rate setting both methods can afford: frozen Patroni processes, 20 an hour on
        // each DB host, lasting 15 s typically and up to a minute. Overlaps are common, so the
        // episodes' attribution (an outcome belongs to the latest noise event) is exercised.
        let sources = """
                - { kind: pause, on: patroni, rate: 20/h, duration: { median: 15s, p99: 60s } }
            """
        let direct = try simulate("""
            name: noise-direct
            duration: 12h
            \(Self.cluster)
            noise:
              sources:
            \(sources)
            """)
        let d = try #require(direct.findings.noise)
        let k = d.total.falseFailovers.count
        #expect(k >= 20, "the direct run should see false failovers (\(k))")
        let years = Double(d.quietNs) / (365 * 86400e9)
        let directRate = Double(k) / years
        let directSE = Double(k).squareRoot() / years
        var summaries: [RunSummary] = []
        for seed in 1...120 as ClosedRange<UInt64> {
            let e = try simulate("""
                name: noise-episodes
                duration: 3m
                \(Self.cluster)
                noise:
                  method: episodes
                  sources:
                \(sources)
                """, seed: seed)
            summaries.append(RunSummary(e.run, e.findings))
        }
        let rates = try #require(NoiseRates(summaries))
        #expect(rates.episodes)
        let epSE = (rates.falseFailovers.hi - rates.falseFailovers.lo) / (2 * 1.96)
        let z = abs(rates.falseFailovers.rate - directRate) / (directSE * directSE + epSE * epSE).squareRoot()
        #expect(z < 3, "episodes \(rates.falseFailovers.rate)/y ± \(epSE), direct \(directRate)/y ± \(directSE)")
    }

    @Test func noiseDoesNotMoveAScenarioWithoutIt() throws {
        // No `noise:`: no noise stream is drawn and nothing is recorded.
        let o = try simulate("""
            name: quiet
            duration: 2m
            \(Self.cluster)
            """)
        #expect(o.findings.noise == nil)
        #expect(o.run.noise.isEmpty)
    }
}
