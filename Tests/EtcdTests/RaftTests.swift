import Testing
import SimCore
import Recording
@testable import Etcd

@Suite("etcd Raft: elections, CheckQuorum, PreVote")
struct RaftTests {
    @Test("the first election completes within ~2 s and the leader stays stable")
    func firstElection() {
        let h = EtcdHarness(seed: 3)
        let t = h.awaitLeader()
        #expect(t != nil)
        #expect(t! < 2500 * Time.ms)
        let l = h.leader()!, term = h.members[l].term
        h.run(until: 60 * Time.s)
        #expect(h.leader() == l)
        #expect(h.members[l].term == term)
        #expect(h.elections.count == 1)
        #expect(h.members.allSatisfy { $0.term == term && $0.leader == l })
        #expect(h.violations.isEmpty)
    }

    @Test("a leader crash gives a new leader 0.8–2.5 s later, across 300 seeds")
    func leaderCrash() {
        var gaps: [Nanos] = []
        for seed in 0..<300 {
            let h = EtcdHarness(seed: UInt64(seed))
            _ = h.awaitLeader()
            h.run(until: 5 * Time.s)
            let old = h.leader()!
            let crashAt = h.now
            h.crash(old)
            guard let t = h.awaitLeader(excluding: old) else { Issue.record("seed \(seed): no new leader"); continue }
            gaps.append(t - crashAt)
            #expect(h.violations.isEmpty, "seed \(seed)")
        }
        gaps.sort()
        // Detection is (R−1..R] ticks after the last heartbeat, R in [10, 19] (etcd.md §1.2);
        // the last heartbeat came up to one tick before the crash. Plus pre-vote, vote (with
        // fsync) and the 10 ms polling of this test.
        #expect(gaps.first! >= 800 * Time.ms)
        #expect(gaps.last! <= 2500 * Time.ms)
        let median = gaps[gaps.count / 2]
        #expect(median > 1100 * Time.ms && median < 1800 * Time.ms, "median \(DurationText.format(median))")
    }

    @Test("a leader cut off from the majority steps down between 1 and 2 election timeouts")
    func checkQuorum() {
        for seed in 0..<50 {
            let h = EtcdHarness(seed: UInt64(seed))
            _ = h.awaitLeader()
            h.run(until: 5 * Time.s)
            let old = h.leader()!
            let cut = h.now
            h.isolate(old)
            var steppedDown: Nanos? = nil
            while h.now < cut + 5 * Time.s {
                h.run(for: 10 * Time.ms)
                if !h.members[old].isLeader { steppedDown = h.now; break }
            }
            guard let sd = steppedDown else { Issue.record("seed \(seed): never stepped down"); continue }
            #expect(sd - cut >= 900 * Time.ms && sd - cut <= 2100 * Time.ms, "seed \(seed): \(DurationText.format(sd - cut))")
            // Meanwhile the majority elected someone else, in a higher term.
            h.run(for: 3 * Time.s)
            let others = h.members.indices.filter { $0 != old && h.members[$0].isLeader }
            #expect(others.count == 1)
            #expect(h.members[others[0]].term > h.members[old].term)
        }
    }

    /// An isolated follower rejoins after 10 s. Without PreVote its term has grown and the
    /// leader's append draws a higher-term response that forces it down: one extra election.
    /// With PreVote it stays at its term and rejoins quietly.
    @Test("rejoin after isolation: PreVote off forces one extra election, PreVote on none", arguments: [false, true])
    func rejoin(preVote: Bool) {
        var extra: [Int] = []
        for seed in 0..<30 {
            var cfg = EtcdConfig()
            cfg.preVote = preVote
            let h = EtcdHarness(config: cfg, seed: UInt64(seed))
            _ = h.awaitLeader()
            h.run(until: 5 * Time.s)
            let l = h.leader()!
            let f = (l + 1) % 3
            h.isolate(f)
            h.run(for: 10 * Time.s)
            if preVote {
                #expect(h.members[f].term == h.members[l].term, "a pre-candidate keeps its term")
            } else {
                #expect(h.members[f].term > h.members[l].term + 3, "a candidate bumps its term each timeout")
            }
            let before = h.elections.count
            h.heal()
            h.run(for: 10 * Time.s)
            extra.append(h.elections.count - before)
            #expect(h.leader() != nil)
            #expect(h.violations.isEmpty)
        }
        if preVote { #expect(extra.allSatisfy { $0 == 0 }) } else { #expect(extra.allSatisfy { $0 == 1 }) }
    }

    @Test("a stalled disk on the leader blocks its ticks and heartbeats: the others elect a new leader")
    func slowDisk() {
        let h = EtcdHarness(seed: 5)
        _ = h.awaitLeader()
        h.run(until: 5 * Time.s)
        let l = h.leader()!
        h.members[l].fsync = Latency(.constant(3 * Time.s))
        h.call(.put(h.key("/k"), 1, lease: 0))   // makes the leader fsync
        h.run(for: 5 * Time.s)
        let others = h.members.indices.filter { $0 != l && h.members[$0].isLeader }
        #expect(others.count == 1)
        #expect(h.violations.isEmpty)
    }

    @Test("a graceful stop of the leader hands over within milliseconds, without an election timeout")
    func gracefulTransfer() {
        let h = EtcdHarness(seed: 9)
        _ = h.awaitLeader()
        h.run(until: 5 * Time.s)
        let l = h.leader()!
        let t0 = h.now
        h.members[l].stopGracefully(h)
        let t = h.awaitLeader(limit: 5 * Time.s, excluding: l)!
        #expect(t - t0 < 100 * Time.ms)
        #expect(h.exited == [l])
    }
}

@Suite("Patroni's etcd client against a refusing member")
struct EtcdClientRefusalTests {
    /// Each connect gets its own RST: three calls in flight on one refusing member fail
    /// three attempts per round (one try and two retries each on a one-node cluster), then
    /// sleep; they used to fail each other's attempts, k² refusals per round.
    @Test("refusals fail only the attempt they answer; every call ends at the retry deadline")
    func refusalsPerAttempt() {
        let h = EtcdHarness(n: 1)
        h.run(for: 5 * Time.s)
        h.kernel.stop(h.memberProc[0])
        let tags = (0..<3).map { _ in h.call(.range(h.shared.keys.id("/k"), prefix: false, serializable: true), retry: true) }
        h.run(for: 15 * Time.s)
        for t in tags {
            guard case .failure? = h.results[t] else { Issue.record("call \(t) did not fail: \(String(describing: h.results[t]))"); continue }
        }
        // 10 s deadline, sleeps from 0.1 s doubling to 1 s (+ up to 0.8 s jitter): at most a
        // dozen rounds of 3 attempts per call.
        #expect(h.refusals <= 3 * 3 * 12, "\(h.refusals) refusals")
        #expect(h.refusals >= 3 * 3 * 4)
    }
}
