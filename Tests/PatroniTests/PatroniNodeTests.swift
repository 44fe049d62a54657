import Testing
import Settings
import SimCore
import Recording
import Etcd
@testable import Patroni

/// One Patroni node driven by its inputs and the clock, its effects asserted: the HA loop's
/// rules without a network, an etcd or a PostgreSQL (`patroni/ha.py`).
@Suite("Patroni, one node")
struct PatroniNodeTests {
    /// A primary's node whose leader lease was refreshed `loop_wait` before its first cycle.
    func steadyPrimary(_ config: PatroniConfig = PatroniConfig()) -> PatroniHarness {
        let h = PatroniHarness(config: config, primary: true)
        h.node.startSteady(phase: 0, primary: true, lease: LeaseID(1), h)
        return h
    }

    @Test("a primary whose every etcd member refuses demotes itself at its next cycle: 'demoted self because DCS is not accessible and I was a leader', a stop request to its PostgreSQL, then a read-only start")
    func primaryLosesDCS() {
        let h = steadyPrimary()
        // Every connection refused: the cycle's leader-key update fails on every member
        // (`api_execute` over `machines_cache`), is retried until retry_timeout (10 s), and
        // `_run_cycle` catches the DCSError, before the lock's ttl (30 s) is up.
        h.run(until: 25 * Time.s)
        let members = Set(h.effects.compactMap { if case .etcdConnect(let m) = $0 { return m }; return nil })
        #expect(members == [0, 1, 2])
        let demote = h.logged("demote").first
        #expect((demote?.timeNs ?? .max) >= 10 * Time.s)
        #expect(demote?.detail["mode"]?.stringValue == "offline")
        #expect(demote?.detail["why"]?.stringValue == "DCS is not accessible and I was a leader")
        // Offline demotion (`demote('offline')`): stop, then start read-only once stopped.
        guard let stop = h.effects.firstIndex(where: { if case .pgStop = $0 { return true }; return false }) else {
            Issue.record("no stop request: \(h.effects)"); return
        }
        #expect(h.effects[stop...].contains { if case .pgStart(standby: true, _) = $0 { return true }; return false })
        // The cycle's result in Patroni's words; the next cycles, as a replica, say only that
        // the DCS is not accessible.
        let said = h.logged("patroni").compactMap { $0.detail["msg"]?.stringValue }
        #expect(said.contains("demoted self because DCS is not accessible and I was a leader"), "\(said)")
        #expect(h.node.lastMessage == "DCS is not accessible")
        #expect(!h.node.isLeader(h.now) && h.node.role != .primary)
    }

    @Test("a primary whose DCS call is still within retry_timeout keeps its role: no demotion, no stop request")
    func pendingCallKeepsRole() {
        let h = steadyPrimary()
        h.etcdDown = false   // connections get no answer yet: the call is still inside retry_timeout (10 s)
        h.run(until: 5 * Time.s)
        #expect(h.logged("demote").isEmpty)
        #expect(!h.effects.contains { if case .pgStop = $0 { return true }; return false })
    }

    @Test("a replica that cannot reach etcd keeps running: 'DCS is not accessible', no request to its PostgreSQL")
    func replicaLosesDCS() {
        let h = PatroniHarness(primary: false)
        h.node.startSteady(phase: 0, primary: false, lease: LeaseID(2), h)
        h.run(until: 60 * Time.s)
        #expect(h.node.lastMessage == "DCS is not accessible")
        #expect(h.logged("demote").isEmpty)
        #expect(!h.effects.contains { if case .pgStop = $0 { return true }; if case .pgPromote = $0 { return true }; return false })
    }

    @Test("a watchdog-armed primary arms its device with ttl − safety_margin when it starts as leader")
    func watchdogTimeout() {
        var c = PatroniConfig()
        c.watchdog.mode = .required
        c.watchdog.safetyMargin = 5
        let h = steadyPrimary(c)
        #expect(h.effects.first == .restListen(true))
        #expect(h.effects.contains(.watchdogArmed(25)))
    }

    @Test("the HA cycle begins with its query to PostgreSQL (cluster_info_query): a frozen server holds the cycle — no DCS call, no decision — and so do the REST API's answers, until it resumes")
    func frozenPostgresHoldsCycle() {
        let h = PatroniHarness(primary: true)
        h.pgFrozen = true
        h.node.startSteady(phase: 0, primary: true, lease: LeaseID(1), h)
        h.schedule(after: 5 * Time.s, .rest(RESTRequest(conn: ConnID(slot: 99, gen: 1), id: 7, kind: .get(.primary, lag: nil))))
        h.run(until: 40 * Time.s)
        // The cycle's query and the check's, never answered: the cycle never came to a
        // decision (not even "DCS is not accessible", though etcd refuses everything here: only
        // the watch thread found that out); the health check got no answer.
        #expect(h.queries == 2)
        #expect(h.logged("demote").isEmpty && h.node.lastMessage == "")
        #expect(h.responses.isEmpty)
        // The server resumes: the check is answered (503: is_leader() ran out while the loop
        // was held) and the cycle goes on, to the DCS, which fails: the primary demotes.
        h.thaw()
        h.run(until: 60 * Time.s)
        #expect(h.responses.map(\.id) == [7] && h.responses.first?.status == 503)
        #expect(h.logged("demote").first?.detail["why"]?.stringValue == "DCS is not accessible and I was a leader")
    }

    @Test("the loop keeps one wake-up pending at a time: each new schedule cancels the last (kernel tokens, no generation counters)")
    func oneLoopTimer() {
        let h = PatroniHarness(primary: false)
        h.node.startSteady(phase: 0, primary: false, lease: LeaseID(2), h)
        var most = 0
        // After every input the node handles (each step runs to the next pending time).
        while h.now < 60 * Time.s {
            h.run(until: min(60 * Time.s, h.pending.map(\.t).min() ?? 60 * Time.s))
            let loops = h.pending.filter { if case .timer(.loop) = $0.input { return true }; return false }.count
            let waits = h.pending.filter { if case .timer(.sleep) = $0.input { return true }; if case .timer(.cacheWait) = $0.input { return true }; return false }.count
            most = max(most, loops)
            #expect(waits <= 1)
        }
        #expect(most == 1)
        // It kept cycling (every loop_wait, each ending "DCS is not accessible").
        #expect(h.node.lastMessage == "DCS is not accessible")
        #expect(h.cancelledTimers > 0)
    }

    @Test("a crashed node keeps nothing in memory: no role, no lock, no cycle")
    func crashForgets() {
        let h = steadyPrimary()
        h.node.crash()
        #expect(!h.node.running && !h.node.isLeader(h.now))
        let before = h.effects.count
        h.run(until: 60 * Time.s)
        #expect(h.effects.count == before)
    }
}

/// api.py's health endpoints under quorum commit: a `/sync` voter is a `quorum_standby`, so
/// `/quorum` and `/read-only-quorum` answer 200 and `/sync` 503; under plain synchronous mode
/// the same member is a `sync_standby`.
@Suite("Patroni REST, quorum standbys")
struct QuorumRESTTests {
    func codes(_ mode: PatroniConfig.SynchronousMode, listed: Bool) -> [RESTPath: Int16] {
        var c = PatroniConfig()
        c.synchronousMode = mode
        let h = PatroniHarness(config: c, primary: false)
        h.node.startSteady(phase: 0, primary: false, lease: LeaseID(2), h)
        h.node.lastClusterLoad = h.now
        h.node.cluster.sync = (leader: 1, standbys: listed ? [0, 2] : [2], quorum: 1, version: 1)
        var out: [RESTPath: Int16] = [:]
        for p in [RESTPath.sync, .quorum, .readOnlyQuorum, .readOnlySync, .async] { out[p] = h.node.get(p, lag: nil, h.pg, h).0 }
        return out
    }

    @Test func quorumVoterAnswersQuorum() {
        #expect(codes(.quorum, listed: true) == [.sync: 503, .quorum: 200, .readOnlyQuorum: 200, .readOnlySync: 503, .async: 503])
        #expect(codes(.quorum, listed: false) == [.sync: 503, .quorum: 503, .readOnlyQuorum: 503, .readOnlySync: 503, .async: 200])
        #expect(codes(.on, listed: true) == [.sync: 200, .quorum: 503, .readOnlyQuorum: 503, .readOnlySync: 200, .async: 503])
    }

    /// Every write goes through one memory: after a demotion emptied the value, a new
    /// promotion's `ANY 1 (db2,db3)` is written again, not skipped as unchanged.
    @Test func quorumNamesRewrittenAfterDemote() {
        var c = PatroniConfig()
        c.synchronousMode = .quorum
        let h = PatroniHarness(config: c, primary: true)
        h.node.startSteady(phase: 0, primary: true, lease: LeaseID(1), h)
        let any1 = SyncStandbyNames(method: .quorum, num: 1, names: ["db2", "db3"])
        _ = h.node.setQuorumNames([1, 2], num: 1, h)
        #expect(h.node.writtenSsn == any1)
        h.node.writeSyncNames(.none, h)   // what demote does
        _ = h.node.setQuorumNames([1, 2], num: 1, h)
        #expect(h.node.writtenSsn == any1)
        // No names but a replication factor: any standby.
        _ = h.node.setQuorumNames([], num: 1, h)
        #expect(h.node.writtenSsn == SyncStandbyNames(method: .quorum, num: 1, names: ["*"]))
    }

    @Test func pathsParse() {
        #expect(RESTPath.parse("/quorum")?.0 == .quorum)
        #expect(RESTPath.parse("/read-only-quorum")?.0 == .readOnlyQuorum)
        #expect(RESTPath.parse("/read-only-synchronous")?.0 == .readOnlySync)
    }
}
