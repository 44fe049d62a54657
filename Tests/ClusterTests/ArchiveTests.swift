import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// The WAL archive: archive_command on the primary, restore_command on standbys, and the
/// `nostream` tag (`Ha._get_node_to_follow`: "the node must not use WAL streaming").
@Suite("WAL archive and nostream")
struct ArchiveTests {
    static let base = """
        name: archive
        topology: etcd-separate
        postgresql: { archive_mode: on, archive_timeout: 60s, restore_command: "cp /archive/%f %p" }
        workload: { clients: 4, rate: 200/s, write_size: 8KB }
        """

    @Test("a nostream member never streams: it restores each archived segment, follows the new timeline from the archive after a failover, and has no slot anywhere",
          arguments: 1...3)
    func nostreamRestoresFromArchive(seed: UInt64) throws {
        let o = try simulate(Self.base + """

            duration: 6m
            patroni: { tags: { db3: { nostream: true } } }
            faults: [ { at: 3m, jitter: 10s, crash: db1 } ]
            """, seed: seed)
        #expect(o.entries("streaming", host: "db3").isEmpty)
        let restored = o.entries("restored", host: "db3")
        #expect(restored.count >= 10)
        let first = try #require(restored.first?.detail["msg"]?.stringValue)
        #expect(first.hasPrefix("restored log file \"00000001") && first.hasSuffix("\" from archive"), "\(first)")
        // Each restore brings one 16 MB segment, so its position is always a segment boundary.
        #expect(restored.allSatisfy { ($0.detail["lsn"]?.intValue ?? 1) % (16 << 20) == 0 })
        let promoted = try #require(o.first(Kind.pgPromoted))
        #expect(restored.contains { $0.timeNs > promoted.timeNs && $0.detail["timeline"]?.intValue == 2 })
        #expect(!o.entries("slot").contains { ($0.detail["msg"]?.stringValue ?? "").contains("'db3'") })
        // It was never a candidate: too far behind the last optime.
        #expect(o.newPrimaries.last != "db3")
    }

    /// WaitForWALToBecomeAvailable falls back to the archive when streaming fails: a standby
    /// whose WAL its upstream removed catches up from the archive, then streams again.
    @Test("with restore_command, a replica whose WAL its upstream removed restores it from the archive and streams again")
    func archiveRescuesRemovedWal() throws {
        let o = try simulate("""
            name: archive
            topology: etcd-separate
            duration: 10m
            patroni: { member_slots_ttl: 60 }
            postgresql: { archive_mode: on, restore_command: "cp /archive/%f %p", wal_keep_size: 16MB, checkpoint_timeout: 60s }
            workload: { clients: 4, rate: 200/s, write_size: 8KB }
            faults: [ { at: 60s, crash: db3, for: 5m } ]
            """)
        let back = o.fault(0).startNs + 5 * 60 * Time.s
        let refused = try #require(o.first("streaming_refused", host: "db3", after: back))
        let restored = try #require(o.first("restored", host: "db3", after: refused.timeNs))
        let streams = try #require(o.first("streaming", host: "db3", after: restored.timeNs))
        #expect(streams.detail["from"]?.stringValue == "db1")
        #expect(streams.timeNs - back < 60 * Time.s, "\(seconds(streams.timeNs - back)) s after it came back")
    }

    @Test("archive_mode always is refused; restore_command takes a string")
    func badArchive() {
        var e: [String] = []
        if case .failure(let err) = ScenarioLoader.load(text: """
            name: x
            topology: etcd-separate
            postgresql: { archive_mode: always, restore_command: [cp] }
            """, file: "x.yml", overrides: []) { e = err.diagnostics.map(\.description) }
        #expect(e.contains { $0.contains("postgresql.archive_mode") && $0.contains("not modelled") }, "\(e)")
        #expect(e.contains { $0.contains("postgresql.restore_command") }, "\(e)")
    }
}
