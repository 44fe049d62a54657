import Testing
import Settings
import SimCore
import Recording
@testable import Etcd

@Suite("etcd safety over many seeds")
struct SafetyPropertyTests {
    /// Random crashes, restarts, pauses and partitions (symmetric and one-way) under a steady
    /// write load, on 3- or 5-member clusters with PreVote on or off. On every run: at most one
    /// leader per term, committed entries never change, every member's KV agrees at every
    /// revision (checked by the model during the run), and at the end every member's committed
    /// log is a prefix of the cluster's committed history.
    @Test("Raft safety holds across 1,000 seeds of random faults")
    func randomFaults() {
        var totalElections = 0, totalCommitted = 0
        for seed in 0..<1000 {
            var r = Rng(seed: UInt64(seed) &* 7919)
            let n = r.chance(0.3) ? 5 : 3
            var cfg = EtcdConfig()
            cfg.preVote = r.chance(0.5)
            let h = EtcdHarness(n: n, config: cfg, seed: UInt64(seed))
            let faultHost = { Int(r.below(UInt64(n))) }
            var t: Nanos = 2 * Time.s
            var writes = 0
            while t < 30 * Time.s {
                h.run(until: t)
                // A write most steps, through a random client endpoint.
                h.call(.put(h.key("/k\(r.below(4))"), UInt32(writes), lease: 0), retry: false)
                writes += 1
                switch r.below(12) {
                case 0: let m = faultHost(); if h.members[m].running { h.crash(m) }
                case 1: let m = faultHost(); if !h.members[m].running { h.restart(m) }
                case 2: h.pause(faultHost())
                case 3: for m in 0..<n { h.resume(m) }
                case 4: h.isolate(faultHost())
                case 5:
                    let a = faultHost(), b = faultHost()
                    if a != b { h.fabric.cut(a, b) }  // one-way
                case 6: h.heal()
                default: break
                }
                t += Nanos(200 + r.below(800)) * Time.ms
            }
            // Let everything recover.
            h.heal()
            for m in 0..<n {
                h.resume(m)
                if !h.members[m].running { h.restart(m) }
            }
            h.run(for: 15 * Time.s)
            #expect(h.violations.isEmpty, "seed \(seed): \(h.violations.map(\.detail))")
            let committed = h.shared.committedLog
            for m in h.members {
                for i in (m.raft.offset + 1)...max(m.raft.offset + 1, m.commitIndex) where i < committed.nextID && i <= m.raft.lastIndex {
                    if let c = committed[i], m.raft.entry(i) != c { Issue.record("seed \(seed): member \(m.slot) diverges at committed index \(i)"); break }
                }
            }
            #expect(h.leader() != nil, "seed \(seed): no leader after recovery")
            totalElections += h.elections.count
            totalCommitted += h.shared.committedEntries
        }
        // The faults did bite: many elections and many committed entries overall.
        #expect(totalElections > 2500)
        #expect(totalCommitted > 20_000)
    }
}
