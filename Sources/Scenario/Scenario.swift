import SimCore
import Settings

/// A scenario: the cluster, its settings, the workload, the fault timeline and the
/// expectations. Produced by `ScenarioLoader`; every field is validated and typed.
public struct Scenario: Sendable {
    public var name = ""
    public var description = ""
    public var seed: UInt64 = 1
    public var durationNs: Nanos = 10 * Time.m
    public var topology = Topology()
    public var etcd = EtcdConfig()
    public var patroni = PatroniConfig()
    public var postgresql = PgConfig()
    public var haproxy = HAProxyConfig()
    public var keepalived = KeepalivedConfig()
    public var pgbouncer = PgBouncerConfig()
    public var envoy = EnvoyConfig()
    public var cloudLB = CloudLBConfig()
    public var network = NetworkConfig()
    public var workload = WorkloadConfig()
    public var faults: [FaultSpec] = []
    /// Disturbances that happen by themselves, at rates (`noise:`).
    public var noise = NoiseConfig()
    /// DB members that join mid-run (`add_replica`): absent at the start.
    public var joiningMembers: [String] { faults.compactMap { if case .addReplica(let m) = $0.action { return m }; return nil } }
    public var expectations: [Expectation] = []
    /// Patroni's own adjustments and other non-fatal notes, with positions.
    public var warnings: [Diagnostic] = []
    /// The `--set` overrides applied, as typed.
    public var overrides: [String] = []
    /// The file it came from, as given.
    public var file = ""
    /// The longest run: a year and a month of simulated time (a year of background noise).
    public static let maxDurationNs: Nanos = 400 * Time.d
    /// Settings of the real files named by `cluster:` that simctl does not model, with why.
    public var importNotes: [ImportNote] = []

    public init() {}
}

// MARK: - Topology

public enum Service: String, Sendable, CaseIterable, Comparable {
    case etcd, patroni, postgres, haproxy, keepalived, pgbouncer, envoy, lb, clients, monitor
    public static func < (a: Self, b: Self) -> Bool { a.order < b.order }
    var order: Int { Service.allCases.firstIndex(of: self)! }
}

public struct HostSpec: Sendable, Equatable {
    public var name: String
    /// Sorted, without duplicates. `patroni` always comes with `postgres`.
    public var services: [Service]
    public init(name: String, services: [Service]) {
        self.name = name
        var s = Set(services)
        if s.contains(.patroni) || s.contains(.postgres) { s.insert(.patroni); s.insert(.postgres) }
        self.services = s.sorted()
    }
    public func runs(_ s: Service) -> Bool { services.contains(s) }
}

/// Which load balancer fronts the database.
public enum Front: String, Sendable, CaseIterable { case haproxy, envoy, lb, none }

public struct Topology: Sendable, Equatable {
    public var preset: String? = "etcd-colocated"
    public var hosts: [HostSpec] = []
    /// The DB host whose PostgreSQL is primary when the run starts.
    public var initialPrimary = ""
    public var front: Front = .haproxy
    public init() {}

    public func host(_ name: String) -> HostSpec? { hosts.first { $0.name == name } }
    public func index(of name: String) -> Int? { hosts.firstIndex { $0.name == name } }
    public var dbHosts: [String] { hosts.filter { $0.runs(.patroni) }.map(\.name) }

    /// The name a host's random streams are keyed by: its kind and ordinal as a preset names
    /// it (`db2`, `etcd1`, `haproxy1`, `app1`), not its label. Renaming hosts (`node1` for
    /// `db1`, as an imported cluster does) changes no draw, so an imported cluster replays
    /// the hand-written scenario of the same layout.
    public func streamName(_ index: Int) -> String {
        guard let kind = Self.streamKind(hosts[index]) else { return hosts[index].name }
        let n = hosts[0...index].filter { Self.streamKind($0) == kind }.count
        return "\(kind)\(n)"
    }

    /// A host's kind as presets name it: what it runs first in this order.
    static func streamKind(_ h: HostSpec) -> String? {
        for (svc, kind) in [(Service.patroni, "db"), (.etcd, "etcd"), (.haproxy, "haproxy"), (.envoy, "envoy"), (.lb, "lb"), (.clients, "app")]
        where h.runs(svc) { return kind }
        return nil
    }
    public var etcdHosts: [String] { hosts.filter { $0.runs(.etcd) }.map(\.name) }
}

// MARK: - Network

public struct LinkOverride: Sendable, Equatable {
    public var from: String
    public var to: String
    public var latency: Latency?
    public var loss: Double?
    public var bothWays = true
}

public struct NetworkConfig: Sendable, Equatable {
    public var latency = Latency.lan
    public var loss = 0.0
    public var links: [LinkOverride] = []
    public init() {}
}

// MARK: - Faults

/// Dynamic roles a fault may target instead of a host name; resolved when the fault fires.
public enum Role: String, Sendable, CaseIterable {
    /// The host whose PostgreSQL is primary (the leader-key holder if several claim it).
    case primary
    /// A replica (the first by name among running standbys, unless `pick: random`).
    case replica
    /// A synchronous standby listed in Patroni's `/sync` key.
    case syncStandby = "sync_standby"
    /// The host of the current etcd Raft leader.
    case etcdLeader = "etcd_leader"
    /// An etcd member that is not the leader.
    case etcdFollower = "etcd_follower"
}

public enum HostRef: Sendable, Equatable, CustomStringConvertible {
    case named(String)
    case role(Role)
    public var description: String {
        switch self { case .named(let n): n; case .role(let r): r.rawValue }
    }
}

/// A fault's target: a whole host, or one process (service) on it.
public struct Target: Sendable, Equatable, CustomStringConvertible {
    public var host: HostRef
    public var service: Service?
    public var description: String { service.map { "\(host)/\($0.rawValue)" } ?? host.description }
}

public enum FaultAction: Sendable, Equatable {
    case crash(HostRef)
    case restart(Target)
    case kill(Target)
    case stop(Target)
    case start(Target)
    case pause(Target)
    case resume(Target)
    case partition(groups: [[HostRef]])
    case partitionOneWay(from: [HostRef], to: [HostRef])
    case heal
    case isolate(HostRef)
    case loseDisk(Target)
    case link(from: HostRef, to: HostRef, latency: Latency?, loss: Double?, bothWays: Bool)
    case slowDisk(Target, fsync: Latency)
    // Operator actions (Patroni)
    case switchover(leader: String?, candidate: String?)
    case failover(candidate: String)
    case pauseCluster
    case resumeCluster
    case editConfig(PatroniConfig, changed: [String])
    /// A member's patroni.yml `tags` edited and reloaded (`patronictl reload`): its new tags.
    case setTags(host: String, PatroniConfig.Tags)
    /// `SELECT pg_wal_replay_pause()` on a standby (a host or a role, such as sync_standby);
    /// `for:` resumes it.
    case replayPause(HostRef)
    /// PostgreSQL on a DB host cannot start (a bad parameter in postgresql.conf, a missing
    /// WAL segment) until `for:` repairs it: a running server is not affected until it restarts.
    case startFails(HostRef, StartFailure)
    /// A fast shutdown of PostgreSQL on a DB host hangs (a stuck backend or walsender) until
    /// `for:` ends it; an immediate stop or a kill still works.
    case stopHangs(HostRef)
    /// A new DB member joins mid-run: until then its host is off and its data directory empty;
    /// at the fault it boots, and its Patroni clones it from the leader (pg_basebackup).
    case addReplica(String)
    case reinit(String)
    case restartMember(String)
    // Operator actions (etcd)
    case memberRemove(String)
    case memberAdd(String)

    /// The fault's kind as stored in the `faults` table.
    public var kind: String {
        switch self {
        case .crash: "crash"
        case .restart: "restart"
        case .kill: "kill"
        case .stop: "stop"
        case .start: "start"
        case .pause: "pause"
        case .resume: "resume"
        case .partition: "partition"
        case .partitionOneWay: "partition"
        case .heal: "heal"
        case .isolate: "isolate"
        case .loseDisk: "lose_disk"
        case .link: "link"
        case .slowDisk: "slow_disk"
        case .switchover: "switchover"
        case .failover: "failover"
        case .pauseCluster: "pause_cluster"
        case .resumeCluster: "resume_cluster"
        case .editConfig: "edit_config"
        case .setTags: "set_tags"
        case .replayPause: "replay_pause"
        case .startFails: "start_fails"
        case .stopHangs: "stop_hangs"
        case .addReplica: "add_replica"
        case .reinit: "reinit"
        case .restartMember: "restart_member"
        case .memberRemove: "member_remove"
        case .memberAdd: "member_add"
        }
    }

    /// The target as written, for the `faults` table and the report.
    public var targetText: String {
        switch self {
        case .crash(let h), .isolate(let h), .replayPause(let h), .stopHangs(let h): return h.description
        case .startFails(let h, let why): return "\(h) (\(why.name))"
        case .restart(let t), .kill(let t), .stop(let t), .start(let t), .pause(let t), .resume(let t),
             .loseDisk(let t), .slowDisk(let t, _):
            return t.description
        case .partition(let g): return g.map { "[" + $0.map(\.description).joined(separator: ",") + "]" }.joined(separator: " | ")
        case .partitionOneWay(let f, let t):
            return "[" + f.map(\.description).joined(separator: ",") + "] -> [" + t.map(\.description).joined(separator: ",") + "]"
        case .heal: return "all"
        case .link(let f, let t, _, _, let both): return "\(f)\(both ? "<->" : "->")\(t)"
        case .switchover(let l, let c): return "\(l ?? "leader")->\(c ?? "any")"
        case .failover(let c): return c
        case .pauseCluster, .resumeCluster: return "cluster"
        case .editConfig(_, let changed): return changed.joined(separator: ",")
        case .setTags(let h, _), .addReplica(let h): return h
        case .reinit(let m), .restartMember(let m), .memberRemove(let m), .memberAdd(let m): return m
        }
    }

    /// Faults after which the analysis measures a recovery time (RTO).
    public var disruptsService: Bool {
        switch self {
        case .heal, .resume, .start, .resumeCluster, .memberAdd, .editConfig, .setTags, .replayPause, .addReplica, .startFails, .stopHangs: return false
        case .restart(let t): return t.service != nil
        default: return true
        }
    }
}

public struct FaultSpec: Sendable, Equatable {
    public var index: Int
    public var atNs: Nanos
    /// Up to this much is added to `at`, drawn from the run's fault stream (so each seed
    /// lands the fault at a different phase of the Patroni and etcd loops).
    public var jitterNs: Nanos = 0
    /// If set, the fault is undone this long after it fires (heal, resume, restart, ...).
    public var forNs: Nanos?
    public var action: FaultAction
    public var line: Int
}

// MARK: - Expectations

/// A timeline event pattern: its kind, host, and detail fields each equal to a value as
/// written (`status: 412`, `up: false`, `check: GET /sync`).
public struct LogMatch: Sendable, Equatable {
    public var kind: String
    public var host: String?
    public var fields: [String] = []
    public var values: [String] = []
    public var min: Int = 1
    public var max: Int?
    public init(kind: String, host: String? = nil) {
        self.kind = kind
        self.host = host
    }
}

public struct Expectation: Sendable, Equatable {
    public enum Check: Sendable, Equatable {
        case rtoMax(Nanos, fault: Int?)
        case rtoMin(Nanos, fault: Int?)
        case rpoMaxWrites(Int)
        case rpoMaxBytes(Int64)
        case rpoMaxWindow(Nanos)
        case splitBrainNone
        case splitBrainMax(Nanos)
        case splitBrainPresent
        case failover(Bool)
        case finalPrimary(String)
        case invariantsHold
        case staleReadsMax(Int)
        case writesMin(Int)
        /// Timeline events of one kind (optionally on one host, with given detail fields)
        /// appear between `min` and `max` times: the REST answers, refusals and log lines a
        /// decision rested on.
        case logged(LogMatch)
    }
    public var check: Check
    public var name: String
    public var line: Int
}

extension Scenario {
    /// The keys whose value Patroni may change at start-up (`_validate_and_adjust_timeouts`),
    /// and what the run used for them: a sweep shows these beside what was asked for.
    public static let adjustedKeys = ["patroni.ttl", "patroni.loop_wait", "patroni.retry_timeout"]

    /// The value a setting ran with, in the form the scenario writes it, for keys Patroni
    /// adjusts; nil for any other key (it runs as written).
    public func effectiveValue(_ key: String) -> String? {
        switch key {
        case "patroni.ttl": return String(patroni.ttl)
        case "patroni.loop_wait": return String(patroni.loopWait)
        case "patroni.retry_timeout": return String(patroni.retryTimeout)
        default: return nil
        }
    }
}
