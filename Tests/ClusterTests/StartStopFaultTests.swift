import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis
import Settings

/// PostgreSQL that cannot start, and a fast shutdown that hangs.
@Suite("PostgreSQL start failures and hung shutdowns")
struct StartStopFaultTests {
    static let base = """
        name: t
        duration: 5m
        topology: etcd-separate
        workload: { clients: 2, rate: 50/s }
        """

    /// `Ha.post_recover`: a leader whose PostgreSQL failed to start deletes its key ("removed
    /// leader key after trying and failing to start postgres"); its next recoveries start it
    /// as a replica and fail again ("failed to start postgres").
    @Test("a primary whose PostgreSQL fails to start after a crash gives its key up at once, and a replica takes over; it keeps failing as a replica",
          arguments: StartFailure.faultReasons)
    func primaryStartFailure(why: StartFailure) throws {
        let o = try simulate(Self.base + """

            faults:
              - { at: 50s, start_fails: { target: db1, reason: \(why.name) } }
              - { at: 60s, jitter: 10s, kill: db1/postgres }
            """)
        let kill = o.fault(1).startNs
        let failed = try #require(o.first(Kind.pgState, host: "db1", after: kill) { $0.detail["state"]?.stringValue == "start failed" })
        #expect(failed.detail["why"]?.stringValue == why.message)
        let said = o.entries(Kind.patroni, host: "db1").filter { $0.timeNs > kill }.compactMap { $0.detail["msg"]?.stringValue }
        #expect(said.contains("postmaster is not running"))
        #expect(said.contains("removed leader key after trying and failing to start postgres"))
        #expect(said.contains("failed to start postgres"))
        // The key went within a loop of the kill (plus the failing start), not after ttl.
        let released = try #require(o.keyChanges.first { $0.t > kill && $0.holder == nil })
        #expect(released.cause == "released")
        #expect(released.t - kill <= 11 * Time.s + (why == .missingWal ? 3 * Time.s : 0), "\(seconds(released.t - kill)) s")
        #expect(o.newPrimaries.count == 2 && o.newPrimaries.last != "db1")
        // It is still down at the end.
        #expect(o.run.finalPg.first { $0.host == "db1" }.map { !$0.running } ?? false)
    }

    /// `_is_healthiest_node` polls GET /patroni: db1's Patroni answers, without WAL positions.
    @Test("the RTO explanation says the failed primary's Patroni answered that its PostgreSQL is not running, not that it did not answer")
    func raceSeesAnsweringPeer() throws {
        let o = try simulate(Self.base + """

            faults:
              - { at: 50s, start_fails: db1 }
              - { at: 60s, kill: db1/postgres }
            """)
        let race = try #require(o.entries("race").last { $0.detail["polled"] != nil })
        let why = race.detail["no_answer"]?.arrayValue?.first
        #expect(why?["member"]?.stringValue == "db1")
        #expect(why?["why"]?.stringValue == "answered: PostgreSQL not running")
        let cause = o.findings.rto.first?.phases.first { $0.name == "election" }?.cause ?? ""
        #expect(cause.contains("db1 answered that its PostgreSQL is not running"), "\(cause)")
        #expect(!cause.contains("did not answer"))
    }

    @Test("once the start failure is repaired (for:), the old primary starts as a replica of the new leader")
    func repairedStart() throws {
        let o = try simulate(Self.base + """

            faults:
              - { at: 50s, start_fails: db1, for: 60s }
              - { at: 60s, kill: db1/postgres }
            """)
        let repaired = o.fault(0).startNs + 60 * Time.s
        let running = try #require(o.first(Kind.pgState, host: "db1", after: repaired) { $0.detail["state"]?.stringValue == "running" })
        #expect(running.detail["role"]?.stringValue == "standby")
        #expect(running.timeNs - repaired <= 12 * Time.s)
    }

    /// A fast shutdown waits for every backend: with one stuck, `Ha.demote('graceful')` waits in
    /// its async job while the HA loop keeps the key ("updated leader lock during switchover:
    /// demote"); writes are refused the whole time. Outside synchronous mode nothing limits it.
    @Test("a switchover whose fast shutdown hangs keeps the key and refuses writes until the hang ends")
    func hungShutdownHoldsSwitchover() throws {
        let o = try simulate(Self.base + """

            faults:
              - { at: 50s, stop_hangs: db1, for: 90s }
              - { at: 60s, switchover: { leader: db1, candidate: db2 } }
            """)
        let unstuck = o.fault(0).startNs + 90 * Time.s
        let said = o.entries(Kind.patroni, host: "db1").compactMap { $0.detail["msg"]?.stringValue }
        #expect(said.contains("updated leader lock during switchover: demote"))
        let handover = try #require(o.keyChanges.first { $0.holder == "db2" })
        #expect(handover.t > unstuck && handover.t - unstuck < 5 * Time.s)
        #expect((o.rto ?? 0) > 85 * Time.s)
        #expect(o.findings.rpo?.lostWrites == 0)
    }

    /// `Ha.primary_stop_timeout` (synchronous mode only) bounds the demotion's stop:
    /// `terminate_postmaster` "Sending SIGKILL to Postmaster and its children".
    @Test("in synchronous mode primary_stop_timeout ends a hung shutdown with SIGKILL and the switchover completes")
    func primaryStopTimeoutKills() throws {
        let o = try simulate(Self.base + """

            patroni: { synchronous_mode: true, primary_stop_timeout: 20 }
            faults:
              - { at: 50s, stop_hangs: db1, for: 3m }
              - { at: 60s, switchover: { leader: db1, candidate: db2 } }
            """)
        let sw = o.fault(1).startNs
        let kill = try #require(o.first(Kind.patroni, host: "db1", after: sw) { $0.detail["msg"]?.stringValue == "Sending SIGKILL to Postmaster and its children" })
        #expect(abs(seconds(kill.timeNs - sw) - 20) < 0.5, "\(seconds(kill.timeNs - sw))")
        let handover = try #require(o.keyChanges.first { $0.holder == "db2" })
        #expect(handover.t > kill.timeNs && handover.t - kill.timeNs < 15 * Time.s, "\(seconds(handover.t - kill.timeNs))")
        #expect(o.findings.rpo?.lostWrites == 0)
    }

    @Test("start_fails and stop_hangs need a DB host and a known reason")
    func badTargets() {
        var e: [String] = []
        if case .failure(let err) = ScenarioLoader.load(text: Self.base + """

            faults:
              - { at: 1m, start_fails: etcd1 }
              - { at: 1m, start_fails: { target: db1, reason: cosmic_rays } }
              - { at: 1m, stop_hangs: haproxy1 }
            """, file: "x.yml", overrides: []) { e = err.diagnostics.map(\.description) }
        #expect(e.contains { $0.contains("faults[0].start_fails") && $0.contains("runs no PostgreSQL") }, "\(e)")
        #expect(e.contains { $0.contains("faults[1].start_fails.reason") && $0.contains("bad_parameter, missing_wal") }, "\(e)")
        #expect(e.contains { $0.contains("faults[2].stop_hangs") && $0.contains("runs no PostgreSQL") }, "\(e)")
    }
}
