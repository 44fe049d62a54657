import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis
import Patroni
import Etcd

/// The control plane's per-cycle records are kept compactly (packed timeline lines): what
/// a reader gets back must be exactly what was logged.
@Suite("Compact control-plane history")
struct CompactHistoryTests {
    static func line(_ t: Nanos, _ host: String, _ kind: String, _ d: JSON, component: String = "etcd") -> TimelineEntry {
        TimelineEntry(timeNs: t, host: host, component: component, kind: kind, detail: d)
    }

    static func same(_ a: TimelineEntry, _ b: TimelineEntry) -> Bool {
        a.timeNs == b.timeNs && a.host == b.host && a.component == b.component && a.kind == b.kind && a.detail.text == b.detail.text
    }

    @Test("member keys and lease renewals pack and read back exactly; any other shape is kept as logged")
    func packsLosslessly() {
        let member: JSON = .object([("member", .string("db1")), ("role", .string("primary")), ("state", .string("running")),
                                    ("timeline", .int(3)), ("xlog_location", .int(91_554_200)), ("streaming", .bool(false))])
        let lines: [TimelineEntry] = [
            Self.line(1, "db1", Kind.memberKey, member),
            Self.line(2, "db2", Kind.memberKey, .object([("member", .string("db2")), ("gone", true)])),
            Self.line(3, "db1", Kind.leaderLease, .object([("holder", .string("db1")), ("ttl_s", .int(30))])),
            Self.line(4, "", Kind.leaderLease, .object([("holder", .null), ("ttl_s", .int(30))])),
            // Not the observer's shapes: kept in full.
            Self.line(5, "db1", Kind.memberKey, member, component: "patroni"),
            Self.line(6, "db2", Kind.memberKey, member),
            Self.line(7, "db1", Kind.leaderLease, .object([("holder", .string("db2")), ("ttl_s", .int(30))])),
            Self.line(8, "db1", Kind.memberKey, .object([("member", .string("db1")), ("role", .string("primary")), ("state", .string("running")),
                                                         ("timeline", .int(70_000)), ("xlog_location", .int(1)), ("streaming", .bool(false))])),
            Self.line(9, "db1", Kind.memberKey, .object([("member", .string("db1")), ("gone", false)])),
            Self.line(10, "db1", Kind.faultStart, .object([("kind", .string("crash"))])),
        ]
        let t = Timeline(lines)
        #expect(t.count == lines.count)
        #expect(t.packedCount == 4)
        for (a, b) in zip(t, lines) { #expect(Self.same(a, b), "\(a) vs \(b)") }
    }

    @Test("a run's member keys and lease renewals are all packed (the observer writes only the packed shapes)")
    func runPacks() throws {
        let o = try libraryScenario("primary-crash.yml", seed: 3)
        let t = o.run.timeline
        let perCycle = t.filter { $0.kind == Kind.memberKey || $0.kind == Kind.leaderLease }.count
        #expect(perCycle > 100 && t.packedCount == perCycle, "\(t.packedCount) of \(perCycle)")
        #expect(t.filter { $0.kind == Kind.memberKey }.allSatisfy { $0.detail["member"]?.stringValue == $0.host })
    }

    @Test("Patroni's per-cycle values live in a ring per key: recent ones read back, an overwritten one is detected and stops the run")
    func valueRings() {
        let v = PatroniValues(names: ["db1", "db2"])
        let key: KeyID = 7, other: KeyID = 8
        func member(_ xlog: Int64) -> PValue {
            .member(MemberData(role: .primary, state: .running, xlogLocation: xlog, timeline: 1, streaming: false, nofailover: false,
                               failoverPriority: 1, nosync: false, syncPriority: 1, pause: false, checkpointAfterPromote: false))
        }
        let first = v.intern(member(0), key: key)
        // The value last written to the key again (the own-write cache) gets the same id.
        #expect(v.intern(member(0), key: key) == first)
        let n = PatroniValues.ringCapacity
        var ids = [first]
        for i in 1..<(n + 10) { ids.append(v.intern(member(Int64(i)), key: key)) }
        let otherID = v.intern(member(-1), key: other)
        // The last ringCapacity values of the key read back as written; the other key's ring is its own.
        #expect(v[ids[ids.count - 1]] == member(Int64(n + 9)))
        #expect(v[ids[10]] == member(10))
        #expect(v[otherID] == member(-1))
        #expect(v.limitHit == nil)
        // Values kept for the run are not ringed: the leader value is one id per member.
        let leader = v.intern(.leader(1), key: 1)
        #expect(v.intern(.leader(1), key: 1) == leader && v[leader] == .leader(1))
        // An overwritten value is never answered with another: nil, and the limit is named.
        #expect(v[ids[9]] == nil)
        #expect(v.limitHit?.contains("value table") == true)
    }

    @Test("every library scenario with etcd compacting every 100 entries: no safety check fails, and a member down long enough is restored from a snapshot", arguments: libraryFiles)
    func libraryWithCompaction(file: String) throws {
        let o = try libraryScenario(file, seed: 2, set: ["etcd.snapshot_count=100", "etcd.snapshot_catchup_entries=20"])
        #expect(o.findings.violations.isEmpty, "\(file): \(o.findings.violations.map(\.detail))")
        let base = try libraryScenario(file, seed: 2)
        // Compaction changes nothing a run decides until a follower needs a snapshot.
        let restored = o.run.counters.first { $0.0 == "etcd_snapshots_applied" }?.1 ?? 0
        if restored == 0 { #expect(o.run.traceHash == base.run.traceHash, "\(file)") }
    }

    @Test("an etcd member down for minutes while the others commit is restored from the leader's snapshot, and the cluster's findings hold")
    func memberRestoredFromSnapshot() throws {
        let yaml = """
        name: etcd-member-down
        duration: 8m
        topology: { preset: etcd-separate }
        etcd: { snapshot_count: 20, snapshot_catchup_entries: 5 }
        workload: { clients: 2, rate: 50/s }
        faults:
          - { at: 1m, crash: etcd2, for: 4m }
          - { at: 6m, crash: primary }
        expect: { failover: true, split_brain: none }
        """
        for seed in 1...3 as ClosedRange<UInt64> {
            let o = try simulate(yaml, seed: seed)
            #expect(o.findings.violations.isEmpty, "seed \(seed): \(o.findings.violations.map(\.detail))")
            #expect(o.entries("etcd_snapshot_applied", host: "etcd2").count >= 1, "seed \(seed)")
            #expect(o.findings.expectations.allSatisfy { $0.ok }, "seed \(seed): \(o.findings.expectations.map(\.detail))")
        }
    }
}
