import SimCore
import Settings
import Recording

/// State an etcd cluster's members share because it is immutable once created (proposal
/// payloads, the entries messages carry) or because it is the simulator's own bookkeeping
/// (invariant checks across members). Members never use it to learn each other's state.
public final class EtcdShared {
    public let config: EtcdConfig
    public let keys = KeySpace()
    public let arena = EntryArena()
    /// Proposal payloads by id (`LogEntry.gid`; 0 is the sentinel's), transactions, and range
    /// answers (referenced by responses, kept out of events so that events stay plain data).
    /// Each keeps a window, not the run: an entry's payload is read when a member applies it,
    /// and a member's log holds at most `snapshot-count` + catch-up entries (one further
    /// behind is restored from a snapshot), so the ops window covers that with room for
    /// proposals in flight; a transaction is read when its op is applied; a range answer
    /// when its response arrives. A read past a window stops the run, naming the table.
    var ops: SlidingTable<EntryOp>
    var txns: SlidingTable<Txn>
    var rangeResults = SlidingTable<[(KeyID, KVRecord)]>(window: 1 << 14)
    public let recorder: Recorder
    /// Member names (host names) by slot.
    public let names: [String]

    // Invariant bookkeeping: what each index committed, and the KV change at each revision,
    // to compare every member's against, over the last 16 Ki to 32 Ki of each (hours of
    // entries: a member that applies an index later than that, catching up after a long
    // absence, is compared only where the window still holds it).
    var leaderOfTerm: [UInt64: Int] = [:]
    var committedLog: SlidingTable<LogEntry>
    var revisionDigest: SlidingTable<UInt64>
    /// Raft member ids by slot (a member removed and re-added gets a new id).
    public internal(set) var memberIDs: [UInt64]

    /// The key whose changes are recorded as `leader_key` timeline entries (Patroni's leader
    /// key), with how to name a value's holder. Recorded once per revision, by the first member
    /// that applies it.
    public var observedKey: KeyID? = nil
    public var valueName: ((ValueID) -> String?)? = nil
    /// Every applied change, from every member (the observer keeps one per key and
    /// revision): what the cluster's keys held over time, for `simctl list`.
    public var onChange: ((Nanos, WatchEvent) -> Void)? = nil
    /// A lease renewed by the primary lessor: (time, lease, TTL in seconds).
    public var onLeaseRenew: ((Nanos, LeaseID, Int64) -> Void)? = nil
    var lastObservedRevision: Int64 = 0
    var lastExpiryLogged: Set<LeaseID> = []

    public init(config: EtcdConfig, names: [String], recorder: Recorder) {
        self.config = config
        self.names = names
        self.recorder = recorder
        memberIDs = names.indices.map { UInt64(0x1000 + $0) }
        let window = config.snapshotCount + config.snapshotCatchUpEntries + (1 << 14)
        ops = SlidingTable(window: window)
        txns = SlidingTable(window: window)
        committedLog = SlidingTable(window: 1 << 14)
        revisionDigest = SlidingTable(window: 1 << 14)
        ops.append(.empty)
        committedLog.append(LogEntry(term: 0, gid: 0))
        revisionDigest.append(0)
    }

    /// Ids are 32-bit; a table's window is what it holds. A run that reads past a window, or
    /// runs out of ids, ends, naming the table (`limitHit`).
    var missedTable: String? = nil
    public var limitHit: String? {
        if let t = missedTable { return "etcd's \(t) table: \(Self.limitAdvice)" }
        if arena.missed { return "etcd's message-entry arena: \(Self.limitAdvice)" }
        return nil
    }
    static let limitAdvice = "a record was read after its window had passed, or its 32-bit ids ran out (shorten the run)"

    func missed(_ table: String) { if missedTable == nil { missedTable = table } }

    public func newOp(_ op: EntryOp) -> UInt32 {
        if ops.nextID >= Int(UInt32.max) { missed("operations"); return 0 }
        let before = ops.base
        let id = ops.append(op)
        if ops.base != before { pinTxns() }
        return UInt32(id)
    }

    /// Per member, the oldest proposal its durable log still needs (`Int.max`: none): the
    /// ops table keeps everything from the oldest of them on.
    var opsPins: [Int] = []
    func pinOps(slot: Int, from gid: Int) {
        while opsPins.count <= slot { opsPins.append(.max) }
        opsPins[slot] = gid
        ops.pin = opsPins.min() ?? .max
    }

    /// Transactions are kept while an op still held names them (directly or nested).
    func pinTxns() {
        var low = Int.max
        for o in ops.rows {
            guard case .txn(let t) = o else { continue }
            low = Swift.min(low, Int(t))
            for branch in [txns[Int(t)]?.success ?? [], txns[Int(t)]?.failure ?? []] {
                for case .txn(let inner) in branch { low = Swift.min(low, Int(inner)) }
            }
        }
        // Transactions made since (requests not yet proposed) are newer than every op held.
        txns.pin = low == Int.max ? txns.nextID : low
    }

    /// A transaction equal to one of the last few gets that one's id (Patroni's leader update
    /// is the same transaction every cycle): transactions are values.
    public func newTxn(_ t: Txn) -> UInt32 {
        if let (id, _) = txns.last(8).first(where: { $0.1 == t }) { return UInt32(id) }
        if txns.nextID >= Int(UInt32.max) { missed("transactions"); return 0 }
        return UInt32(txns.append(t))
    }

    func op(_ gid: UInt32) -> EntryOp {
        if let o = ops[Int(gid)] { return o }
        missed("operations")
        return .empty
    }

    func txn(_ id: UInt32) -> Txn {
        if let t = txns[Int(id)] { return t }
        missed("transactions")
        return Txn(compares: [], success: [])
    }

    func storeRange(_ r: [(KeyID, KVRecord)]) -> UInt32 {
        if rangeResults.nextID >= Int(UInt32.max) { missed("range answers"); return 0 }
        return UInt32(rangeResults.append(r))
    }

    public func range(_ id: UInt32) -> [(KeyID, KVRecord)] {
        if let r = rangeResults[Int(id)] { return r }
        missed("range answers")
        return []
    }

    /// The states `MsgSnap` messages carry, the last `snapshotLimit` of them (a snapshot is
    /// sent at most once an election timeout per follower; one older than that many later
    /// ones is a transfer that failed).
    var snapshots: [(seq: UInt32, state: EtcdSnapshot)?] = Array(repeating: nil, count: snapshotLimit)
    var snapshotSeq: UInt32 = 1
    static let snapshotLimit = 16

    func storeSnapshot(_ s: EtcdSnapshot) -> UInt32 {
        let seq = snapshotSeq
        snapshotSeq &+= 1
        let slot = Int(seq % UInt32(Self.snapshotLimit))
        snapshots[slot] = (seq, s)
        return seq
    }

    func snapshot(_ seq: UInt32) -> EtcdSnapshot? {
        let slot = Int(seq % UInt32(Self.snapshotLimit))
        guard let held = snapshots[slot], held.seq == seq else { return nil }
        return held.state
    }

    // MARK: - Safety invariants (checked in every run)

    func checkLeader(term: UInt64, slot: Int, at t: Nanos) {
        if let other = leaderOfTerm[term], other != slot {
            recorder.violation(t, "raft_two_leaders", "term \(term) has two leaders: \(names[other]) and \(names[slot])", host: names[slot], component: "etcd")
        } else {
            leaderOfTerm[term] = slot
        }
    }

    /// Every member's committed prefix must agree with every other's, forever (compared over
    /// the window held: an index applied after it left the window was compared by the member
    /// that applied it first, within it).
    func checkCommitted(index: Int, entry: LogEntry, slot: Int, at t: Nanos) {
        if index < committedLog.nextID {
            if let known = committedLog[index], known != entry {
                recorder.violation(t, "raft_committed_changed",
                                   "\(names[slot]) committed index \(index) as term \(entry.term)/op \(entry.gid), but term \(known.term)/op \(known.gid) was committed there before",
                                   host: names[slot], component: "etcd")
            }
        } else if index == committedLog.nextID {
            committedLog.append(entry)
        }
    }

    /// The KV change at a revision must be the same on every member.
    func checkRevision(_ rev: Int64, digest: UInt64, slot: Int, at t: Nanos) {
        let i = Int(rev)
        if i < revisionDigest.nextID {
            if let known = revisionDigest[i], known != digest {
                recorder.violation(t, "kv_diverged", "\(names[slot])'s KV state at revision \(rev) differs from another member's",
                                   host: names[slot], component: "etcd")
            }
        } else if i == revisionDigest.nextID {
            revisionDigest.append(digest)
        }
    }

    /// How many entries the cluster has committed.
    public var committedEntries: Int { committedLog.nextID - 1 }
}

/// Errors an etcd member answers with. All but the last few are gRPC `Unavailable`, which
/// Patroni's client treats like a timeout and fails over on.
public enum EtcdError: UInt8, Sendable {
    /// "etcdserver: request timed out" (possibly committed later: indeterminate for writes).
    case timeout
    /// "etcdserver: no leader"
    case noLeader
    /// "etcdserver: leader changed"
    case leaderChanged
    /// The lessor is not (yet) primary and leadership could not be confirmed.
    case notPrimary
    /// The member is stopping.
    case stopping
    case compacted
    case leaseNotFound
    case memberNotFound
    case reconfigRefused
    case peerURLExists

    public var isUnavailable: Bool {
        switch self {
        case .timeout, .noLeader, .leaderChanged, .notPrimary, .stopping: return true
        default: return false
        }
    }

    public var message: String {
        switch self {
        case .timeout: return "etcdserver: request timed out"
        case .noLeader: return "etcdserver: no leader"
        case .leaderChanged: return "etcdserver: leader changed"
        case .notPrimary: return "lease: not primary lessor"
        case .stopping: return "etcdserver: server stopped"
        case .compacted: return "mvcc: required revision has been compacted"
        case .leaseNotFound: return "etcdserver: requested lease not found"
        case .memberNotFound: return "membership: member not found"
        case .reconfigRefused: return "etcdserver: re-configuration failed due to not enough started members"
        case .peerURLExists: return "etcdserver: Peer URLs already exists"
        }
    }
}
