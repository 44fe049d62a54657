import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// `synchronous_mode: quorum` end to end (`Ha._process_quorum_replication`, `QuorumStateResolver`,
/// the quorum rule of `_is_healthiest_node`): ANY k commits, the `/sync` quorum, and promotion.
@Suite("Quorum commit, end to end")
struct QuorumCommitTests {
    static func cluster(_ mode: String) -> String {
        """
        name: t
        duration: 4m
        topology: etcd-separate
        patroni: { synchronous_mode: \(mode) }
        haproxy: { inter: 3s, fall: 3, rise: 2, on_marked_down: shutdown-sessions }
        workload: { clients: 4, rate: 100/s }
        """
    }

    /// The longest time without an acknowledged write between `from` and `to`.
    static func longestAckGap(_ o: Outcome, from: Nanos, to: Nanos) -> Nanos {
        let acks = o.run.keptWrites.filter { $0.outcome == .ok && $0.doneNs >= from && $0.doneNs <= to }.map(\.doneNs).sorted()
        var gap: Nanos = 0
        for (a, b) in zip([from] + acks, acks + [to]) { gap = max(gap, b - a) }
        return gap
    }

    func syncMessages(_ o: Outcome, host: String) -> [String] {
        o.entries("sync", host: host).compactMap { $0.detail["msg"]?.stringValue }
    }

    @Test("losing one of two quorum standbys does not stall commits (ANY 1 of two); Patroni then drops it from synchronous_standby_names first and from /sync after, the quorum falling to 0",
          arguments: 1...6)
    func standbyLossNoStall(seed: UInt64) throws {
        let o = try simulate(Self.cluster("quorum") + "\nfaults: [ { at: 60s, jitter: 10s, crash: db2 } ]\n", seed: seed, keepEveryWrite: true)
        let crash = o.fault(0).startNs
        #expect(o.newPrimaries == ["db1"])
        #expect(o.findings.rpo?.lostWrites == 0)
        // Four clients at 100/s: with db3 still acknowledging, no pause beyond a few commits.
        #expect(seconds(Self.longestAckGap(o, from: crash - Time.s, to: crash + 90 * Time.s)) < 0.5)
        // The start: both standbys are voters, quorum 1, ANY 1 (db2, db3).
        let keys = o.entries(Kind.syncKey)
        #expect(keys.first?.detail["quorum"]?.intValue == 1)
        #expect(keys.first?.detail["sync_standby"]?.arrayValue?.compactMap(\.stringValue) == ["db2", "db3"])
        // `__remove_gone_nodes` with quorum 1: synchronous_standby_names shrinks first, then /sync.
        let said = syncMessages(o, host: "db1")
        let shrink = try #require(said.firstIndex(of: "Setting synchronous replication to 1 of 1 (db3)"), "\(said)")
        let key = try #require(said.firstIndex(of: "Setting leader to db1, quorum to 0 of 1 (db3)"), "\(said)")
        #expect(shrink < key)
        #expect(keys.last?.detail["quorum"]?.intValue == 0)
        #expect(keys.last?.detail["sync_standby"]?.arrayValue?.compactMap(\.stringValue) == ["db3"])
    }

    @Test("the same loss under synchronous_mode: true (FIRST 1) stalls commits until Patroni swaps the sync standby", arguments: 1...3)
    func standbyLossStallsUnderPlainSync(seed: UInt64) throws {
        let o = try simulate(Self.cluster("true") + "\nfaults: [ { at: 60s, jitter: 10s, crash: sync_standby } ]\n", seed: seed, keepEveryWrite: true)
        let crash = o.fault(0).startNs
        #expect(seconds(Self.longestAckGap(o, from: crash - Time.s, to: crash + 90 * Time.s)) > 5)
    }

    @Test("a crashed quorum primary: a voter that sees quorum other voters not ahead promotes with every acknowledged commit, and the old leader joins /sync's voters",
          arguments: 1...8)
    func primaryCrashPromotesWithQuorum(seed: UInt64) throws {
        let o = try simulate(Self.cluster("quorum") + "\nfaults: [ { at: 60s, jitter: 10s, crash: primary } ]\n", seed: seed)
        let winner = try #require(o.newPrimaries.dropFirst().first)
        #expect(winner == "db2" || winner == "db3")
        #expect(o.findings.rpo?.lostWrites == 0)
        #expect(o.findings.violations.isEmpty, "\(o.findings.violations)")
        let other = winner == "db2" ? "db3" : "db2"
        // `_generate_transitions`' failover step: leader ← me, the old leader into the voters.
        let said = syncMessages(o, host: winner)
        #expect(said.first == "Setting leader to \(winner), quorum to 1 of 2 (db1, \(other))", "\(said)")
        // A loop_wait later (`_promote_timestamp`), the dead old leader leaves both sets.
        #expect(said.contains("Setting leader to \(winner), quorum to 0 of 1 (\(other))"), "\(said)")
    }

    @Test("losing the primary and one of two quorum standbys at once: the survivor cannot see quorum (1) other voters and does not promote, since it may lack an acknowledged commit",
          arguments: 1...4)
    func noPromotionWithoutQuorum(seed: UInt64) throws {
        let o = try simulate(Self.cluster("quorum") + """

            faults:
              - { at: 60s, crash: db1 }
              - { at: 60s, crash: db2 }
            """, seed: seed)
        #expect(o.newPrimaries == ["db1"])
        let refused = o.entries("race", host: "db3").compactMap { $0.detail["why"]?.stringValue }
        #expect(refused.contains("quorum votes 0 of 1 needed"), "\(refused)")
        // Plain synchronous mode promotes the sync standby in the same situation.
        let plain = try simulate(Self.cluster("true") + """

            faults:
              - { at: 60s, crash: db1 }
              - { at: 60s, crash: db3 }
            """, seed: seed)
        #expect(plain.newPrimaries == ["db1", "db2"])
    }
}
