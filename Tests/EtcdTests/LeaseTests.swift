import Testing
import Settings
import SimCore
import Recording
@testable import Etcd

/// When `key` disappeared from the given member's applied state (polling every 10 ms).
func deletion(_ h: EtcdHarness, _ key: KeyID, member: Int, limit: Nanos) -> Nanos? {
    let end = h.now + limit
    while h.now < end {
        h.run(for: 10 * Time.ms)
        if h.members[member].running && h.members[member].value(key) == nil { return h.now }
    }
    return nil
}

/// Grants a lease and attaches a key; returns the lease and the time the grant completed.
func leasedKey(_ h: EtcdHarness, ttl: Int64, key: String) -> (LeaseID, Nanos) {
    let g = h.call(.leaseGrant(ttlSeconds: ttl))
    let id = h.await(g)!.leaseID!
    let granted = h.now
    let p = h.call(.put(h.key(key), 7, lease: id))
    _ = h.await(p)
    return (id, granted)
}

@Suite("etcd leases, reads and writes")
struct LeaseTests {
    @Test("a lease expires on time under a stable leader: TTL plus at most one 500 ms scan")
    func expiresOnTime() {
        for seed in 0..<20 {
            let h = EtcdHarness(seed: UInt64(seed))
            _ = h.awaitLeader()
            h.run(until: 3 * Time.s)
            let (_, granted) = leasedKey(h, ttl: 10, key: "/leader")
            let l = h.leader()!
            let gone = deletion(h, h.key("/leader"), member: l, limit: 20 * Time.s)!
            #expect(gone - granted >= 10 * Time.s && gone - granted <= 10_600 * Time.ms, "seed \(seed): \(DurationText.format(gone - granted))")
            #expect(h.rec.timeline.filter { $0.kind == Kind.leaseExpired }.count == 1)
        }
    }

    @Test("Patroni's update_leader transaction: re-put when the key still names us; else, nested, create it when nobody holds it; else nothing")
    func updateLeaderTxn() {
        let h = EtcdHarness(seed: 3)
        _ = h.awaitLeader()
        let leader = h.key("/leader"), me: ValueID = 11, other: ValueID = 12
        let g = h.call(.leaseGrant(ttlSeconds: 30))
        let lease = h.await(g)!.leaseID!
        func updateLeader() -> EtcdResponse.Result? {
            let create = h.shared.newTxn(Txn(compares: [Compare(key: leader, .createRevision(0))], success: [.put(leader, me, lease: lease)]))
            let t = h.shared.newTxn(Txn(compares: [Compare(key: leader, .value(me))], success: [.put(leader, me, lease: lease)], failure: [.txn(create)]))
            return h.await(h.call(.txn(t)))?.response?.result
        }
        // The key is gone (its old lease expired and nobody took it): the nested create runs.
        #expect(updateLeader() == .txn(succeeded: false, nested: true))
        #expect(h.members[h.leader()!].value(leader)?.value == me)
        // It names us: the plain re-put.
        #expect(updateLeader() == .txn(succeeded: true, nested: false))
        // Someone else holds it: neither branch writes.
        _ = h.await(h.call(.put(leader, other, lease: 0)))
        #expect(updateLeader() == .txn(succeeded: false, nested: false))
        #expect(h.members[h.leader()!].value(leader)?.value == other)
    }

    @Test("etcd raises a TTL under its minimum (2 s with defaults)")
    func minimumTTL() {
        let h = EtcdHarness()
        _ = h.awaitLeader()
        #expect(EtcdConfig().minLeaseTTLSeconds == 2)
        let g = h.call(.leaseGrant(ttlSeconds: 1))
        guard case .leaseGranted(_, let ttl)? = h.await(g)?.response?.result else { Issue.record("no grant"); return }
        #expect(ttl == 2)
    }

    @Test("keepalives keep a lease alive; a keepalive of a gone lease answers TTL 0")
    func keepAlive() {
        let h = EtcdHarness(seed: 2)
        _ = h.awaitLeader()
        let (id, _) = leasedKey(h, ttl: 5, key: "/member")
        for _ in 0..<10 {
            h.run(for: 3 * Time.s)
            let k = h.call(.leaseKeepAlive(id))
            guard case .keepAlive(let ttl)? = h.await(k)?.response?.result else { Issue.record("keepalive failed"); return }
            #expect(ttl == 5)
        }
        #expect(h.members[h.leader()!].value(h.key("/member")) != nil)
        _ = deletion(h, h.key("/member"), member: h.leader()!, limit: 10 * Time.s)
        let k = h.call(.leaseKeepAlive(id))
        guard case .keepAlive(let ttl)? = h.await(k)?.response?.result else { Issue.record("keepalive failed"); return }
        #expect(ttl == 0)
    }

    /// etcd.md §3.4: the new leader's lessor promotes every lease to now + election timeout +
    /// full TTL when it applies its first entry; the countdown so far is forgotten.
    @Test("a lease survives a leader change with its TTL reset to the full TTL plus the election timeout")
    func resetOnLeaderChange() {
        for seed in 0..<20 {
            let h = EtcdHarness(seed: UInt64(seed))
            _ = h.awaitLeader()
            h.run(until: 3 * Time.s)
            let (_, granted) = leasedKey(h, ttl: 10, key: "/leader")
            h.run(until: granted + 6 * Time.s)
            let old = h.leader()!
            h.crash(old)
            let elected = h.awaitLeader(excluding: old)!
            let l = h.leader()!
            let gone = deletion(h, h.key("/leader"), member: l, limit: 30 * Time.s)!
            // Without the reset it would have gone at granted + 10 s.
            #expect(gone > granted + 15 * Time.s)
            #expect(gone - elected >= 11 * Time.s && gone - elected <= 11_600 * Time.ms, "seed \(seed): \(DurationText.format(gone - elected)) after the election")
            #expect(h.rec.timeline.contains { $0.kind == Kind.leaseReset && $0.host == "e\(l + 1)" })
        }
    }

    @Test("no lease expires while quorum is lost; after it returns the lease gets TTL + ET again")
    func noExpiryWithoutQuorum() {
        let h = EtcdHarness(seed: 4)
        _ = h.awaitLeader()
        h.run(until: 3 * Time.s)
        _ = leasedKey(h, ttl: 5, key: "/leader")
        let l = h.leader()!
        let others = [0, 1, 2].filter { $0 != l }
        h.crash(others[0]); h.crash(others[1])
        h.run(for: 60 * Time.s)
        #expect(!h.members[l].isLeader, "CheckQuorum stepped it down")
        #expect(h.members[l].value(h.key("/leader")) != nil, "nothing expires without a leader")
        h.restart(others[0]); h.restart(others[1])
        let back = h.awaitLeader()!
        let nl = h.leader()!
        let gone = deletion(h, h.key("/leader"), member: nl, limit: 30 * Time.s)!
        #expect(gone - back >= 6 * Time.s && gone - back <= 6_700 * Time.ms, "\(DurationText.format(gone - back))")
        #expect(h.violations.isEmpty)
    }

    @Test("a write during quorum loss fails, and Patroni's client marks it indeterminate")
    func writeWithoutQuorum() {
        let h = EtcdHarness(seed: 6)
        _ = h.awaitLeader()
        h.run(until: 3 * Time.s)
        let l = h.leader()!
        for o in [0, 1, 2] where o != l { h.crash(o) }
        h.run(for: 3 * Time.s)
        let t0 = h.now
        let p = h.call(.put(h.key("/x"), 1, lease: 0))
        guard case .failure(_, let indeterminate)? = h.await(p) else { Issue.record("the write should fail"); return }
        #expect(indeterminate)
        // Patroni's retry gives up at retry_timeout (10 s) at the latest.
        #expect(h.now - t0 <= 10_500 * Time.ms)
    }

    @Test("a write whose answer is lost times out, yet it committed: indeterminate means unknown")
    func timedOutButCommitted() {
        let h = EtcdHarness(seed: 8)
        _ = h.awaitLeader()
        h.run(until: 3 * Time.s)
        // Establish the client's connection (to its current node), then make it the leader's.
        _ = h.await(h.call(.put(h.key("/warm"), 1, lease: 0)))
        let l = h.clients[0].base
        _ = l
        let client = h.fabric.net.hostCount - 1
        h.fabric.cut(l, client)
        for o in [0, 1, 2] where o != l { h.fabric.cut(o, client) }   // no member can answer the client
        let p = h.call(.put(h.key("/y"), 9, lease: 0), retry: false)
        guard case .failure(_, let indeterminate)? = h.await(p) else { Issue.record("the write should time out"); return }
        #expect(indeterminate)
        h.run(for: 1 * Time.s)
        #expect(h.members[h.leader()!].value(h.key("/y"))?.value == 9)
    }

    @Test("serializable reads answer from an isolated member's stale state; linearizable reads need a quorum")
    func reads() {
        let h = EtcdHarness(seed: 10)
        _ = h.awaitLeader()
        h.run(until: 3 * Time.s)
        let k = h.key("/r")
        _ = h.await(h.call(.put(k, 1, lease: 0)))
        let l = h.leader()!
        let f = (l + 1) % 3
        h.isolate(f)
        _ = h.await(h.call(.put(k, 2, lease: 0)))
        h.run(for: 100 * Time.ms)
        #expect(h.members[f].value(k)?.value == 1)
        #expect(h.members[l].value(k)?.value == 2)
        // A linearizable read through a healthy member sees the latest value.
        let lin = h.call(.range(k, prefix: false, serializable: false))
        if case .range(let id)? = h.await(lin)?.response?.result {
            #expect(h.shared.range(id).first?.1.value == 2)
        } else { Issue.record("linearizable read failed") }
    }

    @Test("watches deliver every change in order, including lease expiry deletes")
    func watch() {
        let h = EtcdHarness(seed: 12)
        _ = h.awaitLeader()
        h.run(until: 3 * Time.s)
        let prefix = h.key("/svc/")
        _ = h.clients[0].startWatch(prefix: prefix, fromRevision: 0, h)
        let (_, _) = leasedKey(h, ttl: 3, key: "/svc/leader")
        _ = h.await(h.call(.put(h.key("/svc/status"), 5, lease: 0)))
        h.run(for: 6 * Time.s)
        let kinds = h.watched.map { ($0.1.kind, h.shared.keys.name($0.1.key)) }
        #expect(kinds.map(\.1) == ["/svc/leader", "/svc/status", "/svc/leader"])
        #expect(kinds.map(\.0) == [.put, .put, .delete])
        let revs = h.watched.map(\.1.revision)
        #expect(revs == revs.sorted())
    }
}
