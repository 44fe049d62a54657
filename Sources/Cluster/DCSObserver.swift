import SimCore
import Recording
import Etcd
import Patroni

/// Records what Patroni's keys held over time, as a `patronictl list` would have read them:
/// each member key, the `/sync` key, and every renewal of the leader key's lease. Every member
/// applies every change; the first application of a (key, revision) is recorded.
final class DCSObserver {
    let rec: Recorder
    let keys: ClusterKeys
    let values: PatroniValues
    let names: [String]
    /// Per observed key, the last revision recorded.
    var lastRevision: [KeyID: Int64] = [:]
    /// The lease the leader key is attached to, and its holder.
    var leaderLease: LeaseID = 0
    var leaderHolder: String? = nil
    /// Leases that expired (their keys' deletion is an expiry, not a delete).
    var lastRenewal: [LeaseID: Nanos] = [:]
    /// Whether `/config` asks for quorum commit (patronictl then calls the voters "Quorum
    /// Standby", `patroni/utils.py` `cluster_as_json`).
    var quorumMode = false

    init(rec: Recorder, keys: ClusterKeys, values: PatroniValues, names: [String]) {
        self.rec = rec
        self.keys = keys
        self.values = values
        self.names = names
    }

    /// The keys seeded before the run (the steady state the run starts from), at time 0.
    func seeded(_ ops: [EntryOp]) {
        for op in ops {
            guard case .put(let k, let v, let lease) = op else { continue }
            record(0, WatchEvent(kind: .put, key: k, record: KVRecord(createRevision: 0, modRevision: 0, version: 1, value: v, lease: lease), revision: 0))
        }
    }

    func changed(_ t: Nanos, _ ev: WatchEvent) {
        let observed = ev.key == keys.leader || ev.key == keys.sync || keys.members.contains(ev.key)
        guard observed, ev.revision > (lastRevision[ev.key] ?? 0) else { return }
        lastRevision[ev.key] = ev.revision
        record(t, ev)
    }

    func record(_ t: Nanos, _ ev: WatchEvent) {
        if ev.key == keys.leader {
            leaderLease = ev.kind == .put ? ev.record.lease : 0
            leaderHolder = ev.kind == .put ? values.holderName(ev.record.value) : nil
            return
        }
        if ev.key == keys.config, ev.kind == .put, case .config(let c)? = values[ev.record.value] {
            quorumMode = c.synchronousMode == .quorum
            return
        }
        if ev.key == keys.sync {
            guard ev.kind == .put, case .sync(let leader, let standbys, let quorum)? = values[ev.record.value] else { return }
            var d: [(String, JSON)] = [("leader", .string(names[leader])), ("sync_standby", .array(standbys.map { .string(names[$0]) }))]
            if quorumMode { d.append(("quorum", .int(Int64(quorum)))) }
            rec.log(t, names[leader], "etcd", Kind.syncKey, .object(d))
            return
        }
        guard let m = keys.members.firstIndex(of: ev.key) else { return }
        if ev.kind == .delete {
            rec.log(t, names[m], "etcd", Kind.memberKey, .object([("member", .string(names[m])), ("gone", true)]))
            return
        }
        guard case .member(let d)? = values[ev.record.value] else { return }
        rec.log(t, names[m], "etcd", Kind.memberKey, .object([
            ("member", .string(names[m])), ("role", .string(d.role.rawValue)), ("state", .string(d.state.rawValue)),
            ("timeline", .int(Int64(d.timeline))), ("xlog_location", .int(d.xlogLocation)), ("streaming", .bool(d.streaming)),
        ]))
    }

    func renewed(_ t: Nanos, _ lease: LeaseID, ttlSeconds: Int64) {
        guard lease == leaderLease, lease != 0 else { return }
        // One entry per renewal instant (a keepalive forwarded twice renews once).
        if lastRenewal[lease] == t { return }
        lastRenewal[lease] = t
        if lastRenewal.count > 64 { lastRenewal = [lease: t] }
        rec.log(t, leaderHolder ?? "", "etcd", Kind.leaderLease, .object([("holder", leaderHolder.map(JSON.string) ?? .null), ("ttl_s", .int(ttlSeconds))]))
    }
}
