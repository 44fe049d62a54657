/// Raft message types (etcd-io/raft `raftpb.MessageType`), the ones that cross the network.
public enum RaftMsgType: UInt8, Sendable {
    case app, appResp, heartbeat, heartbeatResp, vote, voteResp, preVote, preVoteResp, timeoutNow, prop
    /// Follower → leader: confirm leadership for a linearizable read (`MsgReadIndex`).
    case readIndex
    case readIndexResp
    /// Follower → leader over the peer HTTP API: forward a lease keepalive (`leasehttp`).
    case leaseRenew
    case leaseRenewResp
    /// Peer → a member it knows as removed: rafthttp answers its stream with 410 Gone, and the
    /// removed member stops ("the member has been permanently removed from the cluster").
    case memberRemoved
    /// Leader → a follower behind its compacted log: the state to restore from (`MsgSnap`).
    case snap

    var isResponse: Bool {
        switch self {
        case .appResp, .heartbeatResp, .voteResp, .preVoteResp, .readIndexResp, .leaseRenewResp: return true
        default: return false
        }
    }
}

/// A slice of entries carried by a message, stored in the cluster's message-entry arena (the
/// entries are immutable once sent, so the message carries a reference, not a copy).
@frozen public struct EntrySlice: Sendable, Equatable {
    public var start: UInt32
    public var count: UInt16
    public static let empty = EntrySlice(start: 0, count: 0)
    @inlinable public init(start: UInt32, count: UInt16) {
        self.start = start
        self.count = count
    }
}

/// One raft message between members (slots).
@frozen public struct RaftMessage: Sendable, Equatable {
    public var type: RaftMsgType
    public var from: UInt8
    public var to: UInt8
    public var reject: Bool = false
    /// `campaignTransfer` context: a leadership-transfer vote, which overrides inLease.
    public var transfer: Bool = false
    /// The sender's member-ID generation (a member removed and added again gets a new raft
    /// member ID: its old incarnation's messages are recognised as from a removed member).
    public var gen: UInt8 = 0
    public var term: UInt64
    public var logTerm: UInt64 = 0
    public var index: Int64 = 0
    public var commit: Int64 = 0
    public var rejectHint: Int64 = 0
    public var entries: EntrySlice = .empty
    /// Read-index request id, proposal payload id, or lease id (by message type).
    public var ctx: Int64 = 0

    public init(type: RaftMsgType, from: Int, to: Int, term: UInt64) {
        self.type = type
        self.from = UInt8(from)
        self.to = UInt8(to)
        self.term = term
    }
}
