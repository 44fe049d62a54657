import SimCore
import Recording
import Scenario
import Analysis

/// What every explored run must have, each property by name (`simctl explore` prints and
/// stores the names): the run's own consistency and the models' invariants (`RunProperties`:
/// Raft safety, no synchronous commit lost, ...), the safety promises the settings make, and
/// convergence after the heal phase.
public enum ExploreProperties {
    /// Everything a run is checked against, for the summary.
    public static let names = ["run.ends", "rto.non_negative", "rto.phases_add_up", "findings.consistent", "invariant.*",
                               "safety.acknowledged_writes", "safety.split_brain_with_watchdog", "safety.leader_key_handover",
                               "safety.timeline_reused", "liveness.converged", "liveness.replicas_rejoined", "expect.*"]

    /// Whether the settings promise that no acknowledged write is lost: synchronous mode,
    /// strict (no falling back to asynchronous), commits waiting for the standby's flush (`on`
    /// or `remote_apply`: `remote_write` survives a standby's crash only in its page cache),
    /// clients only through the front, and no fault that withdraws the promise (an
    /// `edit_config` can turn synchronous mode off, an operator's `failover` may name an
    /// asynchronous candidate, two lost data directories — lost disks or reinits — can be the
    /// primary's and its standby's, which is beyond any setting).
    public static func promisesNoLoss(_ s: Scenario) -> Bool {
        let p = s.patroni
        guard p.synchronousMode != .off, p.synchronousModeStrict, s.postgresql.synchronousCommit >= .on, s.workload.direct.isEmpty else { return false }
        // A reinit wipes a member's data directory as a lost disk does.
        let losesDisks = s.faults.filter { if case .loseDisk = $0.action { return true }; if case .reinit = $0.action { return true }; return false }.count
        return !s.faults.contains { if case .editConfig = $0.action { return true }; if case .failover = $0.action { return true }; return false } && losesDisks < 2
    }

    /// Whether a watchdog fences a primary that lost its lease (Patroni's `watchdog`: `required`,
    /// or `automatic` with a device), and all clients write through the front.
    public static func fenced(_ s: Scenario) -> Bool {
        let w = s.patroni.watchdog
        return (w.mode == .required || (w.mode == .automatic && w.hasDevice)) && s.workload.direct.isEmpty && s.topology.front != .none
    }

    /// - `healedAtNs`: when the heal phase began (liveness is judged at the end of the run,
    ///   the convergence bound after it).
    public static func check(_ s: Scenario, _ run: RunRecord, _ f: Findings, healedAtNs: Nanos?, checkExpect: Bool) -> [PropertyFailure] {
        var out = RunProperties.check(s, run, f)
        // Writes acknowledged with a WARNING after the client cancelled their synchronous-
        // replication wait were committed locally only: PostgreSQL's documented exception
        // (syncrep.c), outside what Patroni promises.
        if promisesNoLoss(s), let r = f.rpo, r.lostWrites - r.lostLocalOnly > 0 {
            out.append(PropertyFailure("safety.acknowledged_writes", "\(r.lostWrites - r.lostLocalOnly) acknowledged write(s) lost with synchronous_mode strict and synchronous_commit \(s.postgresql.synchronousCommit.rawValue)"))
        }
        if fenced(s), let k = f.splitBrain?.kinds.first(where: { $0.name == "timelines" }), k.totalNs > 0, let iv = k.intervals.first {
            out.append(PropertyFailure("safety.split_brain_with_watchdog", "\(iv.detail) from \(TextClock.clock(iv.startNs)) to \(TextClock.clock(iv.endNs)) with the watchdog \(s.patroni.watchdog.mode.rawValue)"))
        }
        out += keyHandover(run) + timelines(run)
        // Liveness needs a quiet end: noise keeps disturbing the cluster after the heal.
        // Nor past what the cluster survives without an operator.
        if let h = healedAtNs, s.noise.isEmpty, etcdDamaged(s, run) <= (s.topology.etcdHosts.count - 1) / 2,
           pgDataLost(s, run) < s.topology.dbHosts.count {
            out += converged(s, run, healedAtNs: h)
        }
        if checkExpect {
            for e in f.expectations where !e.ok { out.append(PropertyFailure("expect.\(e.name)", e.detail)) }
        }
        return out
    }

    /// One leader-key holder at a time: the key passes from one member to another only through
    /// its absence (Patroni creates it with prevExist=false and a lease; it is deleted or
    /// expires before another takes it — etcd3.py `attempt_to_acquire_leader`).
    static func keyHandover(_ run: RunRecord) -> [PropertyFailure] {
        var holder: String? = nil
        for e in run.timeline where e.kind == Kind.leaderKey {
            let h = e.detail["holder"]?.stringValue
            if let a = holder, let b = h, a != b {
                return [PropertyFailure("safety.leader_key_handover", "the leader key went from \(a) to \(b) at \(TextClock.clock(e.timeNs)) without being released or expiring")]
            }
            holder = h
        }
        return []
    }

    /// No timeline number names two histories: each promotion forks a new timeline, and two
    /// promotions to one number are two histories PostgreSQL cannot tell apart (a rewind or a
    /// replica following "timeline 3" can pick the wrong one). A crash's fork (WAL that was
    /// never flushed is gone, and the same timeline goes on) is not a promotion: walsenders
    /// send only flushed WAL, so nothing outside the crashed server saw the lost branch.
    static func timelines(_ run: RunRecord) -> [PropertyFailure] {
        var seen: [Int: ForkInfo] = [:]
        for f in run.forks {
            guard let pid = f.parent, let parent = run.forks.first(where: { $0.id == pid }), f.timeline > parent.timeline else { continue }
            if let other = seen[f.timeline] {
                return [PropertyFailure("safety.timeline_reused", "timeline \(f.timeline) is two histories: \(other.host)'s from \(TextClock.clock(other.createdNs)) and \(f.host)'s from \(TextClock.clock(f.createdNs))")]
            }
            seen[f.timeline] = f
        }
        return []
    }

    /// etcd members the run left without their data for good: a lost disk of an etcd host or
    /// process (the member cannot rejoin: it needs `member_remove` and `member_add`, etcd's
    /// documented repair, which needs a quorum), or a member removed and not added back.
    /// Beyond a quorum's tolerance ((n − 1) / 2) nothing converges without disaster recovery
    /// (a snapshot restore), so liveness is not judged.
    static func etcdDamaged(_ s: Scenario, _ run: RunRecord) -> Int {
        let etcd = Set(s.topology.etcdHosts)
        var damaged = Set<String>()
        for f in run.faults.sorted(by: { $0.startNs < $1.startNs }) {
            let parts = f.resolved.split(separator: "/").map(String.init)
            guard let host = parts.first, etcd.contains(host) else { continue }
            switch f.kind {
            case "lose_disk" where parts.count == 1 || parts[1] == "etcd": damaged.insert(host)
            case "member_remove": damaged.insert(host)
            case "member_add": damaged.remove(host)
            default: break
            }
        }
        return damaged.count
    }

    /// DB members whose PostgreSQL data directory the run wiped (a lost disk of the host or
    /// its PostgreSQL, a reinit). When that is every member, no copy may be left to promote
    /// or clone from: only a restore from backup brings the cluster back, so liveness is not
    /// judged.
    static func pgDataLost(_ s: Scenario, _ run: RunRecord) -> Int {
        let db = Set(s.topology.dbHosts)
        var lost = Set<String>()
        for f in run.faults where f.kind == "lose_disk" || f.kind == "reinit" {
            let parts = f.resolved.split(separator: "/").map(String.init)
            guard let host = parts.first, db.contains(host), parts.count == 1 || parts[1] == "postgres" else { continue }
            lost.insert(host)
        }
        return lost.count
    }

    /// After the heal phase, by the end of the run (`liveness.converged`): one running
    /// primary, holding the leader key; the front routing writes to it and nowhere else;
    /// writes acknowledged through the front in the last 15 s. And (`liveness.replicas_rejoined`)
    /// every other member running as its replica on its timeline and caught up (within 16 MB
    /// of its flushed WAL, on its history) — apart, because without pg_rewind a diverged old
    /// primary cannot rejoin by design (Patroni waits for an operator's reinit).
    static func converged(_ s: Scenario, _ run: RunRecord, healedAtNs: Nanos) -> [PropertyFailure] {
        var why: [String] = [], replicas: [String] = []
        let holder = run.timeline.last { $0.kind == Kind.leaderKey }?.detail["holder"]?.stringValue
        let primaries = run.finalPg.filter { $0.running && $0.primary }
        if holder == nil { why.append("nobody holds the leader key") }
        if primaries.count != 1 { why.append(primaries.isEmpty ? "no PostgreSQL runs as primary" : "\(primaries.map(\.host).joined(separator: " and ")) run as primaries") }
        if let p = primaries.first, let h = holder, p.host != h { why.append("\(p.host) is primary but \(h) holds the leader key") }
        if let p = primaries.first, primaries.count == 1 {
            for r in run.finalPg where r.host != p.host {
                if !r.running { replicas.append("\(r.host)'s PostgreSQL is not running"); continue }
                if r.primary { continue }
                if r.timeline != p.timeline { replicas.append("\(r.host) is on timeline \(r.timeline), the primary on \(p.timeline)"); continue }
                if !run.history(endingAt: p.flushed, contains: r.flushed) { replicas.append("\(r.host)'s WAL is not on the primary's history"); continue }
                if p.flushed.lsn - r.flushed.lsn > 16 << 20 { replicas.append("\(r.host) is \(p.flushed.lsn - r.flushed.lsn) bytes behind") }
            }
            if s.topology.front != .none {
                var up: [String: [String: Bool]] = [:]
                for e in run.timeline where e.kind == Kind.serverState && e.detail["backend"]?.stringValue == "write" {
                    up[e.host, default: [:]][e.detail["server"]?.stringValue ?? ""] = e.detail["up"]?.boolValue ?? false
                }
                for (inst, servers) in up.sorted(by: { $0.key < $1.key }) {
                    let routed = servers.filter(\.value).map(\.key).sorted()
                    if routed != [p.host] { why.append("\(inst) routes writes to \(routed.isEmpty ? "nothing" : routed.joined(separator: ", "))") }
                }
            }
        }
        if s.workload.clients > 0 && s.workload.rate > 0 {
            let since = run.durationNs - 15 * Time.s
            let acked = run.keptWrites.contains { $0.directHost < 0 && $0.outcome == .ok && $0.doneNs >= since }
                || run.writeSpans.contains { $0.directHost < 0 && $0.maxDoneNs >= since }
            if !acked { why.append("no write acknowledged through the front in the last 15 s") }
        }
        let after = "\(DurationText.format(run.durationNs - healedAtNs)) after the heal at \(TextClock.clock(healedAtNs)): "
        var out: [PropertyFailure] = []
        if !why.isEmpty { out.append(PropertyFailure("liveness.converged", after + why.joined(separator: "; "))) }
        if !replicas.isEmpty { out.append(PropertyFailure("liveness.replicas_rejoined", after + replicas.joined(separator: "; "))) }
        return out
    }
}
