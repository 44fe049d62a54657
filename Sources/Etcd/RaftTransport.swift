import SimCore

/// What happened to a message handed to a connection.
public enum PeerDelivery: Sendable {
    /// On its way (it arrives after the path's latency).
    case arrives
    /// The network holds it (a cut path): TCP keeps retransmitting.
    case held
    /// The connection is gone.
    case dropped
}

/// What etcd's peer transport needs from the network.
public protocol RaftTransportEnv: AnyObject {
    var now: Nanos { get }
    func peerConnOpen(_ c: ConnID) -> Bool
    func peerConnConnecting(_ c: ConnID) -> Bool
    /// Sends on a connection this member opened to `to`.
    func peerSend(_ c: ConnID, from: Int, to: Int, _ m: RaftMessage) -> PeerDelivery
    /// Dials `to`; the outcome (connected, refused, timed out, later a reset) comes back to this
    /// member as `RaftTransport.connectionEvent`.
    func peerDial(from: Int, to: Int) -> ConnID
    func peerClose(_ c: ConnID)
}

/// etcd's rafthttp transport from one member to its peers (`etcdserver/api/rafthttp`): per
/// peer, a long-lived stream, and the pipeline that carries messages while the stream is down.
///
/// `peer.pick`: a message goes out on the stream when it is up. While the stream is being
/// dialled, or after its writes have been stuck for its 5 s write timeout (`ConnWriteTimeout`,
/// then the stream is closed), it goes by the pipeline: an HTTP POST on a pooled connection,
/// queued while that connects (64-message buffer), dropped when the buffer is full or the
/// connect fails (raft sends again). A stream dial that gets nothing within the dial timeout
/// (1 s + election timeout / 5, `PeerDialTimeout`) is abandoned at the next send.
public struct RaftTransport: Sendable {
    /// One direction of the transport to one peer.
    struct Peer: Sendable {
        var conn: ConnID = .none
        var dialing = false
        var dialStarted: Nanos = 0
        /// When data on the stream was first held by the network (-1: nothing held).
        var heldSince: Nanos = -1
        /// The pipeline's pooled keep-alive connection (HTTP POST per message).
        var pipe: ConnID = .none
        var pipeStarted: Nanos = 0
        /// POSTs whose data the network holds (a cut path): rafthttp's 4 pipeline senders block
        /// on them and its 64-message buffer fills; past that, messages are dropped.
        var pipeBlocked = 0
        /// Messages waiting for the pipeline's connection (at most the 64-message buffer).
        var pipeQueue: [RaftMessage] = []
    }

    /// rafthttp `connPerPipeline` + `pipelineBufSize`.
    static let pipelineCapacity = 4 + 64
    /// `pipelineBufSize`.
    static let pipelineBuffer = 64
    /// `ConnWriteTimeout`.
    static let writeTimeoutNs = 5 * Time.s

    public let member: Int
    let dialTimeoutNs: Nanos
    var peers: [Peer]

    public init(member: Int, members: Int, electionTimeoutNs: Nanos) {
        self.member = member
        dialTimeoutNs = Time.s + electionTimeoutNs / 5
        peers = Array(repeating: Peer(), count: members)
    }

    public mutating func send(to: Int, _ m: RaftMessage, _ env: RaftTransportEnv) {
        let now = env.now
        if env.peerConnOpen(peers[to].conn) {
            switch env.peerSend(peers[to].conn, from: member, to: to, m) {
            case .arrives:
                peers[to].heldSince = -1
                return
            case .held:
                if peers[to].heldSince < 0 { peers[to].heldSince = now }
                guard now - peers[to].heldSince >= Self.writeTimeoutNs else { return }
                env.peerClose(peers[to].conn)
                peers[to].conn = .none
                peers[to].dialing = false
                peers[to].heldSince = -1
                return
            case .dropped:
                peers[to].conn = .none
                peers[to].dialing = false
            }
        }
        if !(peers[to].dialing && now - peers[to].dialStarted < dialTimeoutNs && env.peerConnConnecting(peers[to].conn)) {
            if peers[to].dialing { env.peerClose(peers[to].conn) }
            peers[to].conn = env.peerDial(from: member, to: to)
            peers[to].dialing = true
            peers[to].dialStarted = now
            peers[to].heldSince = -1
        }
        pipelineSend(to: to, m, env)
    }

    /// The pipeline (`pipeline.post`): no read timeout of its own, so a POST on a cut path
    /// blocks its sender until TCP gives up; a connect is bounded by the dial timeout.
    mutating func pipelineSend(to: Int, _ m: RaftMessage, _ env: RaftTransportEnv) {
        let now = env.now
        if env.peerConnOpen(peers[to].pipe) {
            guard peers[to].pipeBlocked < Self.pipelineCapacity else { return }
            switch env.peerSend(peers[to].pipe, from: member, to: to, m) {
            case .arrives: peers[to].pipeBlocked = 0
            case .held: peers[to].pipeBlocked += 1
            case .dropped: peers[to].pipe = .none
            }
            return
        }
        if env.peerConnConnecting(peers[to].pipe) {
            if now - peers[to].pipeStarted < dialTimeoutNs {
                if peers[to].pipeQueue.count < Self.pipelineBuffer { peers[to].pipeQueue.append(m) }
                return
            }
            env.peerClose(peers[to].pipe)
        }
        peers[to].pipe = env.peerDial(from: member, to: to)
        peers[to].pipeStarted = now
        peers[to].pipeBlocked = 0
        peers[to].pipeQueue = [m]
    }

    /// A stream's or pipeline's hand-shake, refusal, time-out or reset.
    public mutating func connectionEvent(to: Int, _ c: ConnID, _ e: ConnEvent, _ env: RaftTransportEnv) {
        if peers[to].conn == c {
            if e == .connected { peers[to].dialing = false } else {
                env.peerClose(c)
                peers[to].conn = .none
                peers[to].dialing = false
                peers[to].heldSince = -1
            }
        } else if peers[to].pipe == c {
            let queued = peers[to].pipeQueue
            peers[to].pipeQueue = []
            if e == .connected {
                for m in queued { pipelineSend(to: to, m, env) }
            } else {
                // The POSTs fail: raft is told the peer is unreachable; the messages are gone.
                env.peerClose(c)
                peers[to].pipe = .none
            }
        }
    }
}
