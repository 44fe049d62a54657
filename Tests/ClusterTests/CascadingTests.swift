import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// Cascading replication: the `replicatefrom` tag (`Ha._get_node_to_follow`, patroni/ha.py).
@Suite("Cascading replication (replicatefrom)")
struct CascadingTests {
    static let base = """
        name: cascade
        duration: 4m
        topology: etcd-colocated
        workload: { clients: 2, rate: 50/s }
        """

    func streams(_ o: Outcome, _ host: String) -> [(t: Nanos, from: String)] {
        o.entries("streaming", host: host).compactMap { e in e.detail["from"]?.stringValue.map { (e.timeNs, $0) } }
    }

    /// `_get_node_to_follow` follows `cluster.get_member(replicatefrom)` while its member key
    /// exists, whatever its PostgreSQL does; only when the key expires does the replica fall
    /// back to the leader.
    @Test("a replica with replicatefrom streams from that member; when its host dies, it follows the leader only once the member key expired (ttl)",
          arguments: 1...6)
    func followsUpstreamUntilKeyExpires(seed: UInt64) throws {
        let o = try simulate(Self.base + """

            patroni: { tags: { db3: { replicatefrom: db2 } } }
            faults: [ { at: 60s, crash: db2 } ]
            """, seed: seed)
        let s = streams(o, "db3")
        #expect(s.first?.from == "db2")
        let crash = o.fault(0).startNs
        let expired = try #require(o.first("lease_expired", after: crash) { $0.detail.text.contains("members/db2") })
        let back = try #require(s.first { $0.from == "db1" })
        // No stream from anyone between the crash and the key's expiry.
        #expect(!s.contains { $0.t > crash && $0.t < expired.timeNs })
        #expect(back.t >= expired.timeNs && back.t - expired.timeNs <= 11 * Time.s, "\(seconds(back.t - expired.timeNs)) s after the key expired")
        #expect(o.findings.rpo?.lostWrites == 0)
        #expect(o.newPrimaries == ["db1"])
    }

    /// A cascaded standby is not in the primary's pg_stat_replication, so `_ReplicaList` never
    /// offers it as a synchronous standby.
    @Test("in synchronous mode a cascaded replica never becomes the synchronous standby while it cascades")
    func cascadedNeverSync() throws {
        let o = try simulate(Self.base + """

            patroni: { synchronous_mode: true, tags: { db3: { replicatefrom: db2 } } }
            faults: [ { at: 60s, crash: db2 } ]
            """)
        let db3FromDb1 = try #require(streams(o, "db3").first { $0.from == "db1" }).t
        let syncs = o.entries("sync_key").filter { ($0.detail["sync_standby"]?.text ?? "").contains("db3") }
        #expect(!syncs.isEmpty, "db3 becomes synchronous once it streams from the primary")
        #expect(syncs.allSatisfy { $0.timeNs > db3FromDb1 }, "\(syncs.map { seconds($0.timeNs) }) vs \(seconds(db3FromDb1))")
    }

    /// `Patroni.reload_config` then the next cycle's `follow`: primary_conninfo is rewritten.
    @Test("set_tags giving a running replica replicatefrom moves its stream to that member at its next HA cycle")
    func replicatefromAtRuntime() throws {
        let o = try simulate(Self.base + """

            faults: [ { at: 60s, set_tags: { db3: { replicatefrom: db2 } } } ]
            """)
        let s = streams(o, "db3")
        #expect(s.first?.from == "db1")
        let moved = try #require(s.first { $0.from == "db2" })
        #expect(moved.t > o.fault(0).startNs && moved.t - o.fault(0).startNs <= 11 * Time.s)
        #expect(o.entries("reload", host: "db3").first?.detail["replicatefrom"]?.stringValue == "db2")
    }

    @Test("a replicatefrom naming an unknown member is an error with its path")
    func badUpstream() {
        let e: [String]
        switch ScenarioLoader.load(text: Self.base + "\npatroni: { tags: { db3: { replicatefrom: db7 } } }\n", file: "x.yml", overrides: []) {
        case .success: e = []
        case .failure(let err): e = err.diagnostics.map(\.description)
        }
        #expect(e.contains { $0.contains("patroni.tags.db3.replicatefrom") && $0.contains("expected one of db1, db2, db3") }, "\(e)")
    }
}
