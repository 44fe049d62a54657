import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// Patroni's rules, each checked end to end on a small cluster: outcome and timing.
@Suite("Patroni rules, end to end")
struct PatroniRulesTests {
    /// Seed 004's layout: etcd on its own hosts, so a DB host's crash never takes the etcd leader.
    static let separate = """
        name: t
        duration: 4m
        topology: etcd-separate
        haproxy: { inter: 3s, fall: 3, rise: 2, on_marked_down: shutdown-sessions }
        workload: { clients: 2, rate: 20/s }
        """

    @Test("a primary host crash with ttl 30 / loop_wait 10: the key expires 20–30 s after the crash and a replica takes over",
          arguments: 1...10)
    func crashExpiry(seed: UInt64) throws {
        let o = try simulate(Self.separate + "\nfaults: [ { at: 60s, jitter: 10s, crash: primary } ]\n", seed: seed)
        let crash = o.fault(0).startNs
        let expired = try #require(o.keyChanges.first { $0.t > crash && $0.holder == nil })
        #expect(expired.cause == "expired")
        let d = seconds(expired.t - crash)
        // Last refresh 0–10 s before the crash; the lessor scans every 500 ms and the delete
        // goes through Raft.
        #expect(d >= 20 && d <= 30.6, "key expired \(d) s after the crash")
        let winner = try #require(o.keyChanges.first { $0.t > expired.t && $0.holder != nil })
        #expect(winner.holder == "db2" || winner.holder == "db3")
        // The race: the dead node's REST API times out after 2 s, then the promotion.
        #expect(seconds(winner.t - expired.t) < 3.5)
        let rto = try #require(o.rto)
        #expect(o.findings.rto[0].phases.compactMap(\.durationNs).reduce(0, +) == rto)
        #expect(seconds(rto) > 20 && seconds(rto) < 45)
    }

    /// `Etcd3._update_leader` (patroni/dcs/etcd3.py): after a freeze longer than ttl the
    /// primary's Patroni gets a new lease, and since the key it last saw carries the old one it
    /// sends a transaction that re-puts the key if it still names it, or else (nested) creates it
    /// if nobody holds it. Nobody could take it here (both replicas are `nofailover`), so the
    /// primary keeps its role: no demotion, no new timeline.
    @Test("a frozen primary whose key expired and that nobody took retakes the free lock and stays primary (Etcd3._update_leader)",
          arguments: 1...8)
    func frozenPrimaryRetakesFreeLock(seed: UInt64) throws {
        let o = try simulate(Self.separate + """

            patroni: { watchdog: { mode: off }, tags: { db2: { nofailover: true }, db3: { nofailover: true } } }
            faults: [ { at: 60s, jitter: 10s, pause: db1/patroni, for: 50s } ]
            """, seed: seed)
        let pause = o.fault(0).startNs
        let expired = try #require(o.keyChanges.first { $0.t > pause && $0.holder == nil })
        #expect(expired.cause == "expired")
        let back = try #require(o.keyChanges.first { $0.t > expired.t && $0.holder != nil })
        #expect(back.holder == "db1")
        #expect(o.newPrimaries == ["db1"])
        #expect(o.entries(Kind.demote).isEmpty, "\(o.entries(Kind.demote).map(\.detail))")
        #expect(o.entries(Kind.pgPromoted).isEmpty)
        // It retook the key as soon as it woke (its first cycle after the pause).
        #expect(seconds(back.t - (pause + 50 * Time.s)) < 1)
    }

    /// `Ha.handle_starting_instance` (patroni/ha.py): a primary whose PostgreSQL is still
    /// starting after primary_start_timeout gives the key up when a failover is possible
    /// ("Demoting self because primary startup is taking too long"); the start itself waited
    /// that long (`postgresql.start(timeout=primary_start_timeout)`).
    @Test("a primary whose PostgreSQL takes longer than primary_start_timeout to start after a crash demotes, and a replica takes over",
          arguments: 1...6)
    func primaryStartTimeout(seed: UInt64) throws {
        let o = try simulate(Self.separate + """

            patroni: { primary_start_timeout: 30 }
            postgresql: { startup: 120s }
            faults: [ { at: 60s, jitter: 10s, kill: db1/postgres } ]
            """, seed: seed)
        let kill = o.fault(0).startNs
        let demote = try #require(o.first(Kind.demote, host: "db1", after: kill))
        #expect(demote.detail["mode"]?.stringValue == "immediate")
        #expect(demote.detail["why"]?.stringValue == "primary startup is taking too long")
        // The recovery cycle comes within loop_wait of the kill; the start then has 30 s.
        let d = seconds(demote.timeNs - kill)
        #expect(d >= 30 && d <= 41, "demoted \(d) s after the kill")
        let said = o.entries(Kind.patroni, host: "db1").compactMap { $0.detail["msg"]?.stringValue }
        #expect(said.contains("stopped PostgreSQL because of startup timeout"))
        #expect(o.newPrimaries.count == 2 && o.newPrimaries.last != "db1")
    }

    @Test("past primary_start_timeout with no failover candidate, the primary keeps waiting for its PostgreSQL")
    func primaryStartTimeoutNoCandidate() throws {
        let o = try simulate(Self.separate + """

            patroni: { primary_start_timeout: 30, tags: { db2: { nofailover: true }, db3: { nofailover: true } } }
            postgresql: { startup: 120s }
            faults: [ { at: 60s, kill: db1/postgres } ]
            """, seed: 1)
        #expect(o.entries(Kind.demote).isEmpty)
        let said = o.entries(Kind.patroni, host: "db1").compactMap { $0.detail["msg"]?.stringValue }
        #expect(said.contains("primary start has timed out, but continuing to wait because failover is not possible"), "\(Set(said))")
        #expect(o.newPrimaries == ["db1"])
    }

    /// `Watchdog.keepalive` (patroni/watchdog/base.py): a configuration change is applied at the
    /// next ping, so the device's timeout follows a new ttl from the leader key update on.
    @Test("the watchdog follows edit_config: a new ttl sets the device's timeout to ttl − safety_margin at the primary's next keepalive")
    func watchdogFollowsEditConfig() throws {
        let o = try simulate(Self.separate + """

            patroni: { watchdog: { mode: required, safety_margin: 5 } }
            faults: [ { at: 60s, edit_config: { ttl: 40 } } ]
            """, seed: 1)
        let edit = o.fault(0).startNs
        let set = try #require(o.first("watchdog_timeout_set", after: edit))
        #expect(set.host == "db1")
        #expect(set.detail["timeout_s"]?.intValue == 35)
        // At the primary's next successful lock update: within one loop_wait (and the watch).
        #expect(seconds(set.timeNs - edit) <= 10.5)
        let said = o.entries(Kind.patroni, host: "db1").compactMap { $0.detail["msg"]?.stringValue }
        #expect(said.contains("Software Watchdog updated with 35 second timeout, timing slack 25 seconds"))
        #expect(o.entries(Kind.watchdogReset).isEmpty)
    }

    /// `Postgresql._cluster_info_state_get` (patroni/postgresql/__init__.py): the HA cycle's
    /// query has no client-side timeout, so a frozen server holds the cycle; the key is no
    /// longer refreshed and a replica takes over. The REST handlers' queries block too, so the
    /// health checks time out rather than answer.
    @Test("a frozen PostgreSQL primary holds its Patroni's cycle: the key expires, a replica takes over, HAProxy's checks time out (L7TOUT)",
          arguments: 1...6)
    func frozenPostgresFailsOver(seed: UInt64) throws {
        let o = try simulate(Self.separate + """

            patroni: { watchdog: { mode: off } }
            faults: [ { at: 60s, jitter: 10s, pause: db1/postgres, for: 60s } ]
            """, seed: seed)
        let pause = o.fault(0).startNs
        let expired = try #require(o.keyChanges.first { $0.t > pause && $0.holder == nil })
        #expect(expired.cause == "expired")
        // Last refresh 0–10 s before the pause, then ttl (30 s) and the lessor's scan.
        #expect(seconds(expired.t - pause) >= 20 && seconds(expired.t - pause) <= 30.6)
        #expect(o.newPrimaries.count == 2 && o.newPrimaries.last != "db1")
        let down = try #require(o.first(Kind.serverState, after: pause) { $0.detail["server"]?.stringValue == "db1" && $0.detail["up"]?.boolValue == false })
        #expect(down.detail["checks"]?.stringValue?.contains("L7TOUT") == true, "\(down.detail)")
        // Resumed, it learns of the new leader at its first cycle and demotes at once.
        let demote = try #require(o.first(Kind.demote, host: "db1", after: pause))
        #expect(seconds(demote.timeNs - (pause + 60 * Time.s)) < 0.1)
        #expect((o.findings.rpo?.lostWrites ?? 0) == 0)
    }

    @Test("with the etcd leader on the crashed host, the new etcd leader resets the lease to ttl + election timeout",
          arguments: 1...6)
    func etcdLeaderCrash(seed: UInt64) throws {
        let o = try simulate("""
            name: t
            duration: 4m
            topology: etcd-colocated
            workload: { clients: 2, rate: 20/s }
            faults:
              - { at: 30s, switchover: etcd_leader }
              - { at: 90s, jitter: 10s, crash: etcd_leader }
            """, seed: seed)
        let crash = o.fault(1).startNs
        let elected = try #require(o.first(Kind.etcdLeader, after: crash))
        #expect(seconds(elected.timeNs - crash) < 3, "etcd election took \(seconds(elected.timeNs - crash)) s")
        let reset = try #require(o.first(Kind.leaseReset, after: crash))
        #expect(reset.detail["expire_in_s"]?.intValue == 31)
        let expired = try #require(o.keyChanges.first { $0.t > crash && $0.holder == nil })
        let d = seconds(expired.t - crash)
        // Whatever the last refresh was: election + ttl + election timeout (+ the 500 ms scan).
        #expect(d >= 31 && d <= 35, "key expired \(d) s after the crash")
    }

    static let lagging = """
        name: t
        duration: 4m
        topology: etcd-separate
        patroni: { maximum_lag_on_failover: 1MB }
        workload: { clients: 2, rate: 100/s, write_size: 16kB }
        """

    @Test("a replica lagging beyond maximum_lag_on_failover does not race; the other one takes over")
    func laggingReplica() throws {
        let o = try simulate(Self.lagging + """

            faults:
              - { at: 60s, partition: { from: [db1], to: [db3] }, for: 2m }
              - { at: 90s, crash: db1 }
            """)
        let refused = try #require(o.first("race", host: "db3") { $0.detail["why"]?.stringValue?.contains("maximum replication lag") == true })
        #expect((refused.detail["lag_bytes"]?.intValue ?? 0) > 1 << 20)
        #expect(o.newPrimaries == ["db1", "db2"])
    }

    @Test("with every replica lagging beyond maximum_lag_on_failover there is no failover")
    func allLagging() throws {
        let o = try simulate(Self.lagging + """

            faults:
              - { at: 60s, partition: [[db1], [db2, db3]] }
              - { at: 90s, crash: db1 }
            """)
        #expect(o.newPrimaries == ["db1"])
        #expect(o.findings.failover == false)
        #expect(o.entries("race").contains { $0.detail["why"]?.stringValue?.contains("maximum replication lag") == true })
        let rto = o.findings.rto.first { $0.faultIndex == 1 }
        #expect(rto?.outage == true && rto?.rtoNs == nil)  // writes never came back
    }

    @Test("a primary cut off from etcd demotes itself in its first cycle whose DCS call fails, before its key expires",
          arguments: 1...6)
    func dcsLossDemotes(seed: UInt64) throws {
        let o = try simulate(Self.separate + "\nfaults: [ { at: 60s, jitter: 10s, partition: [[db1], [etcd1, etcd2, etcd3]], for: 2m } ]\n", seed: seed)
        let cut = o.fault(0).startNs
        let demote = try #require(o.first(Kind.demote, host: "db1", after: cut))
        #expect(demote.detail["mode"]?.stringValue == "offline")
        // Its next cycle starts within loop_wait; its update_lock fails after the etcd client's
        // 11.67 s for three unreachable members (see EtcdClientArithmeticTests).
        #expect(seconds(demote.timeNs - cut) <= 10 + 11.67 + 0.5, "demoted \(seconds(demote.timeNs - cut)) s after the cut")
        let expired = try #require(o.keyChanges.first { $0.t > cut && $0.holder == nil })
        #expect(demote.timeNs < expired.t)
        #expect(o.findings.splitBrain?.kinds.first { $0.name == "writable" }?.totalNs == 0)
    }

    @Test("with failsafe_mode and every member reachable, a primary cut off from etcd keeps its role")
    func failsafeKeepsRole() throws {
        let o = try simulate(Self.separate + """

            patroni: { failsafe_mode: true }
            faults: [ { at: 60s, partition: [[db1, db2, db3], [etcd1, etcd2, etcd3]], for: 90s } ]
            """)
        #expect(o.entries(Kind.demote).isEmpty)
        #expect(o.entries(Kind.pgPromoted).isEmpty)
        #expect(o.findings.rto.first?.outage == false)
        #expect(o.entries("patroni", host: "db1").contains { $0.detail["msg"]?.stringValue?.contains("failsafe mode is enabled") == true })
        // The decision's inputs are in the timeline: each member's answer to POST /failsafe.
        let check = try #require(o.entries("failsafe_check", host: "db1").first)
        #expect(check.detail["accepted"]?.boolValue == true)
        let answers = check.detail["answers"]?.arrayValue ?? []
        #expect(answers.count == 2 && answers.allSatisfy { $0["status"]?.intValue == 200 }, "\(answers)")
    }

    static let hang = """
        name: t
        duration: 5m
        topology: etcd-separate
        patroni: { use_pg_rewind: true }
        haproxy: { inter: 3s, fall: 3, rise: 2, on_marked_down: shutdown-sessions }
        workload: { clients: 2, rate: 50/s, direct: [ { host: db1, clients: 1 } ] }
        faults: [ { at: 60s, jitter: 10s, pause: db1/patroni, for: 60s } ]
        """

    @Test("a Patroni paused longer than ttl − safety_margin gets its host reset by the watchdog before a replica can take the key",
          arguments: 1...5)
    func watchdogFences(seed: UInt64) throws {
        let o = try simulate(Self.hang, seed: seed, set: ["patroni.watchdog.mode=automatic", "patroni.watchdog.safety_margin=5", "patroni.watchdog.device=true"])
        let pause = o.fault(0).startNs
        let reset = try #require(o.first(Kind.watchdogReset, host: "db1", after: pause))
        // Armed for ttl − safety_margin = 25 s from the last ping, which came 0–10 s before.
        #expect(seconds(reset.timeNs - pause) <= 25.1)
        let expired = try #require(o.keyChanges.first { $0.t > pause && $0.holder == nil })
        #expect(reset.timeNs < expired.t)
        #expect(o.findings.splitBrain?.kinds.allSatisfy { $0.totalNs == 0 } == true)
        #expect(o.findings.rpo?.lostWrites == 0)
    }

    @Test("without a watchdog, the hung primary's PostgreSQL keeps taking direct writes after a replica was promoted")
    func noWatchdogSplitBrain() throws {
        let o = try simulate(Self.hang)
        #expect(o.entries(Kind.watchdogReset).isEmpty)
        let sb = try #require(o.findings.splitBrain)
        let writable = try #require(sb.kinds.first { $0.name == "writable" })
        let timelines = try #require(sb.kinds.first { $0.name == "timelines" })
        #expect(writable.totalNs > 0)
        #expect(timelines.totalNs > 0)
        #expect((timelines.losingAcks ?? 0) > 0)
        #expect((o.findings.rpo?.lostWrites ?? 0) > 0)
    }

    /// `Rewind._check_timeline_and_lsn` (patroni/postgresql/rewind.py): the demoted primary
    /// connects to the new leader's PostgreSQL, learns that its own WAL goes past the fork, and
    /// runs pg_rewind; the check is a message on that connection (in the trace), not a look at
    /// the other server's memory.
    @Test("the woken old primary checks its timeline against the new leader over a connection to its PostgreSQL, then rewinds",
          arguments: 1...4)
    func rewindCheckOverTheNetwork(seed: UInt64) throws {
        let o = try simulate(Self.hang, seed: seed)
        let pause = o.fault(0).startNs
        let demote = try #require(o.first(Kind.demote, host: "db1", after: pause))
        let rewind = try #require(o.first("pg_rewind", host: "db1", after: demote.timeNs))
        #expect(rewind.detail["from"]?.stringValue == o.newPrimaries.last)
        #expect((rewind.detail["discards_bytes"]?.intValue ?? 0) > 0)
        // Asked, answered: within a few seconds of the demotion (the next cycles).
        #expect(seconds(rewind.timeNs - demote.timeNs) < 25)
    }

    @Test("in synchronous mode only the synchronous standby wins the race", arguments: 1...6)
    func syncStandbyWins(seed: UInt64) throws {
        let o = try simulate(Self.separate + """

            patroni: { synchronous_mode: true }
            faults: [ { at: 60s, jitter: 20s, crash: primary } ]
            """, seed: seed)
        let crash = o.fault(0).startNs
        // /sync before the crash: the seeded one (db2), or the last the leader wrote.
        let sync = o.entries("sync", host: "db1").last { $0.timeNs < crash }?.detail["standbys"]?.arrayValue?.compactMap(\.stringValue) ?? ["db2"]
        let winner = try #require(o.keyChanges.first { $0.t > crash && $0.holder != nil && $0.holder != "db1" })
        #expect(sync.contains(winner.holder!), "\(winner.holder!) won, /sync was \(sync)")
        #expect(o.findings.rpo?.lostWrites == 0)
    }

    /// `_ReplicaList` (patroni/postgresql/sync.py): candidates sorted by higher
    /// `sync_priority` first; `sync_priority: 0` means `nosync`.
    @Test("sync_priority picks the synchronous standby, also after a failover; sync_priority 0 is never synchronous",
          arguments: 1...3)
    func syncPriorityPicks(seed: UInt64) throws {
        func syncs(_ o: Outcome) -> [[String]] {
            o.entries("sync_key").compactMap { $0.detail["sync_standby"]?.arrayValue?.compactMap(\.stringValue) }
        }
        // db4 is preferred over db2 and db3 while db1 leads; once db4's primary dies...
        let high = try simulate(Self.separate + """

            patroni: { synchronous_mode: true, tags: { db3: { sync_priority: 2 }, db4: { sync_priority: 3 } } }
            faults: [ { at: 60s, jitter: 10s, crash: primary } ]
            """, seed: seed, set: ["topology.db_nodes=4"])
        let before = syncs(high).first
        #expect(before == ["db4"], "\(syncs(high))")
        // ...db4, the synchronous standby, took over, and picks db3 (priority 2) over db2.
        #expect(high.newPrimaries == ["db1", "db4"])
        #expect(syncs(high).last == ["db3"], "\(syncs(high))")
        let zero = try simulate(Self.separate + """

            patroni: { synchronous_mode: true, tags: { db2: { sync_priority: 0 } } }
            faults: [ { at: 60s, jitter: 10s, crash: db3 } ]
            """, seed: seed)
        // With db3 gone, db2 (sync_priority 0) is still not made synchronous.
        #expect(!syncs(zero).contains { $0.contains("db2") }, "\(syncs(zero))")
    }

    /// `Tags.nofailover` (patroni/tags.py): an explicit `nofailover: false` wins over
    /// `failover_priority: 0`, so the member may still be promoted (at the lowest priority).
    @Test("nofailover: false with failover_priority: 0 may still take over when it is the only candidate")
    func explicitNofailoverFalse() throws {
        let o = try simulate(Self.separate + """

            patroni: { tags: { db2: { nofailover: false, failover_priority: 0 }, db3: { nofailover: true } } }
            faults: [ { at: 60s, crash: primary } ]
            """, seed: 1)
        #expect(o.newPrimaries == ["db1", "db2"])
    }

    /// `pg_wal_replay_pause()` on the synchronous standby under `synchronous_commit:
    /// remote_apply`: its WAL keeps arriving and being flushed, but nothing is applied, so every
    /// commit waits for an apply confirmation that does not come until replay resumes.
    @Test("a replay pause on the synchronous standby under remote_apply holds every commit until it resumes")
    func replayPauseHoldsRemoteApply() throws {
        let o = try simulate(Self.separate + """

            patroni: { synchronous_mode: true }
            postgresql: { synchronous_commit: remote_apply }
            faults: [ { at: 60s, replay_pause: sync_standby, for: 60s } ]
            """, seed: 1, keepEveryWrite: true)
        let pause = o.fault(0).startNs
        #expect(o.first("replay_paused", host: "db2") != nil && o.first("replay_resumed", host: "db2") != nil)
        let acked = o.run.keptWrites.filter { $0.outcome == .ok }
        // No commit is confirmed while replay is paused; the only answers are the clients' own
        // cancellations after their 30 s statement timeout (PostgreSQL then reports the commit,
        // already local, with a warning: "canceling wait for synchronous replication").
        #expect(!acked.contains { $0.syncConfirmed && $0.doneNs > pause + 2 * Time.s && $0.doneNs < pause + 60 * Time.s })
        #expect(o.entries("syncrep_wait_canceled", host: "db1").contains { $0.timeNs > pause && $0.timeNs < pause + 60 * Time.s })
        // Once it resumes, the held commits are confirmed.
        let held = acked.filter { $0.syncConfirmed && $0.sentNs < pause + 60 * Time.s && $0.doneNs >= pause + 60 * Time.s }
        #expect(!held.isEmpty)
        // With the default synchronous_commit (on), the same pause costs nothing.
        let on = try simulate(Self.separate + """

            patroni: { synchronous_mode: true }
            faults: [ { at: 60s, replay_pause: sync_standby, for: 60s } ]
            """, seed: 1, keepEveryWrite: true)
        #expect(on.run.keptWrites.filter { $0.outcome == .ok && $0.doneNs > pause + 2 * Time.s && $0.doneNs < pause + 59 * Time.s }.count > 500)
    }

    /// `Postgresql._pre_promote` and `Ha.enforce_primary_role` (patroni): a failing fencing
    /// script cancels the promotion, the key is given up, and that member skips the race for
    /// ttl, so another replica takes over.
    @Test("pre_promote: a failing script on the winner cancels its promotion and another replica takes over; a passing one delays promotion by its duration",
          arguments: 1...4)
    func prePromote(seed: UInt64) throws {
        let fail = try simulate(Self.separate + """

            patroni: { pre_promote: { duration: 2s, exit_code: 1, hosts: [db2] }, tags: { db3: { failover_priority: 0, nofailover: false } } }
            faults: [ { at: 60s, jitter: 10s, crash: primary } ]
            """, seed: seed)
        let said = fail.entries(Kind.patroni, host: "db2").compactMap { $0.detail["msg"]?.stringValue }
        #expect(said.contains("pre_promote script `pre_promote` exited with 1"))
        #expect(said.contains("Promotion cancelled because the pre-promote script failed"))
        #expect(fail.entries(Kind.pgPromoted, host: "db2").isEmpty)
        #expect(fail.newPrimaries.last == "db3", "\(fail.newPrimaries)")
        let ok = try simulate(Self.separate + """

            patroni: { pre_promote: { duration: 3s, exit_code: 0 } }
            faults: [ { at: 60s, jitter: 10s, crash: primary } ]
            """, seed: seed)
        let started = try #require(ok.first(Kind.promoteStarted, after: ok.fault(0).startNs))
        let promoted = try #require(ok.first(Kind.pgPromoted, after: started.timeNs))
        #expect(seconds(promoted.timeNs - started.timeNs) >= 3.3)
    }

    @Test("a switchover under load is graceful: nothing lost, no two primaries, the candidate ends as primary")
    func switchoverLossless() throws {
        let o = try simulate("""
            name: t
            duration: 3m
            topology: etcd-colocated
            patroni: { synchronous_mode: true }
            haproxy: { inter: 3s, fall: 3, rise: 2, on_marked_down: shutdown-sessions }
            workload: { clients: 4, rate: 100/s }
            faults: [ { at: 60s, switchover: { candidate: sync_standby } } ]
            """)
        let t0 = o.fault(0).startNs
        let d = o.first(Kind.demote, host: "db1", after: t0)
        let demote = try #require(d)
        #expect(demote.detail["mode"]?.stringValue == "graceful")
        #expect(o.findings.rpo?.lostWrites == 0)
        #expect(o.findings.splitBrain?.kinds.allSatisfy { $0.totalNs == 0 } == true)
        #expect(o.findings.finalPrimary == "db2")
        let rto = try #require(o.rto)
        #expect(seconds(rto) < 15)
    }
}
