import SimCore

/// A client request to an etcd member (what Patroni sends to the grpc-gateway).
@frozen public struct EtcdRequest: Sendable {
    public enum Op: Sendable, Equatable {
        /// One key, or every key whose name starts with that key's name.
        case range(KeyID, prefix: Bool, serializable: Bool)
        case put(KeyID, ValueID, lease: LeaseID)
        case delete(KeyID)
        /// Index into `EtcdShared.txns`.
        case txn(UInt32)
        case leaseGrant(ttlSeconds: Int64)
        case leaseKeepAlive(LeaseID)
        case leaseRevoke(LeaseID)
        /// A long-lived watch on a key prefix from a revision; events flow until it breaks.
        case watch(KeyID, fromRevision: Int64)
        /// etcdctl member remove / add (by slot).
        case memberRemove(slot: Int)
        case memberAdd(slot: Int)
        /// `/v3/cluster/member/list`: the members' client URLs (Patroni's `_get_members`).
        case memberList
    }
    public var client: ClientRef
    public var op: Op
    public init(client: ClientRef, op: Op) {
        self.client = client
        self.op = op
    }
}

/// A member's answer. Every response carries the header Patroni reads (`raft_term` for its
/// stale-member guard, and the revision).
@frozen public struct EtcdResponse: Sendable {
    public enum Result: Sendable, Equatable {
        case ok
        /// Index into `EtcdShared.rangeResults`.
        case range(UInt32)
        /// `succeeded`: the compares held (the success branch ran). `nested`: a transaction
        /// nested in the branch that ran succeeded (`responses[0].response_txn.succeeded`).
        case txn(succeeded: Bool, nested: Bool)
        case leaseGranted(LeaseID, ttlSeconds: Int64)
        /// TTL 0 means the lease is gone (etcd answers that, not an error).
        case keepAlive(ttlSeconds: Int64)
        case watchCreated
        case watchEvent(WatchEvent)
        /// The member list, as a bit set of slots.
        case members(UInt16)
        case error(EtcdError)
    }
    public var req: UInt32
    public var member: Int
    public var revision: Int64
    public var raftTerm: UInt64
    public var result: Result
    public init(req: UInt32, member: Int, revision: Int64, raftTerm: UInt64, result: Result) {
        self.req = req
        self.member = member
        self.revision = revision
        self.raftTerm = raftTerm
        self.result = result
    }
}

/// Timers of an etcd member.
public enum EtcdTimer: Sendable, Equatable {
    case tick
    case lessorScan
    case fsyncDone
    /// A pending request's `ReqTimeout` ran out.
    case requestTimeout(UInt32)
    /// Retry a forwarded keepalive or a read index (by local request id).
    case retry(UInt32)
    /// `adjustTicks`: check for connected peers after start.
    case adjustTicks(Int)
    /// A graceful stop's leadership transfer had its time.
    case stopNow
    /// This member applied its own removal: the server stops a second later.
    case removedShutdown
}

/// What an etcd member needs from the world.
public protocol EtcdEnv: AnyObject {
    var now: Nanos { get }
    /// Sends a raft (or peer-HTTP) message to another member.
    func etcdPeerSend(from: Int, to: Int, _ m: RaftMessage)
    func etcdTimer(_ member: Int, after: Nanos, _ t: EtcdTimer)
    /// Answers a client over its connection.
    func etcdRespond(_ member: Int, to: ClientRef, _ r: EtcdResponse)
    /// How many peers the member's transport has an active connection to.
    func etcdActivePeers(_ member: Int) -> Int
    /// The member finished a graceful stop (its process exits).
    func etcdExited(_ member: Int)
    /// The member panicked (its process dies).
    func etcdPanicked(_ member: Int, _ message: String)
}
