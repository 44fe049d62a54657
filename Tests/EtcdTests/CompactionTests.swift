import Testing
import Settings
import SimCore
import Recording
@testable import Etcd

/// Raft log compaction and snapshots as etcd has them: `snapshot-count` applied entries
/// between snapshots, the log compacted to `SnapshotCatchUpEntries` behind, and a follower
/// behind that gets a `MsgSnap` (etcd.md §4.3).
@Suite("etcd snapshots and log compaction")
struct CompactionTests {
    static func small() -> EtcdConfig {
        var c = EtcdConfig()
        c.snapshotCount = 50
        c.snapshotCatchUpEntries = 10
        return c
    }

    /// `n` puts to `/k0`…, each awaited.
    static func writes(_ h: EtcdHarness, _ n: Int, from: Int = 0) {
        for i in from..<(from + n) {
            let o = h.await(h.call(.put(h.key("/k\(i % 20)"), ValueID(i + 1), lease: 0)))
            #expect(o?.response != nil, "put \(i)")
        }
    }

    static func sameState(_ h: EtcdHarness, _ a: Int, _ b: Int) -> Bool {
        (0..<20).allSatisfy { h.members[a].value(h.key("/k\($0)")) == h.members[b].value(h.key("/k\($0)")) }
            && h.members[a].revision == h.members[b].revision
    }

    @Test("logs stay bounded: every member compacts to the catch-up window behind its snapshot")
    func compacts() {
        let h = EtcdHarness(config: Self.small(), seed: 4)
        _ = h.awaitLeader()
        Self.writes(h, 300)
        h.run(for: Time.s)
        for m in h.members {
            #expect(m.raft.offset > 200, "compacted to \(m.raft.offset)")
            #expect(m.raft.log.count <= 50 + 10 + 2, "\(m.raft.log.count) entries held")
            #expect(m.invariantViolations.isEmpty)
        }
        #expect(h.violations.isEmpty, "\(h.violations)")
    }

    @Test("a member down while the log is compacted past it catches up from a snapshot, then by entries")
    func catchUpBySnapshot() {
        let h = EtcdHarness(config: Self.small(), seed: 5)
        _ = h.awaitLeader()
        let l = h.leader()!, f = (l + 1) % 3
        h.crash(f)
        Self.writes(h, 200)
        h.restart(f)
        h.run(for: 5 * Time.s)
        let snaps = h.rec.timeline.filter { $0.kind == "etcd_snapshot_applied" && $0.host == "e\(f + 1)" }
        #expect(snaps.count == 1, "\(snaps.count) snapshots applied")
        #expect(Self.sameState(h, f, l))
        // It goes on by entries once restored.
        Self.writes(h, 30, from: 200)
        h.run(for: Time.s)
        #expect(Self.sameState(h, f, h.leader()!))
        #expect(h.members[f].appliedIndex == h.members[h.leader()!].appliedIndex)
        #expect(h.violations.isEmpty, "\(h.violations)")
        #expect(h.members.allSatisfy { $0.invariantViolations.isEmpty })
    }

    @Test("a restarted member recovers from its own snapshot and the entries after it; so does one restored from the leader's")
    func recoversFromSnapshot() {
        let h = EtcdHarness(config: Self.small(), seed: 6)
        _ = h.awaitLeader()
        let l = h.leader()!, f = (l + 2) % 3
        Self.writes(h, 120)
        h.run(for: Time.s)
        #expect(h.members[f].durableSnapshot != nil)
        h.crash(f)
        h.run(for: Time.s)
        h.restart(f)
        h.run(for: 3 * Time.s)
        #expect(Self.sameState(h, f, h.leader()!))
        #expect(!h.rec.timeline.contains { $0.kind == "etcd_snapshot_applied" }, "it was within the catch-up window")
        // Down past the window: restored from the leader's snapshot, then restarted again.
        h.crash(f)
        Self.writes(h, 150, from: 120)
        h.restart(f)
        h.run(for: 3 * Time.s)
        #expect(h.rec.timeline.contains { $0.kind == "etcd_snapshot_applied" && $0.host == "e\(f + 1)" })
        h.crash(f)
        h.run(for: Time.s)
        h.restart(f)
        h.run(for: 3 * Time.s)
        #expect(Self.sameState(h, f, h.leader()!))
        #expect(h.violations.isEmpty, "\(h.violations)")
    }

    @Test("a snapshot that arrives while the follower's fsync runs, then crashes and restarts around it: it recovers, over seeds")
    func snapshotDuringFsync() {
        for seed in 0..<24 as Range<UInt64> {
            let h = EtcdHarness(config: Self.small(), seed: seed)
            _ = h.awaitLeader()
            let f = (h.leader()! + 1) % 3
            h.members[f].fsync = Latency(.uniform(lo: 20 * Time.ms, hi: 80 * Time.ms))
            h.crash(f)
            Self.writes(h, 60)
            h.restart(f)
            // Crash somewhere in the catch-up (the snapshot, its save, the fsync after it).
            h.run(for: Nanos(seed % 8) * 40 * Time.ms)
            h.crash(f)
            h.run(for: 100 * Time.ms)
            h.restart(f)
            h.run(for: 4 * Time.s)
            #expect(Self.sameState(h, f, h.leader()!), "seed \(seed)")
            #expect(h.violations.isEmpty, "seed \(seed): \(h.violations.map(\.detail))")
            #expect(h.members.allSatisfy { $0.invariantViolations.isEmpty }, "seed \(seed)")
        }
    }

    @Test("a member down while the ops table moves past its log's proposals still replays them on restart (its log pins them)")
    func downLongerThanTheWindow() {
        let h = EtcdHarness(config: Self.small(), seed: 8)
        _ = h.awaitLeader()
        let f = (h.leader()! + 2) % 3
        Self.writes(h, 120)
        #expect(h.members[f].durableSnapshot != nil)
        h.crash(f)
        // More proposals than twice the ops window (snapshot_count + catch-up + 16,384).
        Self.writes(h, 2 * (50 + 10 + 16_384) + 500, from: 120)
        #expect(h.shared.ops.base > 0, "the ops table dropped rows")
        h.restart(f)
        h.run(for: 3 * Time.s)
        #expect(h.shared.limitHit == nil, "\(h.shared.limitHit ?? "")")
        #expect(Self.sameState(h, f, h.leader()!))
        #expect(h.violations.isEmpty)
    }
}
