import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// Operator actions as scenario faults: what patronictl does to a running cluster.
@Suite("Operator actions, end to end")
struct OperatorActionTests {
    static let base = """
        name: t
        duration: 4m
        topology: etcd-separate
        workload: { clients: 2, rate: 20/s }
        """

    /// `Ha.run_cycle`: "PAUSE: " before every cycle's message in maintenance mode.
    @Test("in maintenance mode every cycle's message begins with 'PAUSE: '")
    func pausePrefix() throws {
        let o = try simulate(Self.base + """

            faults: [ { at: 30s, pause_cluster: true }, { at: 90s, resume_cluster: true } ]
            """)
        let p = o.fault(0).startNs, r = o.fault(1).startNs
        let msgs = o.entries("patroni").filter { $0.timeNs > p + Time.ms && $0.timeNs < r }.compactMap { $0.detail["msg"]?.stringValue }
        #expect(!msgs.isEmpty)
        #expect(msgs.allSatisfy { $0.hasPrefix("PAUSE: ") }, "\(msgs)")
        let after = o.entries("patroni").filter { $0.timeNs > r + 11 * Time.s }.compactMap { $0.detail["msg"]?.stringValue }
        #expect(!after.contains { $0.hasPrefix("PAUSE: ") })
    }

    /// `process_manual_failover_from_leader` and `_get_failover_action_name` (patroni/ha.py).
    @Test("a switchover names itself 'switchover: demoting myself', a failover to a candidate 'manual failover: demoting myself'")
    func failoverActionNames() throws {
        let sw = try simulate(Self.base + "\nfaults: [ { at: 60s, switchover: { leader: db1, candidate: db2 } } ]\n")
        #expect(sw.entries("patroni", host: "db1").contains { $0.detail["msg"]?.stringValue == "switchover: demoting myself" })
        #expect(sw.entries("job", host: "db1").contains { $0.detail["action"]?.stringValue == "switchover: demote" })
        let mf = try simulate(Self.base + "\nfaults: [ { at: 60s, failover: { candidate: db3 } } ]\n")
        #expect(mf.entries("patroni", host: "db1").contains { $0.detail["msg"]?.stringValue == "manual failover: demoting myself" })
        #expect(mf.newPrimaries == ["db1", "db3"])
    }

    /// `is_failover_possible` (patroni/api.py): the 412's text, recorded with the request.
    @Test("a switchover to a replica that is not the synchronous standby is refused: 412 'candidate name does not match with sync_standby'")
    func switchoverRefusedText() throws {
        let o = try simulate(Self.base + """

            patroni: { synchronous_mode: true }
            faults: [ { at: 60s, switchover: { leader: db1, candidate: db3 } } ]
            """)
        let refusal = try #require(o.entries("switchover").first { $0.detail["refused"] != nil })
        #expect(refusal.detail["status"]?.intValue == 412)
        #expect(refusal.detail["refused"]?.stringValue == "candidate name does not match with sync_standby")
        #expect(o.newPrimaries == ["db1"])
    }

    /// `Patroni.reload_config`: new tags apply at once and the next touch_member publishes them.
    @Test("set_tags at runtime: a replica given nofailover by a reload never takes over, the other one does", arguments: 1...4)
    func setTagsAtRuntime(seed: UInt64) throws {
        let o = try simulate(Self.base + """

            faults:
              - { at: 30s, set_tags: { db2: { nofailover: true } } }
              - { at: 60s, jitter: 10s, crash: primary }
            """, seed: seed)
        #expect(o.entries("reload", host: "db2").first?.detail["nofailover"]?.boolValue == true)
        #expect(o.newPrimaries == ["db1", "db3"])
        #expect(o.run.faults.first { $0.index == 0 }?.kind == "set_tags")
    }

    @Test("set_tags names one DB host and real tag keys: mistakes are errors at their position")
    func setTagsValidated() throws {
        let bad = ScenarioLoader.load(text: Self.base + "\nfaults: [ { at: 30s, set_tags: { db2: { nofailvoer: true } } } ]\n", file: "x.yml")
        guard case .failure(let e) = bad else { Issue.record("loaded"); return }
        #expect(e.description.contains("faults[0].set_tags.db2.nofailvoer") && e.description.contains("did you mean 'nofailover'"), "\(e.description)")
        let two = ScenarioLoader.load(text: Self.base + "\nfaults: [ { at: 30s, set_tags: { db9: {} } } ]\n", file: "x.yml")
        guard case .failure(let e2) = two else { Issue.record("loaded"); return }
        #expect(e2.description.contains("faults[0].set_tags"), "\(e2.description)")
    }

    /// `Ha.reinitialize` (patroni/ha.py): the leader cannot be reinitialized.
    @Test("patronictl reinit of the leader is refused: 'I am the leader, can not reinitialize'")
    func reinitLeaderRefused() throws {
        let o = try simulate(Self.base + "\nfaults: [ { at: 60s, reinit: db1 } ]\n")
        let r = try #require(o.entries("reinit", host: "db1").first)
        #expect(r.detail["refused"]?.stringValue == "I am the leader, can not reinitialize")
        #expect(r.detail["status"]?.intValue == 503)
        #expect(o.newPrimaries == ["db1"])
    }

    /// A member added mid-run: its host boots, its Patroni finds an empty data directory and
    /// clones it from the leader (`Bootstrap.basebackup`, a spread checkpoint then the copy),
    /// then it streams; until its member key appears nobody polls it in a race.
    @Test("add_replica: a new member boots, clones from the leader and streams; a failover after it joined may pick it")
    func addReplica() throws {
        let o = try simulate("""
            name: t
            duration: 12m
            topology: { preset: etcd-separate, db_nodes: 4 }
            postgresql: { data_size: 1GB }
            workload: { clients: 2, rate: 20/s }
            faults:
              - { at: 60s, add_replica: db4 }
              - { at: 9m, crash: primary }
            """)
        #expect(o.first("host_up", host: "db4").map { $0.timeNs } == 60 * Time.s)
        let backup = try #require(o.first("basebackup", host: "db4"))
        #expect(backup.detail["from"]?.stringValue == "db1")
        let streaming = try #require(o.first("streaming", host: "db4"))
        #expect(streaming.timeNs < 9 * Time.m)
        // Before it joined, no race or switchover polled it, and it held no member key.
        #expect(!o.entries("member_key").contains { $0.host == "db4" && $0.timeNs < 60 * Time.s })
        #expect(o.newPrimaries.count == 2 && o.findings.rpo?.lostWrites == 0)
    }

    /// `Ha.check_failsafe_topology`: the leader POSTs /failsafe to the members its last update
    /// wrote there; a member that joined after it is not among them.
    @Test("failsafe with a new member not yet in /failsafe: the leader, cut from etcd, polls only the members listed and keeps its role")
    func addReplicaFailsafe() throws {
        let o = try simulate("""
            name: t
            duration: 6m
            topology: { preset: etcd-separate, db_nodes: 4 }
            patroni: { failsafe_mode: true }
            postgresql: { data_size: 1GB }
            workload: { clients: 2, rate: 20/s }
            faults:
              - { at: 60s, add_replica: db4 }
              - { at: 81s, partition: [[db1, db2, db3, db4], [etcd1, etcd2, etcd3]], for: 60s }
            """)
        let checks = o.entries("failsafe_check", host: "db1")
        #expect(!checks.isEmpty)
        for c in checks {
            let polled = c.detail["answers"]?.arrayValue?.compactMap { $0["member"]?.stringValue } ?? []
            #expect(polled == ["db2", "db3"] && c.detail["accepted"]?.boolValue == true, "\(c.detail)")
        }
        #expect(o.entries(Kind.demote).isEmpty && o.newPrimaries == ["db1"])
    }

    @Test("add_replica names a DB host without etcd that is not the initial primary, once")
    func addReplicaValidated() throws {
        let base = "name: t\nduration: 4m\ntopology: { preset: etcd-separate, db_nodes: 4 }\n"
        for (faults, want) in [("[ { at: 1m, add_replica: db1 } ]", "is the initial primary"),
                               ("[ { at: 1m, add_replica: etcd1 } ]", "runs no Patroni"),
                               ("[ { at: 1m, add_replica: db4 }, { at: 2m, add_replica: db4 } ]", "is added twice")] {
            guard case .failure(let e) = ScenarioLoader.load(text: base + "faults: " + faults + "\n", file: "x.yml") else {
                Issue.record("loaded: \(faults)"); continue
            }
            #expect(e.description.contains(want) && e.description.contains("x.yml:4:"), "\(e.description)")
        }
    }

    @Test("maintenance mode: no failover while paused, even with the primary dead; after resume a replica takes over")
    func pauseResume() throws {
        let o = try simulate(Self.base + """

            faults:
              - { at: 30s, pause_cluster: true }
              - { at: 60s, crash: primary }
              - { at: 150s, resume_cluster: true }
            """)
        let crash = o.fault(1).startNs, resume = o.fault(2).startNs
        #expect(o.entries("pause").contains { $0.detail["paused"]?.boolValue == true })
        // The key may expire, but nobody takes it while paused.
        #expect(!o.keyChanges.contains { $0.t > crash && $0.t < resume && $0.holder != nil && $0.holder != "db1" })
        #expect(o.entries(Kind.pgPromoted).allSatisfy { $0.timeNs > resume })
        let taken = o.keyChanges.first { $0.t > resume && $0.holder != nil && $0.holder != "db1" }
        let t = try #require(taken)
        // A replica's next cycle (≤ loop_wait), the race's REST timeout to the dead host (2 s).
        #expect(seconds(t.t - resume) < 10 + 2.5)
    }

    @Test("failover to a named candidate while the primary is healthy demotes it gracefully and promotes the candidate")
    func failoverToCandidate() throws {
        let o = try simulate(Self.base + "\nfaults: [ { at: 60s, failover: { candidate: db3 } } ]\n")
        #expect(o.findings.finalPrimary == "db3")
        #expect(o.newPrimaries == ["db1", "db3"])
        #expect(o.first(Kind.demote, host: "db1")?.detail["mode"]?.stringValue == "graceful")
        #expect(o.findings.rpo?.lostWrites == 0)
    }

    @Test("edit_config of ttl mid-run: the leader's lease takes the new TTL, and a later crash expires by it")
    func editConfigTTL() throws {
        let o = try simulate(Self.base + """

            faults:
              - { at: 30s, edit_config: { ttl: 60 } }
              - { at: 90s, crash: primary }
            """)
        let crash = o.fault(1).startNs
        let expired = o.keyChanges.first { $0.t > crash && $0.holder == nil }
        let e = try #require(expired)
        let d = seconds(e.t - crash)
        #expect(d >= 50 && d <= 60.6, "key expired \(d) s after the crash")
    }

    @Test("reinit of a replica: stopped, re-cloned with pg_basebackup (a spread checkpoint first), streaming again; no failover")
    func reinitReplica() throws {
        let o = try simulate(Self.base + """

            postgresql: { data_size: 2GB }
            faults: [ { at: 30s, reinit: db2 } ]
            """, set: ["duration=6m"])
        #expect(o.newPrimaries == ["db1"])
        let t0 = o.fault(0).startNs
        #expect(o.entries("reinit", host: "db2").isEmpty == false || o.entries("job", host: "db2").contains { $0.timeNs >= t0 })
        let streaming = o.first("streaming", host: "db2", after: t0 + Time.s)
        let s = try #require(streaming)
        // Patroni runs pg_basebackup without --checkpoint=fast, so it first waits for a spread
        // checkpoint (checkpoint_completion_target × checkpoint_timeout = 270 s by default),
        // then copies 2 GB at the default 125 MB/s (~16 s), then starts and streams.
        let d = seconds(s.timeNs - t0)
        #expect(d > 270 + 16 && d < 270 + 16 + 30, "streaming again after \(d) s")
        #expect(o.findings.rto.first?.outage == false)
    }
}

/// Rule 6: the REST answers a decision rested on are in the timeline, and `expect: logged`
/// asserts them.
@Suite("REST answers in the timeline")
struct RESTAnswerTests {
    /// `do_POST_failover` (patroni/api.py) answers 412 with the reason; HAProxy's check of
    /// `GET /sync` (api.py `do_GET_sync`) answers 503 on a member that is not synchronous.
    @Test("a refused switchover's 412 and the /sync check's 503 are recorded with the request and asserted by expect: logged")
    func loggedExpectations() throws {
        let o = try simulate(OperatorActionTests.base + """

            patroni: { synchronous_mode: true }
            haproxy: { read_check: /sync }
            faults:
              - { at: 60s, switchover: { leader: db1, candidate: db3 } }
              - { at: 90s, crash: sync_standby }
            expect:
              logged:
                - { kind: switchover, host: db1, detail: { status: 412, refused: candidate name does not match with sync_standby } }
                - { kind: server_state, detail: { backend: read, check: GET /sync, up: false }, min: 1 }
                - { kind: switchover, detail: { status: 500 }, max: 0 }
            """)
        let results = o.findings.expectations
        #expect(results.count == 3)
        let failed = results.filter { !$0.ok }.map(\.detail)
        #expect(failed.isEmpty, "\(failed)")
        // The crashed sync standby's read server went DOWN on its check answers.
        let down = try #require(o.first(Kind.serverState) { $0.detail["check"]?.stringValue == "GET /sync" && $0.detail["up"]?.boolValue == false })
        #expect(down.timeNs > o.fault(1).startNs)
        // The other replica became synchronous: its /sync answer turned from 503 to 200.
        let up = try #require(o.first(Kind.serverState, after: o.fault(1).startNs) { $0.detail["check"]?.stringValue == "GET /sync" && $0.detail["up"]?.boolValue == true })
        #expect(up.detail["server"]?.stringValue != down.detail["server"]?.stringValue)
        #expect(up.detail["checks"]?.stringValue?.contains("L7STS/503") == true, "\(up.detail.text)")
        // A pattern that matches nothing fails, saying how many it found.
        let none = try simulate(OperatorActionTests.base + """

            expect:
              logged: [ { kind: switchover, detail: { status: 412 } } ]
            """)
        let r = try #require(none.findings.expectations.first)
        #expect(!r.ok)
        #expect(r.detail == "0 switchover with status=412 event(s) (expected at least 1)")
    }
}
