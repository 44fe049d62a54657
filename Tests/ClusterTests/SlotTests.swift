import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// Replication slots as Patroni 4 keeps them (`SlotsHandler`, `Cluster._get_members_slots`,
/// `AbstractDCS._build_retain_slots`) and what they do to pg_wal.
@Suite("Replication slots and pg_wal")
struct SlotTests {
    static let base = """
        name: slots
        topology: etcd-separate
        """

    func msgs(_ o: Outcome, _ host: String) -> [(t: Nanos, msg: String)] {
        o.entries("slot", host: host).compactMap { e in e.detail["msg"]?.stringValue.map { (e.timeNs, $0) } }
    }

    /// A replica's slot outlives its member key on the leader for member_slots_ttl; a replica
    /// (which keeps slots only for members with keys) drops it at once.
    @Test("the leader keeps a dead replica's slot for member_slots_ttl after its key expired, then drops it; the other replica drops it with the key",
          arguments: 1...3)
    func memberSlotsTtl(seed: UInt64) throws {
        let o = try simulate(Self.base + """

            duration: 8m
            patroni: { member_slots_ttl: 120 }
            workload: { clients: 2, rate: 50/s }
            faults: [ { at: 60s, jitter: 10s, crash: db3 } ]
            """, seed: seed)
        let expired = try #require(o.first("lease_expired") { $0.detail.text.contains("members/db3") })
        let leader = msgs(o, "db1")
        let forgotten = try #require(leader.first { $0.msg == "Replication slot 'db3' for absent cluster member is expired after 120 sec." })
        let d = seconds(forgotten.t - expired.timeNs)
        // Last seen by the leader's last cycle before the key expired (within loop_wait).
        #expect(d >= 109 && d <= 131, "\(d) s after the key expired")
        #expect(leader.contains { $0.t == forgotten.t && $0.msg == "Dropped replication slot 'db3'" })
        let replica = msgs(o, "db2")
        let dropped = try #require(replica.first { $0.msg == "Dropped replication slot 'db3'" })
        #expect(dropped.t >= expired.timeNs && dropped.t - expired.timeNs <= 11 * Time.s)
    }

    /// Nothing advances a permanent slot without its consumer: pg_wal grows on every member
    /// until the primary cannot write WAL (PANIC), its restarts fail the same way, and
    /// Patroni's post_recover gives the key up.
    @Test("a permanent slot nobody consumes fills pg_wal: the primary PANICs ('No space left on device'), cannot restart, and gives its key up")
    func permanentSlotFillsDisk() throws {
        let o = try simulate(Self.base + """

            duration: 12m
            patroni: { slots: { debezium: { type: logical, database: app, plugin: pgoutput } } }
            postgresql: { wal_disk: 512MB }
            workload: { clients: 4, rate: 200/s, write_size: 8KB }
            """)
        let panic = try #require(o.first("wal_disk_full", host: "db1"))
        #expect(panic.detail["msg"]?.stringValue?.hasPrefix("PANIC:  could not write to file \"pg_wal/xlogtemp.") == true)
        #expect(panic.detail["msg"]?.stringValue?.hasSuffix("No space left on device") == true)
        let bytes = panic.detail["pg_wal_bytes"]?.intValue ?? 0
        #expect(bytes > 512 << 20 && bytes < (512 << 20) + (1 << 20))
        let restart = try #require(o.first(Kind.pgState, host: "db1", after: panic.timeNs) { $0.detail["state"]?.stringValue == "start failed" })
        #expect(restart.detail["why"]?.stringValue?.contains("No space left on device") == true)
        let said = o.entries(Kind.patroni, host: "db1").compactMap { $0.detail["msg"]?.stringValue }
        #expect(said.contains("removed leader key after trying and failing to start postgres"))
        // The WAL rate is ~1.2 MB/s: 512 MB fill in about seven minutes.
        #expect(seconds(panic.timeNs) > 300 && seconds(panic.timeNs) < 480, "\(seconds(panic.timeNs))")
        #expect(o.newPrimaries.count >= 2)
    }

    /// `InvalidateObsoleteReplicationSlots` at a checkpoint; Patroni then drops the lost slot
    /// ("with wal_status=lost") and creates it again.
    @Test("max_slot_wal_keep_size invalidates the abandoned slot at a checkpoint, pg_wal stops growing and the primary never PANICs")
    func maxSlotWalKeepSize() throws {
        let o = try simulate(Self.base + """

            duration: 12m
            patroni: { slots: { debezium: { type: physical } } }
            postgresql: { wal_disk: 512MB, max_slot_wal_keep_size: 200MB, max_wal_size: 256MB, checkpoint_timeout: 60s }
            workload: { clients: 4, rate: 200/s, write_size: 8KB }
            """)
        #expect(o.entries("wal_disk_full").isEmpty)
        let inv = try #require(o.first("slot_invalidated", host: "db1"))
        #expect(inv.detail["msg"]?.stringValue == "invalidating obsolete replication slot \"debezium\"")
        #expect(msgs(o, "db1").contains { $0.t >= inv.timeNs && $0.msg == "Trying to drop replication slot 'debezium' with wal_status=lost" })
        #expect(o.newPrimaries == ["db1"])
    }

    /// Without a slot nothing holds WAL for a standby that was away: it asks for a segment
    /// that is gone and retries for ever (Patroni does not reinitialize it by itself).
    @Test("a replica back after its slot was dropped finds its WAL removed: 'requested WAL segment ... has already been removed'")
    func walRemovedAfterSlotDropped() throws {
        let o = try simulate(Self.base + """

            duration: 10m
            patroni: { member_slots_ttl: 60 }
            postgresql: { wal_keep_size: 16MB, checkpoint_timeout: 60s }
            workload: { clients: 4, rate: 200/s, write_size: 8KB }
            faults: [ { at: 60s, crash: db3, for: 5m } ]
            """)
        let back = o.fault(0).startNs + 5 * 60 * Time.s
        let refused = o.entries("streaming_refused", host: "db3").filter { $0.timeNs > back }
        #expect(refused.count >= 10)
        let why = refused.first?.detail["why"]?.stringValue ?? ""
        #expect(why.hasPrefix("could not receive data from WAL stream: ERROR:  requested WAL segment 0000000100000000"), "\(why)")
        #expect(why.hasSuffix(" has already been removed"))
        #expect(!o.entries("streaming", host: "db3").contains { $0.timeNs > back })
    }

    @Test("slots: invalid names, an unknown type and a wal_disk too small are errors with their paths")
    func badSlots() {
        var e: [String] = []
        if case .failure(let err) = ScenarioLoader.load(text: Self.base + """

            duration: 1m
            patroni: { slots: { Debezium: { type: logical }, backup: { type: streaming }, x: { database: app } } }
            postgresql: { wal_disk: 1MB }
            """, file: "x.yml", overrides: []) { e = err.diagnostics.map(\.description) }
        #expect(e.contains { $0.contains("patroni.slots.Debezium") && $0.contains("lower-case") }, "\(e)")
        #expect(e.contains { $0.contains("patroni.slots.backup.type") && $0.contains("physical, logical") }, "\(e)")
        #expect(e.contains { $0.contains("patroni.slots.x") && $0.contains("missing required key 'type'") }, "\(e)")
        #expect(e.contains { $0.contains("postgresql.wal_disk") && $0.contains("at least 64MB") }, "\(e)")
    }
}
