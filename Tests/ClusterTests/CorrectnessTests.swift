import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis
import Experiments

/// Regression tests for what random fault schedules exposed (issue 10): each scenario has a
/// fixed seed and asserted findings.
@Suite("Correctness under random fault schedules")
struct CorrectnessTests {
    // MARK: Runs that never ended

    /// A client whose only etcd member is stopped gets an RST for every connect. Each refusal
    /// used to fail every call in flight on that member, each of which tried again and drew
    /// its own refusal: k calls gave k² events per round, and virtual time stopped (t = 77.9 s).
    @Test("a stopped one-member etcd: Patroni backs off, virtual time keeps advancing, the primary demotes (DCS not accessible)")
    func oneMemberEtcdStopped() throws {
        let base = """
            name: t
            duration: 4m
            topology: { preset: etcd-separate, etcd_nodes: 1 }
            workload: { clients: 2, rate: 20/s }
            """
        let quiet = try simulate(base, seed: 3)
        let o = try simulate(base + "\nfaults: [ { at: 60s, stop: etcd1/etcd, for: 60s } ]\n", seed: 3)
        #expect(o.run.aborted == nil)
        // The outage adds client retries, not a storm: well under twice a quiet run's events.
        #expect(Double(o.run.events) < 2 * Double(quiet.run.events), "\(o.run.events) events against \(quiet.run.events) without the fault")
        let demote = try #require(o.first(Kind.demote, host: "db1", after: 60 * Time.s))
        #expect(demote.detail["why"]?.stringValue == "DCS is not accessible and I was a leader")
    }

    /// A removed member used to keep running, forwarding lease renewals to a leader that was
    /// removed too; each retry spawned two more (a 50 ms and a 500 ms retry), doubling.
    @Test("member remove of the primary's running etcd member, then a crash: the member stops itself, no renewal storm")
    func memberRemoveThenCrash() throws {
        let base = """
            name: t
            duration: 4m
            topology: etcd-colocated
            workload: { clients: 2, rate: 20/s }
            """
        let quiet = try simulate(base, seed: 5)
        let o = try simulate(base + """

            faults:
              - { at: 60s, member_remove: db1 }
              - { at: 90s, crash: db2 }
            """, seed: 5)
        #expect(o.run.aborted == nil)
        #expect(Double(o.run.events) < 2 * Double(quiet.run.events))
        let stopped = try #require(o.first("etcd_stopped", host: "db1"))
        #expect(stopped.detail["reason"]?.stringValue == "the member has been permanently removed from the cluster")
        #expect(seconds(stopped.timeNs) > 60 && seconds(stopped.timeNs) < 62.5)
        #expect(o.findings.violations.isEmpty)
    }

    // MARK: etcd membership

    @Test("member add of a member that already exists is refused (Peer URLs already exists); the cluster's history is untouched")
    func memberAddExisting() throws {
        let o = try simulate("""
            name: t
            duration: 3m
            topology: { preset: etcd-separate, etcd_nodes: 1 }
            workload: { clients: 1, rate: 10/s }
            faults: [ { at: 60s, member_add: etcd1 } ]
            """, seed: 2)
        let answer = try #require(o.first("etcdctl"))
        #expect(answer.detail["command"]?.stringValue == "member add etcd1")
        #expect(answer.detail["result"]?.stringValue == "etcdserver: Peer URLs already exists")
        #expect(o.findings.violations.isEmpty)
        #expect(o.entries("process_killed", host: "etcd1").isEmpty)
        #expect(o.findings.rto.allSatisfy { !$0.outage })
    }

    @Test("member remove, then member add of the same member: it stops, then rejoins with an empty data directory and catches up")
    func memberRemoveAndAdd() throws {
        let o = try simulate("""
            name: t
            duration: 3m
            topology: etcd-separate
            workload: { clients: 1, rate: 10/s }
            faults:
              - { at: 60s, member_remove: etcd3 }
              - { at: 90s, member_add: etcd3 }
            """, seed: 4)
        let answers = o.entries("etcdctl").map { $0.detail["result"]?.stringValue ?? "" }
        #expect(answers == ["ok", "ok"])
        #expect(o.first("etcd_stopped", host: "etcd3") != nil)
        #expect(o.first("process_started", host: "etcd3", after: 90 * Time.s) != nil)
        #expect(o.findings.violations.isEmpty)
    }

    // MARK: Findings

    /// A write sent before the fault and acknowledged before it used to count as the recovery
    /// of an outage whose first bad write was sent earlier: RTO −5.55 s.
    @Test("RTO is never negative when a fault lands during another fault's outage (swarm scenario 1/180)")
    func rtoNonNegativeOverlap() throws {
        let o = try simulate("""
            name: swarm-1-180
            duration: 205s
            topology: { preset: etcd-colocated, db_nodes: 4, front: envoy }
            patroni: { ttl: 20, loop_wait: 5, retry_timeout: 10, maximum_lag_on_failover: 1MB, synchronous_mode: quorum, synchronous_mode_strict: true, synchronous_node_count: 2, check_timeline: true }
            etcd: { version: "3.5", heartbeat_interval: 100ms, election_timeout: 3000ms }
            postgresql: { synchronous_commit: local, wal_receiver_timeout: 60s }
            workload: { clients: 4, rate: 10/s }
            faults:
              - { at: 93s, edit_config: { synchronous_mode: false } }
              - { at: 116s, jitter: 1s, restart: etcd_follower }
              - { at: 80s, pause: etcd_follower, for: 52s }
              - { at: 108s, member_remove: db2 }
              - { at: 131s, jitter: 1s, member_add: db2 }
            """, seed: 875266)
        #expect(!o.findings.rto.isEmpty)
        for r in o.findings.rto {
            #expect((r.rtoNs ?? 0) >= 0, "fault \(r.faultIndex) RTO \(seconds(r.rtoNs))")
            for p in r.phases { #expect((p.durationNs ?? 0) >= 0) }
        }
        #expect(RunProperties.check(o.scenario, o.run, o.findings).isEmpty)
    }

    /// Strict synchronous mode, the primary's Patroni frozen: PostgreSQL keeps running, the
    /// sync standby takes over after ttl, and the old primary's commits block. A client that
    /// gives up (query_timeout) cancels its wait, and PostgreSQL acknowledges the commit with a
    /// WARNING ("committed locally, might not have been replicated"): real PostgreSQL behaviour.
    @Test("strict sync mode, frozen primary Patroni: the lost writes are the locally committed ones, counted on the losing side and explained")
    func strictSyncFrozenPatroni() throws {
        let o = try simulate("""
            name: t
            duration: 6m
            topology: etcd-colocated
            patroni: { synchronous_mode: true, synchronous_mode_strict: true }
            haproxy: { inter: 3s, fall: 3, rise: 2 }
            workload: { clients: 4, rate: 200/s }
            faults:
              - { at: 2m, jitter: 10s, pause: db1/patroni, for: 3m }
            """, seed: 1)
        let rpo = try #require(o.findings.rpo)
        #expect(rpo.lostWrites > 0)
        #expect(rpo.lostLocalOnly == rpo.lostWrites)
        #expect(o.findings.splitBrain?.losingAcks == rpo.lostWrites)
        #expect(!o.findings.violations.contains { $0.kind == "sync_commit_lost" })
        #expect(rpo.causes.contains { $0.contains("syncrep.c") && $0.contains("where db2 was promoted to timeline 2") })
        // Every one was a cancelled wait: 4 clients, one per query_timeout (30 s) + 2 s.
        let blocked = seconds(o.fault(0).endNs! - o.fault(0).startNs)
        #expect(rpo.lostWrites <= 4 * (Int(blocked / 32) + 1))
    }

    /// Patroni allows a *failover* (not a switchover) to a node that is not a synchronous
    /// standby (ha.py `get_failover_candidates`); writes the synchronous standby confirmed but
    /// the candidate never received are lost, and the report says why.
    @Test("a manual failover to a lagging asynchronous candidate in sync mode loses writes, explained, without breaking the invariant")
    func failoverToAsyncCandidate() throws {
        let o = try simulate("""
            name: t
            duration: 4m
            topology: etcd-colocated
            patroni: { synchronous_mode: true, maximum_lag_on_failover: 16MB }
            network: { links: [ { from: db1, to: db3, latency: 800ms, both_ways: false } ] }
            workload: { clients: 4, rate: 200/s }
            faults: [ { at: 60s, failover: db3 } ]
            """, seed: 2)
        let req = try #require(o.first("failover"))
        #expect(req.detail["async_candidate"]?.boolValue == true)
        #expect(o.newPrimaries.last == "db3")
        #expect(!o.findings.violations.contains { $0.kind == "sync_commit_lost" })
        if let rpo = o.findings.rpo, rpo.lostWrites > 0 {
            #expect(rpo.causes.contains { $0.contains("an asynchronous candidate") })
        }
    }

    /// The primary and its only synchronous standby both lose their data: the confirmed
    /// commits are gone with every copy, which no Patroni rule can prevent.
    @Test("both copies destroyed (lost disks): the loss is counted against the surviving copy and explained; no invariant fires")
    func bothCopiesDestroyed() throws {
        let o = try simulate("""
            name: t
            duration: 5m
            topology: { preset: etcd-separate, db_nodes: 2 }
            patroni: { synchronous_mode: true, synchronous_mode_strict: true }
            workload: { clients: 2, rate: 20/s }
            faults:
              - { at: 100s, lose_disk: db2/postgres, for: 40s }
              - { at: 103s, lose_disk: primary, for: 40s }
            """, seed: 6)
        #expect(!o.findings.violations.contains { $0.kind == "sync_commit_lost" })
        let rpo = try #require(o.findings.rpo)
        #expect(rpo.lostWrites > 0)
        #expect(rpo.causes.contains { $0.contains("db1 lost its data directory") })
    }

    // MARK: Workload accounting

    @Test("a write rate the clients' closed loop cannot reach is named, with the ceiling")
    func unreachableRate() throws {
        let o = try simulate("""
            name: t
            duration: 40s
            topology: etcd-colocated
            workload: { clients: 4, rate: 5000/s }
            """, seed: 1)
        let note = try #require(o.findings.notes.first)
        #expect(note.contains("5000 writes/s were asked for"))
        #expect(note.contains("raise workload.clients"))
        let w = try #require(o.findings.writes)
        #expect(Double(w.total) < 0.9 * 5000 * 40)
    }

    @Test("10,000 clients at 200 writes/s through a crash: every write is counted once, at most one pending per client")
    func manyClients() throws {
        let o = try simulate("""
            name: t
            duration: 2m
            topology: etcd-colocated
            workload: { clients: 10000, rate: 200/s }
            faults: [ { at: 40s, crash: primary } ]
            """, seed: 1)
        let w = try #require(o.findings.writes)
        #expect(w.ok + w.failed + w.indeterminate == w.total)
        #expect(o.run.keptWrites.filter { $0.outcome == .pending }.count <= 10000)
        #expect(o.findings.notes.isEmpty)
        #expect(RunProperties.check(o.scenario, o.run, o.findings).isEmpty)
    }

    // MARK: Livelock guard

    @Test("a run whose virtual time stops advancing is aborted with a message naming the process and event kind")
    func stallNamed() throws {
        var s = try #require(try? ScenarioLoader.load(text: """
            name: t
            duration: 2m
            topology: etcd-colocated
            workload: { clients: 2, rate: 20/s }
            """, file: "t.yml").get())
        s.seed = 1
        let sim = Simulation(scenario: s)
        // Tighten the guard so that ordinary traffic trips it: 2,000 events within 10 s.
        sim.kernel.stallEvents = 2000
        sim.kernel.stallWindowNs = 10 * Time.s
        let run = sim.run()
        let msg = try #require(run.aborted)
        #expect(msg.contains("virtual time stopped advancing"))
        #expect(msg.contains("looping: "))
        #expect(["db1/", "db2/", "db3/", "haproxy1/", "app1/"].contains { msg.contains($0) })
    }
}

/// A small swarm of random valid scenarios in every test run (the full budget is
/// `simctl self-check swarm --runs 3000`).
@Suite("Swarm")
struct SwarmTests {
    @Test("every generated scenario loads; over 240 scenarios every fault kind appears and every run keeps its properties")
    func swarm() throws {
        var gen = SwarmGenerator(seed: 11)
        gen.durationRange = 90...180
        var kinds: Set<String> = []
        for i in 0..<240 {
            let g = gen.scenario(i)
            kinds.formUnion(g.kinds)
            if case .failure(let e) = ScenarioLoader.load(text: g.yaml, file: "\(g.name).yml") {
                Issue.record("generated scenario \(i) does not load: \(e)")
            }
        }
        #expect(kinds == Set(SwarmGenerator.faultKinds))
        let report = try SwarmRunner.run(seed: 11, count: 240, workers: 2, durationRange: 90...180)
        #expect(report.invalid.isEmpty)
        #expect(report.runs == 240)
        for f in report.failures { Issue.record("\(f.name): \(f.failures.map(\.description).joined(separator: "; "))\n\(f.yaml)") }
    }
}
