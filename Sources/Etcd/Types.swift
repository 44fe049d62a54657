import SimCore
import Recording

public typealias KeyID = UInt32
/// An opaque value: etcd stores and compares it, never interprets it. The client side (Patroni)
/// keeps what each id means.
public typealias ValueID = UInt32
public typealias LeaseID = Int64

/// Where a response goes: the client process, its request id, and the connection the request
/// came on (the answer goes back on it; `.none` for the operator's etcdctl and internal work).
@frozen public struct ClientRef: Sendable, Equatable {
    public var proc: UInt32
    public var req: UInt32
    public var conn: ConnID
    @inlinable public init(proc: UInt32, req: UInt32, conn: ConnID = .none) {
        self.proc = proc
        self.req = req
        self.conn = conn
    }
}

/// Interned key names. Ids are handed out in first-use order, which is deterministic.
public final class KeySpace {
    public private(set) var names: [String] = []
    var index: [String: KeyID] = [:]
    public init() {}
    public func id(_ name: String) -> KeyID {
        if let i = index[name] { return i }
        let i = KeyID(names.count)
        names.append(name)
        index[name] = i
        return i
    }
    public func name(_ k: KeyID) -> String { names[Int(k)] }
    /// Ids of every known key with this prefix, in name order.
    public func ids(withPrefix p: String) -> [KeyID] {
        names.indices.filter { names[$0].hasPrefix(p) }.sorted { names[$0] < names[$1] }.map { KeyID($0) }
    }
}

/// A comparison in a transaction (etcd's `Compare`).
public struct Compare: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case createRevision(Int64)
        case modRevision(Int64)
        case value(ValueID)
        case lease(LeaseID)
    }
    public var key: KeyID
    public var target: Target
    public init(key: KeyID, _ target: Target) {
        self.key = key
        self.target = target
    }
}

/// A write inside a transaction.
public enum TxnOp: Sendable, Equatable {
    case put(KeyID, ValueID, lease: LeaseID)
    case delete(KeyID)
    /// A nested transaction (etcd's `RequestOp_RequestTxn`), by index into the cluster's
    /// transaction table; its outcome comes back as the response's `nested`.
    case txn(UInt32)
}

public struct Txn: Sendable, Equatable {
    public var compares: [Compare]
    public var success: [TxnOp]
    public var failure: [TxnOp]
    public init(compares: [Compare], success: [TxnOp], failure: [TxnOp] = []) {
        self.compares = compares
        self.success = success
        self.failure = failure
    }
}

/// What a raft entry carries.
public enum EntryOp: Sendable, Equatable {
    /// The empty entry a new leader appends (and on whose apply the lessor is promoted).
    case empty
    case put(KeyID, ValueID, lease: LeaseID)
    case delete(KeyID)
    /// Index into the cluster's transaction table.
    case txn(UInt32)
    case leaseGrant(LeaseID, ttlSeconds: Int64)
    case leaseRevoke(LeaseID)
    /// Membership: add or remove a voter (slot, raft member id).
    case addMember(slot: Int, memberID: UInt64)
    case removeMember(slot: Int, memberID: UInt64)
}

/// One raft log entry: its term and the id of its (immutable) payload.
@frozen public struct LogEntry: Sendable, Equatable {
    public var term: UInt64
    public var gid: UInt32
    @inlinable public init(term: UInt64, gid: UInt32) {
        self.term = term
        self.gid = gid
    }
}

/// A key's stored record (etcd's mvccpb.KeyValue without the bytes).
public struct KVRecord: Sendable, Equatable {
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    public var value: ValueID
    public var lease: LeaseID
    public init(createRevision: Int64, modRevision: Int64, version: Int64, value: ValueID, lease: LeaseID) {
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.value = value
        self.lease = lease
    }
}

/// A change a watcher receives.
public struct WatchEvent: Sendable, Equatable {
    public enum Kind: UInt8, Sendable { case put, delete }
    public var kind: Kind
    public var key: KeyID
    public var record: KVRecord
    public var revision: Int64
    public init(kind: Kind, key: KeyID, record: KVRecord, revision: Int64) {
        self.kind = kind
        self.key = key
        self.record = record
        self.revision = revision
    }
}

/// The entries carried by append messages: a message refers to a slice of it instead of
/// owning an array (no allocation per message). It keeps the last 64 Ki to 128 Ki entries
/// sent: a message is read when it arrives, and one held longer than that (in the socket of a
/// member paused for a long time) finds its entries gone and is dropped, a lost message raft
/// recovers from (the leader sends again what the follower lacks); `stale` counts them.
public final class EntryArena {
    var table = SlidingTable<LogEntry>(window: 1 << 16)
    /// Its 32-bit positions ran out (the run stops, naming it).
    public private(set) var missed = false
    public private(set) var stale = 0
    public init() {}
    func store(_ s: ArraySlice<LogEntry>) -> EntrySlice {
        let start = table.append(contentsOf: s)
        if start + s.count > Int(UInt32.max) { missed = true }
        return EntrySlice(start: UInt32(truncatingIfNeeded: start), count: UInt16(s.count))
    }
    /// Whether a message's entries are still held.
    func holds(_ s: EntrySlice) -> Bool {
        let ok = s.count == 0 || table[Int(s.start)] != nil
        if !ok { stale += 1 }
        return ok
    }
    func entry(_ i: Int) -> LogEntry { table[i]! }
}
