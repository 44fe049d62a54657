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
    /// Proposal payloads by id (`LogEntry.gid`). Index 0 is the sentinel's.
    public private(set) var ops: [EntryOp] = [.empty]
    public private(set) var txns: [Txn] = []
    /// Range results, referenced by responses (kept out of events so that events stay plain data).
    public private(set) var rangeResults: [[(KeyID, KVRecord)]] = []
    public let recorder: Recorder
    /// Member names (host names) by slot.
    public let names: [String]

    // Invariant bookkeeping.
    var leaderOfTerm: [UInt64: Int] = [:]
    var committedLog: [LogEntry] = [LogEntry(term: 0, gid: 0)]
    var revisionDigest: [UInt64] = [0]
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
    }

    /// Every growing table has a limit: the operations, transactions and range answers kept
    /// for the run (ids are 32-bit), and the committed log and revisions the safety checks
    /// compare against. A run that reaches it ends, naming it (`limitHit`).
    public static let tableLimit = 50_000_000
    public private(set) var limitHit: String? = nil

    func guardLimit(_ count: Int, _ table: String) {
        if count >= Self.tableLimit && limitHit == nil {
            limitHit = "etcd's \(table) table reached its limit of \(Self.tableLimit) entries (shorten the run or lower the write rate)"
        }
    }

    public func newOp(_ op: EntryOp) -> UInt32 {
        guardLimit(ops.count, "operations")
        if ops.count >= Int(UInt32.max) { return 0 }
        ops.append(op)
        return UInt32(ops.count - 1)
    }

    public func newTxn(_ t: Txn) -> UInt32 {
        guardLimit(txns.count, "transactions")
        if txns.count >= Int(UInt32.max) { return 0 }
        txns.append(t)
        return UInt32(txns.count - 1)
    }

    func storeRange(_ r: [(KeyID, KVRecord)]) -> UInt32 {
        guardLimit(rangeResults.count, "range answers")
        if rangeResults.count >= Int(UInt32.max) { return 0 }
        rangeResults.append(r)
        return UInt32(rangeResults.count - 1)
    }

    public func range(_ id: UInt32) -> [(KeyID, KVRecord)] { rangeResults[Int(id)] }

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

    /// Every member's committed prefix must agree with every other's, forever.
    func checkCommitted(index: Int, entry: LogEntry, slot: Int, at t: Nanos) {
        if index < committedLog.count {
            let known = committedLog[index]
            if known != entry {
                recorder.violation(t, "raft_committed_changed",
                                   "\(names[slot]) committed index \(index) as term \(entry.term)/op \(entry.gid), but term \(known.term)/op \(known.gid) was committed there before",
                                   host: names[slot], component: "etcd")
            }
        } else if index == committedLog.count {
            guardLimit(committedLog.count, "committed log")
            committedLog.append(entry)
        }
    }

    /// The KV change at a revision must be the same on every member.
    func checkRevision(_ rev: Int64, digest: UInt64, slot: Int, at t: Nanos) {
        let i = Int(rev)
        if i < revisionDigest.count {
            if revisionDigest[i] != digest {
                recorder.violation(t, "kv_diverged", "\(names[slot])'s KV state at revision \(rev) differs from another member's",
                                   host: names[slot], component: "etcd")
            }
        } else if i == revisionDigest.count {
            guardLimit(revisionDigest.count, "revisions")
            revisionDigest.append(digest)
        }
    }

    /// Number of invariant violations the etcd checks recorded.
    public var committedEntries: Int { committedLog.count - 1 }
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
