import SimCore
import Scenario

/// One generated fault, kept as parts so that shrinking can change one at a time: when, its
/// jitter, the action (scenario-language text after the time, e.g. `crash: primary`), how long,
/// and simpler actions to try in its place.
public struct GeneratedFault: Sendable, Equatable {
    public var at: Int
    public var jitter = 0
    public var action: String
    public var forSeconds: Int? = nil
    public var kind: String
    /// Simpler actions that hit the same thing (shrinking tries them in order).
    public var simpler: [String] = []

    /// End of its effect: when it fires at the latest plus its length.
    public var endSeconds: Int { at + jitter + (forSeconds ?? 0) }

    /// The scenario-language line: `  - { at: 40s, jitter: 3s, crash: primary, for: 30s }`.
    public var yaml: String {
        "  - { at: \(at)s\(jitter > 0 ? ", jitter: \(jitter)s" : ""), \(action)\(forSeconds.map { ", for: \($0)s" } ?? "") }"
    }
}

/// Draws faults of every kind the scenario language has for a given cluster (its hosts and the
/// services on them), from one random stream. The swarm (`SwarmGenerator`) and the explorer
/// (`Explorer`) share it: a kind added to the language is added here once.
public struct FaultGenerator {
    public struct Host: Sendable {
        public var name: String
        public var services: [String]
        public init(name: String, services: [String]) {
            self.name = name
            self.services = services
        }
    }

    /// Every fault action the scenario language has (`Loader+Faults.swift`), but add_replica,
    /// which needs a topology with a DB host that is absent until it joins.
    public static let kinds = ["crash", "restart", "kill", "stop", "start", "pause", "resume", "partition", "partition_one_way",
                               "heal", "isolate", "lose_disk", "link", "slow_disk", "switchover", "failover", "pause_cluster",
                               "resume_cluster", "edit_config", "set_tags", "reinit", "restart_member", "member_remove", "member_add",
                               "replay_pause", "start_fails", "stop_hangs"]
    /// Kinds whose effect lasts until undone (`for:` undoes it), as the loader has them.
    static let undoable: Set<String> = ScenarioLoader.undoable.union(["partition_one_way"])

    let hosts: [Host]
    var dbHosts: [String] { hosts.filter { $0.services.contains("patroni") }.map(\.name) }
    var etcdHosts: [String] { hosts.filter { $0.services.contains("etcd") }.map(\.name) }
    var separate: Bool { !hosts.contains { $0.services.contains("etcd") && $0.services.contains("patroni") } }

    public init(hosts: [Host]) {
        self.hosts = hosts.filter { !$0.services.isEmpty }
    }

    /// One fault of `kind` at `at` (seconds). `bounded`: every kind that lasts gets a `for:`
    /// (so that the run can end healed); otherwise 60 % of them do. `room`: seconds left after
    /// `at` for its length.
    public func fault(_ kind: String, at: Int, room: Int, bounded: Bool, _ r: inout Rng) -> GeneratedFault {
        func pick<T>(_ xs: [T]) -> T { xs[Int(r.below(UInt64(xs.count)))] }
        func int(_ lo: Int, _ hi: Int) -> Int { Int(r.int(Int64(lo), Int64(max(lo, hi)))) }
        func chance(_ p: Double) -> Bool { r.chance(p) }
        let dbHosts = self.dbHosts, etcdHosts = self.etcdHosts
        let roles = ["primary", "replica", "sync_standby"]
        let etcdRoles = ["etcd_leader", "etcd_follower"]
        let allHostNames = hosts.map(\.name)
        func hostRef() -> String { chance(0.5) ? pick(roles + etcdRoles) : pick(allHostNames) }
        func processRef() -> String {
            if chance(0.4) {
                let role = pick(roles)
                return "\(role)/\(pick(["patroni", "postgres"] + (separate ? [] : ["etcd"])))"
            }
            let h = pick(hosts)
            return "\(h.name)/\(pick(h.services))"
        }
        var f = GeneratedFault(at: at, action: "", kind: kind)
        if Self.undoable.contains(kind) && (bounded || chance(0.6)) { f.forSeconds = int(5, min(120, room)) }
        if chance(0.5) { f.jitter = int(1, 10) }
        switch kind {
        case "crash":
            let t = hostRef()
            f.action = "crash: \(t)"
        case "isolate": f.action = "isolate: \(hostRef())"
        case "restart": f.action = "restart: \(chance(0.5) ? hostRef() : processRef())"
        case "kill", "stop", "start", "pause", "resume":
            let t = kind == "pause" && chance(0.3) ? hostRef() : processRef()
            f.action = "\(kind): \(t)"
            if kind == "pause" && !t.contains("/") { f.simpler = ["pause: \(t)/patroni"] }
        case "lose_disk": f.action = "lose_disk: \(chance(0.5) ? pick(["primary", "replica"] + dbHosts) : processRef())"
        case "partition":
            var shuffled = allHostNames
            r.shuffle(&shuffled)
            let cut = int(1, shuffled.count - 1)
            let a = chance(0.3) ? ["primary"] : Array(shuffled[..<cut])
            let b = Array(shuffled[cut...]).filter { !a.contains($0) }
            f.action = b.isEmpty ? "isolate: \(pick(allHostNames))" : "partition: [[\(a.joined(separator: ", "))], [\(b.joined(separator: ", "))]]"
            if a.count == 1 { f.simpler = ["isolate: \(a[0])"] }
        case "partition_one_way":
            let a = pick(["primary"] + dbHosts), b = pick(etcdHosts + dbHosts)
            f.action = a == b ? "isolate: \(a)" : "partition: { from: [\(a)], to: [\(b)] }"
        case "heal": f.action = "heal: all"
        case "link":
            let a = pick(allHostNames), b = pick(allHostNames)
            let lat = pick(["5ms", "50ms", "200ms", "1s"])
            let loss = chance(0.4) ? ", loss: \(pick(["0.01", "0.1", "0.5"]))" : ""
            f.action = a == b ? "pause: \(processRef())" : "link: { from: \(a), to: \(b), latency: \(lat)\(loss) }"
            if !loss.isEmpty { f.simpler = ["link: { from: \(a), to: \(b), latency: \(lat) }"] }
        case "slow_disk":
            let withDisk = hosts.filter { $0.services.contains("etcd") || $0.services.contains("postgres") }
            let h = pick(withDisk)
            let svc = pick(h.services.filter { $0 == "etcd" || $0 == "postgres" })
            f.action = "slow_disk: { target: \(h.name)/\(svc), fsync: \(pick(["50ms", "200ms", "1s", "3s"])) }"
        case "switchover":
            f.action = chance(0.5) ? "switchover: \(pick(dbHosts + ["sync_standby", "any"]))" : "switchover: { candidate: \(pick(dbHosts)) }"
            f.simpler = ["switchover: any"]
        case "failover": f.action = "failover: \(pick(dbHosts))"
        case "pause_cluster": f.action = "pause_cluster: true"
        case "resume_cluster": f.action = "resume_cluster: true"
        case "edit_config":
            f.action = "edit_config: { \(pick(["ttl: \(pick([20, 30, 45]))", "loop_wait: \(pick([1, 5, 10]))", "retry_timeout: \(pick([3, 5, 10]))", "maximum_lag_on_failover: 16MB", "synchronous_mode: \(pick(["true", "false"]))", "failsafe_mode: \(pick(["true", "false"]))"])) }"
        case "set_tags":
            let tag = pick(["nofailover: \(pick(["true", "false"]))", "failover_priority: \(pick([0, 1, 2]))", "nosync: \(pick(["true", "false"]))",
                            "sync_priority: \(pick([0, 1, 3]))", "noloadbalance: true", "replicatefrom: \(pick(dbHosts))"])
            f.action = "set_tags: { \(pick(dbHosts)): { \(tag) } }"
        case "replay_pause": f.action = "replay_pause: \(pick(dbHosts + ["sync_standby", "replica"]))"
        case "start_fails": f.action = "start_fails: { target: \(pick(dbHosts + ["primary", "replica"])), reason: \(pick(["bad_parameter", "missing_wal"])) }"
        case "stop_hangs": f.action = "stop_hangs: \(pick(dbHosts + ["primary", "replica"]))"
        case "reinit": f.action = "reinit: \(pick(dbHosts))"
        case "restart_member": f.action = "restart_member: \(pick(dbHosts))"
        case "member_remove": f.action = "member_remove: \(pick(etcdHosts))"
        case "member_add": f.action = "member_add: \(pick(etcdHosts))"
        default: f.action = "crash: \(hostRef())"
        }
        // Actions that are instants (or `for:` does not apply to what they became).
        let instant = ["heal", "resume_cluster", "start:", "resume:", "switchover", "failover", "edit_config", "set_tags", "reinit", "restart", "member_"]
        if instant.contains(where: { f.action.hasPrefix($0) }) { f.forSeconds = nil }
        return f
    }
}
