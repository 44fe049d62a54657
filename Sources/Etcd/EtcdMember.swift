import SimCore
import Settings
import Recording

/// Inputs of an etcd member process.
public enum EtcdInput: Sendable {
    case timer(EtcdTimer)
    case peer(RaftMessage)
    case request(EtcdRequest)
}

/// One etcd member: the raft node, etcd's server loop around it (Ready → save (fsync) → send →
/// apply), the MVCC key-value store, the lessor, watches, and client request handling.
///
/// Memory versus disk: the raft log and HardState are durable only up to the last completed
/// fsync; the KV store and leases are rebuilt on restart by replaying the durable, committed
/// log (what etcd's bbolt + WAL recovery amounts to). Lease expiry deadlines, watches, pending
/// requests and who the leader is live in memory only.
public struct EtcdMember {
    public let slot: Int
    let shared: EtcdShared
    var raft: RaftNode
    var rng: Rng
    public var fsync: Latency
    /// Background noise: the disk completes no write before this (a stall). The raft loop
    /// waits on its fsync, so ticks and heartbeats wait too (etcd.md §1.1).
    public var fsyncStallUntil: Nanos = 0
    var name: String { shared.names[slot] }
    var config: EtcdConfig { shared.config }

    // Lifecycle
    public internal(set) var running = false
    var stopping = false
    /// The data directory was lost: the member refuses to start while the cluster still
    /// counts it as a member (etcd.md §4.4) until it is removed and added again.
    public var diskLost = false
    /// This member applied its own removal (`member remove`): it stops a second later, and a
    /// restart with this data directory exits at once.
    public var removed = false
    /// Per slot, the highest member-ID generation this member's applied membership removed
    /// (-1: none): messages from such an incarnation are answered with 410 Gone.
    var removedGen: [Int]
    /// This member's own ID generation (bumped by each `member add` of its slot).
    var myGen: UInt8 = 0
    /// When the transport last heard from each peer (etcd's `ActiveSince`).
    var lastHeard: [Nanos]

    // Durable state
    var persistedLen = 1
    var persistedTerm: UInt64 = 0
    var persistedVote = -1
    var persistedCommit = 0
    /// The last snapshot on disk (etcd's `snap` directory and bbolt state): the applied state
    /// recovery starts from before it replays the log after it.
    var durableSnapshot: EtcdSnapshot? = nil

    // The raft loop
    var busy = false
    var persistingLen = 1
    var persistingTerm: UInt64 = 0
    var persistingVote = -1
    var heldMsgs: [RaftMessage] = []
    var missedTick = false
    var lastTickAt: Nanos = 0
    var ticksStarted = false

    // Applied state (MVCC and lessor)
    var applied = 0
    public internal(set) var revision: Int64 = 0
    var kv: [KVRecord?] = []
    var leases: [LeaseInfo] = []
    var lessorPrimary = false
    var history: [WatchEvent] = []
    var watchers: [(client: ClientRef, prefix: String)] = []

    // Requests in flight on this member
    var pending: [Pending] = []
    var nextLocal: UInt32 = 1
    var leaseSeq: Int64 = 0
    var readRound: Int64 = 0
    var roundAcks: [(round: Int64, acks: Int)] = []

    struct LeaseInfo {
        var id: LeaseID
        var ttl: Int64
        var expiry: Nanos
        var keys: [KeyID]
        var revokeAt: Nanos?
    }

    enum PendingKind {
        /// Waiting for the entry with this payload id to be applied here.
        case proposal(gid: UInt32)
        /// Waiting for a leader before it can be proposed.
        case waitingLeader(op: EntryOp)
        /// A linearizable read waiting for its read index (and then for apply to reach it).
        case read(key: KeyID, prefix: Bool, index: Int)
        /// A keepalive forwarded to the leader.
        case renew(LeaseID)
        /// A read index requested by a follower member (leader side): answer it.
        case remoteRead(from: Int, ctx: Int64)
    }

    struct Pending {
        var local: UInt32
        var client: ClientRef
        var kind: PendingKind
        var deadline: Nanos
        var started: Nanos
        var round: Int64 = -1
        /// A forwarded lease renewal waits for its HTTP answer.
        var inFlight = false
    }

    public init(slot: Int, shared: EtcdShared, rng: Rng) {
        self.slot = slot
        self.shared = shared
        self.rng = rng
        fsync = shared.config.fsync
        removedGen = Array(repeating: -1, count: shared.names.count)
        lastHeard = Array(repeating: 0, count: shared.names.count)
        raft = RaftNode(id: slot, arena: shared.arena, slots: shared.names.count, voters: Array(shared.names.indices),
                        electionTicks: shared.config.electionTicks, preVote: shared.config.preVote)
    }

    // MARK: - Queries (for the world and the tests)

    public var isLeader: Bool { running && raft.state == .leader }
    public var term: UInt64 { raft.term }
    public var leader: Int { raft.lead }
    public var state: RaftState { raft.state }
    public var commitIndex: Int { raft.committed }
    public var lastIndex: Int { raft.lastIndex }
    public var appliedIndex: Int { applied }
    public var voters: [Int] { raft.voters }
    public func value(_ k: KeyID) -> KVRecord? { Int(k) < kv.count ? kv[Int(k)] : nil }
    public func leaseExpiry(_ id: LeaseID) -> Nanos? { leases.first { $0.id == id }?.expiry }
    public var leaseIDs: [LeaseID] { leases.map(\.id) }
    public var isLessorPrimary: Bool { lessorPrimary }

    // MARK: - Lifecycle

    /// Gives the member a durable state as if the cluster had been running: `ops` committed at
    /// term 1 (the world seeds Patroni's keys this way, so that a run starts in steady state).
    public mutating func seed(_ gids: [UInt32]) {
        raft.log = [LogEntry(term: 0, gid: 0)] + gids.map { LogEntry(term: 1, gid: $0) }
        raft.offset = 0
        defer { pinOps() }
        persistedLen = raft.lastIndex + 1
        persistedTerm = 1
        raft.term = 1
        persistedCommit = raft.lastIndex
        raft.committed = raft.lastIndex
        for (i, e) in raft.log.enumerated() where i > 0 { shared.checkCommitted(index: i, entry: e, slot: slot, at: 0) }
    }

    /// `member add` done for this slot: it starts over with an empty data directory and
    /// `--initial-cluster-state=existing`, and the leader replicates everything to it.
    public mutating func prepareRejoin() {
        raft.log = [LogEntry(term: 0, gid: 0)]
        raft.offset = 0
        durableSnapshot = nil
        pinOps()
        persistedLen = 1
        persistedTerm = 0
        persistedVote = -1
        persistedCommit = 0
        diskLost = false
        removed = false
    }

    /// Starts the process: recover from disk, start ticking.
    public mutating func start(_ env: EtcdEnv) {
        running = true
        stopping = false
        if diskLost {
            // etcd with an empty data dir and --initial-cluster-state=new whose peers know it as
            // a published member: "member … has already been bootstrapped"; it exits. (With
            // existing state it would panic on the leader's first heartbeat instead.)
            shared.recorder.log(env.now, name, "etcd", "etcd_refused_start",
                                .object([("reason", "member has already been bootstrapped; its data directory is gone (repair: member remove, then member add)")]))
            running = false
            env.etcdPanicked(slot, "member has already been bootstrapped")
            return
        }
        myGen = UInt8(truncatingIfNeeded: shared.memberIDs[slot] >> 16)
        recoverFromDisk()
        if removed {
            // etcdmain: "the member has been permanently removed from the cluster. Exiting."
            shared.recorder.log(env.now, name, "etcd", "etcd_refused_start", .object([("reason", "the member has been permanently removed from the cluster")]))
            running = false
            env.etcdExited(slot)
            return
        }
        raft.resetRandomizedElectionTimeout(&rng)
        lastTickAt = env.now
        // The ticker's phase is wherever the process happened to start.
        env.etcdTimer(slot, after: Nanos(rng.below(UInt64(config.heartbeatIntervalNs))), .tick)
        // The lessor's expiry scan (`lessor.runLoop`, every 500 ms) starts with the process too.
        env.etcdTimer(slot, after: Nanos(rng.below(UInt64(500 * Time.ms))), .lessorScan)
        if config.initialElectionTickAdvance || shared.names.count == 1 { env.etcdTimer(slot, after: 50 * Time.ms, .adjustTicks(0)) }
    }

    /// Crash or kill: everything in memory is gone; the disk keeps what the last fsync wrote.
    public mutating func crash() {
        running = false
        stopping = false
    }

    /// SIGTERM: a leader first hands leadership to the most up-to-date voter (etcd's
    /// `TransferLeadership` in `EtcdServer.Stop`), then the process exits.
    public mutating func stopGracefully(_ env: EtcdEnv) {
        guard running else { return }
        stopping = true
        if raft.state == .leader, let target = raft.voters.filter({ $0 != slot && !raftRemoved($0) }).max(by: { raft.match[$0] < raft.match[$1] }) {
            raft.transferLeadership(to: target)
            pump(env)
            env.etcdTimer(slot, after: min(config.requestTimeoutNs, config.electionTimeoutNs), .stopNow)
        } else {
            finishStop(env)
        }
    }

    mutating func finishStop(_ env: EtcdEnv) {
        for p in pending { env.etcdRespond(slot, to: p.client, response(p.client.req, .error(.stopping))) }
        pending.removeAll()
        running = false
        env.etcdExited(slot)
    }

    /// The data directory is wiped (the process must already be down).
    public mutating func loseDisk() {
        raft.log = [LogEntry(term: 0, gid: 0)]
        raft.offset = 0
        durableSnapshot = nil
        pinOps()
        persistedLen = 1
        persistedTerm = 0
        persistedVote = -1
        persistedCommit = 0
        diskLost = !removed
    }

    func raftRemoved(_ s: Int) -> Bool { !raft.voters.contains(s) }

    /// Rebuilds memory from the durable state: the log up to the last fsync, the HardState,
    /// and the KV store and leases by replaying the committed prefix.
    mutating func recoverFromDisk() {
        raft.truncate(after: persistedLen - 1)
        raft.term = persistedTerm
        raft.vote = persistedVote
        raft.lead = -1
        raft.state = .follower
        raft.committed = min(persistedCommit, raft.lastIndex)
        raft.snapshotToApply = nil
        raft.outbox.removeAll()
        raft.voters = Array(shared.names.indices)
        raft.electionElapsed = 0
        busy = false
        heldMsgs.removeAll()
        missedTick = false
        pending.removeAll()
        watchers.removeAll()
        history.removeAll()
        removedGen = Array(repeating: -1, count: shared.names.count)
        lastHeard = Array(repeating: 0, count: shared.names.count)
        removed = false
        lessorPrimary = false
        kv = []
        leases = []
        revision = 0
        applied = 0
        raft.appliedIndex = 0
        if let s = durableSnapshot {
            // Restart: the snapshot, then the log's entries after it (`etcdserver.NewServer`).
            restoreState(s)
            if raft.termAt(s.index) != nil { raft.compact(to: s.index) } else { raft.restoreLog(index: s.index, term: s.term) }
            raft.committed = max(raft.committed, s.index)
        }
        applyCommitted(now: 0, replay: true)
        for i in leases.indices { leases[i].expiry = .max }
        pinOps()
    }
}
