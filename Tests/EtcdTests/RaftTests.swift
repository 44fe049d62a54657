import Testing
import Settings
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
    /// Each connect gets its own RST: three calls in flight on one refusing member fail only
    /// their own attempts; they used to fail each other's attempts, k² refusals per round.
    /// Per call and round on a one-node cluster (`_calculate_timeouts(1)`: 3 tries per node):
    /// up to 3 refused requests (fewer once less than 3 s is left: the tries are recomputed
    /// from the time remaining), then `_load_machines_cache` reads the member list with 3 tries:
    /// 4 to 6 refusals. Rounds start at 0 s and after sleeps of 0.1, 0.2, 0.4, 0.8, 1, 1 … s
    /// plus 0–0.8 s jitter each, while at least 1 s is left: 7 to 12 rounds in 10 s.
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
        #expect(h.refusals <= 3 * 6 * 12, "\(h.refusals) refusals")
        #expect(h.refusals >= 3 * 4 * 7, "\(h.refusals) refusals")
    }
}

/// The time a retrying call takes to fail when every member is unreachable, from
/// `AbstractEtcdClientWithFailover` (patroni/dcs/etcd.py, Patroni 4.1): `_calculate_timeouts`
/// gives each of n ≥ 3 nodes a total timeout of retry_timeout / n and a connect timeout of
/// max(1 s, total / 2), no urllib3 retries; `_do_http_request` tries every node of
/// `machines_cache`; then `api_execute` calls `_load_machines_cache`, which asks every node of
/// set(config + cache) for the member list with the same timeouts; then it computes the time
/// left after `retry.sleeptime` and raises when less than 1 s per node is left.
///
/// Dropped packets, 3 members, retry_timeout 10 s: the request on the pooled connection waits
/// its total 3.33 s; the two other nodes each time out connecting after 1.67 s; the member
/// list costs 3 × 1.67 s: 3.33 + 3.33 + 5.0 = 11.67 s, leaving nothing: the call fails. With 5
/// members: 2 s + 4 × 1 s + 5 × 1 s = 11 s. Refused connections cost a round trip each, so
/// rounds repeat after each sleep until less than 1 s would be left: the call fails between
/// 10 − 1 − 1.8 s (the longest sleep with jitter) and 10 s.
@Suite("Patroni's etcd client: time to fail against unreachable members")
struct EtcdClientArithmeticTests {
    func failTime(members n: Int, refuse: Bool, seed: UInt64) -> Double? {
        let h = EtcdHarness(n: n, seed: seed)
        _ = h.awaitLeader()
        // One successful call leaves a keep-alive connection to the base member in the pool.
        guard case .success? = h.await(h.call(.range(h.key("/k"), prefix: false, serializable: true))) else { return nil }
        h.run(for: Time.s)
        let t0 = h.now
        for m in 0..<n {
            if refuse { h.kernel.stop(h.memberProc[m]); h.fabric.processDied(h.memberProc[m]) } else {
                h.fabric.cut(n, m); h.fabric.cut(m, n)
            }
        }
        let tag = h.call(.range(h.key("/k"), prefix: false, serializable: true))
        guard case .failure? = h.await(tag, limit: 30 * Time.s) else { return nil }
        return seconds(h.now - t0)
    }

    func seconds(_ ns: Nanos) -> Double { Double(ns) / 1e9 }

    @Test("dropped: 11.67 s with 3 members, 11 s with 5", arguments: [(3, 11.667), (5, 11.0)])
    func dropped(members: Int, expected: Double) throws {
        for seed in UInt64(1)...4 {
            let t = try #require(failTime(members: members, refuse: false, seed: seed))
            #expect(abs(t - expected) < 0.02, "\(members) members, seed \(seed): failed after \(t) s")
        }
    }

    @Test("refused: rounds until less than a second is left, just under retry_timeout", arguments: [3, 5])
    func refused(members: Int) throws {
        for seed in UInt64(1)...4 {
            let t = try #require(failTime(members: members, refuse: true, seed: seed))
            #expect(t > 10 - 1 - 1.8 && t < 10, "\(members) members, seed \(seed): failed after \(t) s")
        }
    }

    @Test("calculate_timeouts matches Patroni's table")
    func table() {
        // (nodes, timeout) → (nodes tried, per-node timeout, urllib3 retries)
        let cases: [(Int, Double, Int, Double, Int)] = [
            (1, 10, 1, 10.0 / 3, 2), (2, 10, 2, 2.5, 1), (3, 10, 3, 10.0 / 3, 0), (5, 10, 5, 2, 0),
            (3, 2.5, 2, 1.25, 0), (3, 0.9, 0, 0.9, 0), (1, 1.5, 1, 1.5, 0),
        ]
        for (n, t, en, per, r) in cases {
            let (a, b, c) = EtcdClient.calculateTimeouts(nodes: n, timeoutS: t)
            #expect(a == en && abs(b - per) < 1e-9 && c == r, "\(n) nodes, \(t) s: \(a), \(b), \(c)")
        }
    }
}
