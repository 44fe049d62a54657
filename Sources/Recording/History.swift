import SimCore

/// One line of a run's timeline: role changes, elections, lease expiries, faults, check state
/// changes, decisions. Not every message: what a person reading the run needs, and what the
/// analysis derives findings from.
public struct TimelineEntry: Sendable {
    public var timeNs: Nanos
    public var host: String
    public var component: String
    public var kind: String
    public var detail: JSON

    public init(timeNs: Nanos, host: String, component: String, kind: String, detail: JSON) {
        self.timeNs = timeNs
        self.host = host
        self.component = component
        self.kind = kind
        self.detail = detail
    }
}

/// The timeline kinds the analysis reads. Other kinds are for people only.
public enum Kind {
    // Faults
    public static let faultStart = "fault_start"
    public static let faultEnd = "fault_end"
    public static let noiseStart = "noise_start"
    public static let noiseEnd = "noise_end"
    // etcd
    public static let etcdLeader = "etcd_leader_elected"
    public static let etcdStepDown = "etcd_leader_lost"
    public static let leaseExpired = "lease_expired"
    public static let leaseReset = "leases_reset"
    // The leader key (observed in etcd's applied state)
    public static let leaderKey = "leader_key"
    /// The leader key's lease renewed by etcd's primary lessor (it now expires ttl later).
    public static let leaderLease = "leader_lease"
    /// A member key written or gone (what `patronictl list` reads).
    public static let memberKey = "member_key"
    /// The `/sync` key written (its leader and synchronous standbys).
    public static let syncKey = "sync_key"
    // Patroni
    public static let patroni = "patroni"
    public static let promoteStarted = "promote_started"
    public static let demote = "demote"
    public static let watchdogReset = "watchdog_reset"
    public static let callback = "callback"
    // PostgreSQL
    public static let pgWritable = "pg_writable"
    public static let pgState = "pg_state"
    public static let pgPromoted = "pg_promoted"
    // Traffic
    public static let serverState = "server_state"
    public static let vip = "vip"
    // Safety
    public static let invariant = "invariant_violation"
}

/// A position in a WAL history. `fork` names a history uniquely across the run (PostgreSQL's
/// timeline numbers are not unique: two nodes promoted from timeline 1 both create a timeline 2).
@frozen public struct WalPosition: Sendable, Equatable, Hashable {
    public var fork: UInt32
    public var lsn: Int64
    @inlinable public init(fork: UInt32, lsn: Int64) {
        self.fork = fork
        self.lsn = lsn
    }
    public static let none = WalPosition(fork: UInt32.max, lsn: 0)
}

/// A WAL history created by a promotion: branched from `parent` at `switchLsn`.
public struct ForkInfo: Sendable, Equatable {
    public var id: UInt32
    public var parent: UInt32?
    public var switchLsn: Int64
    /// PostgreSQL's timeline number of this history.
    public var timeline: Int
    public var host: String
    public var createdNs: Nanos
    public init(id: UInt32, parent: UInt32?, switchLsn: Int64, timeline: Int, host: String, createdNs: Nanos) {
        self.id = id
        self.parent = parent
        self.switchLsn = switchLsn
        self.timeline = timeline
        self.host = host
        self.createdNs = createdNs
    }
}

/// What a client saw of one write.
public enum WriteOutcome: UInt8, Sendable {
    /// COMMIT acknowledged.
    case ok
    /// Definitely not applied (refused before COMMIT: read-only, no server, connect failed).
    case failed
    /// Unknown: the connection broke or timed out while COMMIT was in flight.
    case indeterminate
    /// Still in flight when the run ended (treated as indeterminate).
    case pending
}

/// Every client write: its id, times, outcome, and where it committed (if the server says so).
/// What the client saw when a write did not simply succeed (libpq's messages). A code, not a
/// string, so that write records stay trivially copyable.
public enum WriteError: UInt8, Sendable, CaseIterable {
    case none, connectTimeout, connectionRefused, serverClosed, startingUp, shuttingDown, queryTimedOut, readOnly, syncWaitCancelled, clientKilled

    public var message: String {
        switch self {
        case .none: ""
        case .connectTimeout: "timeout expired"
        case .connectionRefused: "connection refused"
        case .serverClosed: "server closed the connection unexpectedly"
        case .startingUp: "the database system is starting up"
        case .shuttingDown: "terminating connection due to administrator command"
        case .queryTimedOut: "query timed out"
        case .readOnly: "cannot execute INSERT in a read-only transaction"
        case .syncWaitCancelled: "canceling wait for synchronous replication; committed locally"
        case .clientKilled: "the application was killed with the transaction in flight"
        }
    }
}

public struct WriteRecord: Sendable {
    public var id: UInt32
    public var client: UInt16
    /// Index of the host the client was pointed at directly, or -1 through the front.
    public var directHost: Int16
    public var sentNs: Nanos
    public var doneNs: Nanos
    public var outcome: WriteOutcome
    /// The host whose PostgreSQL committed it (-1: none known).
    public var committedHost: Int16
    public var committedAt: WalPosition
    public var bytes: Int32
    /// The commit waited for, and got, its synchronous standbys' confirmation that it was
    /// flushed (`synchronous_commit` on or remote_apply; not a cancelled wait, not an
    /// asynchronous commit): Patroni never promotes a standby without it.
    public var syncConfirmed: Bool
    public var error: WriteError

    public init(id: UInt32, client: UInt16, directHost: Int16, sentNs: Nanos, bytes: Int32) {
        self.id = id
        self.client = client
        self.directHost = directHost
        self.sentNs = sentNs
        self.doneNs = -1
        self.outcome = .pending
        self.committedHost = -1
        self.committedAt = .none
        self.bytes = bytes
        self.syncConfirmed = false
        self.error = .none
    }
}

/// A read through the read endpoint: where it was served and how far that server had replayed.
public struct ReadRecord: Sendable {
    public var sentNs: Nanos
    public var doneNs: Nanos
    public var host: Int16
    public var ok: Bool
    /// The serving server's replayed position when it answered.
    public var servedAt: WalPosition
    /// The latest write acknowledged before the read was sent (`.none`: none yet): a read that
    /// does not see it is stale.
    public var mustSee: WalPosition
    public init(sentNs: Nanos, doneNs: Nanos, host: Int16, ok: Bool, servedAt: WalPosition, mustSee: WalPosition = .none) {
        self.sentNs = sentNs
        self.doneNs = doneNs
        self.host = host
        self.ok = ok
        self.servedAt = servedAt
        self.mustSee = mustSee
    }
}

/// A PostgreSQL instance's state at the end of the run.
public struct FinalPgState: Sendable {
    public var host: String
    public var running: Bool
    public var primary: Bool
    /// Durable (flushed) end of its WAL history.
    public var flushed: WalPosition
    public var timeline: Int
    public init(host: String, running: Bool, primary: Bool, flushed: WalPosition, timeline: Int) {
        self.host = host
        self.running = running
        self.primary = primary
        self.flushed = flushed
        self.timeline = timeline
    }
}

/// A broken safety invariant, found by a model's own checks during the run.
public struct Violation: Sendable {
    public var timeNs: Nanos
    public var kind: String
    public var detail: String
    public init(timeNs: Nanos, kind: String, detail: String) {
        self.timeNs = timeNs
        self.kind = kind
        self.detail = detail
    }
}

/// A fault as it happened: when it fired (jitter applied), what it hit, when it was undone.
public struct FaultRecord: Sendable {
    public var index: Int
    public var kind: String
    public var target: String
    /// The host(s) a role target resolved to when the fault fired.
    public var resolved: String
    public var startNs: Nanos
    public var endNs: Nanos?
    public var disrupts: Bool
    public init(index: Int, kind: String, target: String, resolved: String, startNs: Nanos, endNs: Nanos?, disrupts: Bool) {
        self.index = index
        self.kind = kind
        self.target = target
        self.resolved = resolved
        self.startNs = startNs
        self.endNs = endNs
        self.disrupts = disrupts
    }
}

/// A background-noise event as it happened (`noise:`): its source, what it hit, when.
public struct NoiseRecord: Sendable {
    /// The source's index in the scenario's `noise.sources`.
    public var source: Int
    public var name: String
    public var kind: String
    /// What it hit, resolved when it fired ("(nothing: no such role now)" if a role had no holder).
    public var target: String
    public var startNs: Nanos
    public var endNs: Nanos
    /// The size it drew (added latency, loss, fsync latency, query delay), as text.
    public var size: String
    /// An episode's tagged event (the one whose outcome the episode measures).
    public var tagged: Bool
    /// Its importance weight (1 for every other event): how much more often the episode drew
    /// such an event than the noise rates would (see `NoiseSize.sampleTail`).
    public var weight: Double = 1
    public init(source: Int, name: String, kind: String, target: String, startNs: Nanos, endNs: Nanos, size: String, tagged: Bool) {
        self.source = source
        self.name = name
        self.kind = kind
        self.target = target
        self.startNs = startNs
        self.endNs = endNs
        self.size = size
        self.tagged = tagged
    }
}

extension Array where Element == ForkInfo {
    /// The chain of (fork, last LSN on it) from `end` back to the root history.
    public func lineage(_ end: WalPosition) -> [(fork: UInt32, limit: Int64)] {
        var out: [(UInt32, Int64)] = []
        var fork = end.fork, limit = end.lsn
        while fork != WalPosition.none.fork, Int(fork) < count, out.count < 10_000 {
            out.append((fork, limit))
            guard let parent = self[Int(fork)].parent else { break }
            limit = Swift.min(limit, self[Int(fork)].switchLsn)
            fork = parent
        }
        return out
    }
}

/// Every WAL history the cluster's servers have written: the root, and one per promotion (a
/// new timeline) or per crash that lost unflushed WAL whose positions new WAL then reuses.
/// It is the servers' state (what their `pg_wal` and timeline history files say, seen from
/// above so that two servers' histories can be compared), shared by the PostgreSQL models
/// through their environment; the recorder copies it into the run's record at the end.
public final class WalHistory {
    public private(set) var forks: [ForkInfo] = []
    /// Every growing table has a limit: a promotion or lossy crash each make one.
    public static let limit = 1_000_000

    public init() {}

    /// A new history branching off `parent` at `switchLsn`; returns its id.
    public func newFork(parent: UInt32?, switchLsn: Int64, timeline: Int, host: String, at t: Nanos) -> UInt32 {
        if forks.count >= Self.limit { return UInt32(forks.count - 1) }
        let id = UInt32(forks.count)
        forks.append(ForkInfo(id: id, parent: parent, switchLsn: switchLsn, timeline: timeline, host: host, createdNs: t))
        return id
    }

    /// Whether the history ending at `end` contains position `p`.
    public func contains(_ end: WalPosition, _ p: WalPosition) -> Bool {
        if p.fork == WalPosition.none.fork { return p.lsn == 0 }
        return forks.lineage(end).contains { $0.fork == p.fork && p.lsn <= $0.limit }
    }

    /// The last position two histories share (where they forked), or nil if unrelated.
    public func divergence(_ a: WalPosition, _ b: WalPosition) -> Int64? {
        let la = forks.lineage(a), lb = forks.lineage(b)
        for x in la { if let y = lb.first(where: { $0.fork == x.fork }) { return Swift.min(x.limit, y.limit) } }
        return nil
    }

    /// PostgreSQL's timeline number of a history.
    public func timeline(of fork: UInt32) -> Int? { forks.indices.contains(Int(fork)) ? forks[Int(fork)].timeline : nil }
}

/// The WAL archive (`archive_command` pushes to it, `restore_command` reads from it): per
/// history, how far its WAL has been archived. Shared storage outside the cluster (an object
/// store): every server reaches it while it runs. Bounded by the histories (`WalHistory.limit`).
public final class WalArchive {
    /// The end of the archived WAL of each fork (0: nothing).
    public private(set) var archivedEnd: [Int64] = []

    public init() {}

    public func archive(_ fork: UInt32, upTo lsn: Int64) {
        let f = Int(fork)
        guard f < WalHistory.limit else { return }
        if archivedEnd.count <= f { archivedEnd += Array(repeating: 0, count: f + 1 - archivedEnd.count) }
        archivedEnd[f] = max(archivedEnd[f], lsn)
    }

    /// What restore_command can give a standby at `p` with recovery_target_timeline 'latest':
    /// the archived end of the newest timeline whose history contains `p` (nil: nothing beyond).
    public func latest(continuing p: WalPosition, _ history: WalHistory) -> WalPosition? {
        var best: (timeline: Int, pos: WalPosition)? = nil
        for f in archivedEnd.indices where archivedEnd[f] > 0 {
            let end = WalPosition(fork: UInt32(f), lsn: archivedEnd[f])
            guard history.contains(end, p), end.lsn > p.lsn || end.fork != p.fork else { continue }
            let tl = history.timeline(of: UInt32(f)) ?? 0
            if best == nil || tl > best!.timeline || (tl == best!.timeline && end.lsn > best!.pos.lsn) { best = (tl, end) }
        }
        return best.map { $0.pos }
    }
}
