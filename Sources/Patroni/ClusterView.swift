import SimCore
import Settings
import Etcd

/// What a member publishes in its `/members/<name>` key (Patroni's `touch_member` data).
public struct MemberData: Sendable, Equatable {
    public enum Role: String, Sendable { case primary, replica, demoted, promoted, uninitialized }
    public enum State: String, Sendable { case running, starting, stopped, stopping, crashed, restarting, startFailed = "start failed" }
    public var role: Role
    public var state: State
    public var xlogLocation: Int64
    public var timeline: Int
    public var streaming: Bool
    public var nofailover: Bool
    public var failoverPriority: Int
    public var nosync: Bool
    public var syncPriority: Int
    public var pause: Bool
    public var checkpointAfterPromote: Bool
    /// The `replicatefrom` tag's member (a node id; -1: none or not a known member).
    public var replicatefrom = -1
    /// The `nostream` tag.
    public var nostream = false

    public init(role: Role, state: State, xlogLocation: Int64, timeline: Int, streaming: Bool, nofailover: Bool,
                failoverPriority: Int, nosync: Bool, syncPriority: Int, pause: Bool, checkpointAfterPromote: Bool) {
        self.role = role; self.state = state; self.xlogLocation = xlogLocation; self.timeline = timeline
        self.streaming = streaming; self.nofailover = nofailover; self.failoverPriority = failoverPriority
        self.nosync = nosync; self.syncPriority = syncPriority; self.pause = pause; self.checkpointAfterPromote = checkpointAfterPromote
    }
}

/// Patroni's values, as etcd stores them (opaque ids) and as Patroni reads them back.
public enum PValue: Sendable, Equatable {
    /// The leader key's value: the holder's member index.
    case leader(Int)
    case member(MemberData)
    /// `/status`: the leader's last published optime.
    case status(optime: Int64)
    /// `/sync`: the leader that manages it, its synchronous standbys (`sync_standby`; the
    /// voters in quorum mode) and, in quorum mode, how many of them a leader race must see.
    case sync(leader: Int, standbys: [Int], quorum: Int = 0)
    /// `/failover`: a requested switchover (with leader) or failover.
    case failover(leader: Int?, candidate: Int?)
    /// `/config`: the dynamic configuration.
    /// Boxed: the configuration is large, and every other value (one per member-key write)
    /// would otherwise take its size in the shared value table.
    indirect case config(PatroniConfig)
    /// `/history`: the last promotion's timeline.
    case history(timeline: Int)
    /// `/failsafe`: the members the leader last saw.
    case failsafe([Int])
    case initialize
}

/// The value table shared by a cluster's Patroni nodes: etcd carries the ids.
///
/// The values written every HA cycle (each member key, `/status`, `/failsafe`: about 35,000
/// a simulated day on three members) live in one ring per key of the last `ringCapacity`
/// values written to that key, since only a key's recent values can still be read: etcd holds
/// its latest, and a watch or a response in flight one written moments before. Everything else
/// (the leader value, `/config`, `/sync`, `/initialize`, `/history`, `/failover`) is kept for
/// the run. A ring id carries its sequence number, so a read of a value the ring has since
/// overwritten is detected, never answered with another value: the run then stops, naming
/// the limit (`limitHit`), as etcd's tables do.
public final class PatroniValues {
    public private(set) var values: [PValue] = []
    var leaderIDs: [Int: ValueID] = [:]
    public let names: [String]
    /// Per ring: its key, its values by slot, the sequence number each slot holds.
    var ringKeys: [KeyID] = []
    var rings: [[PValue]] = []
    var ringSeqs: [[UInt32]] = []
    var ringNext: [UInt32] = []
    public private(set) var limitHit: String? = nil

    /// 8,192 values per key: 22 hours of member-key writes at loop_wait 10, 2.3 at loop_wait 1
    /// (a value is written only when it changed, so a stalled member writes none).
    public static let ringCapacity = 8_192
    /// Ring ids: the top bit, 7 bits of ring, 24 bits of sequence number.
    static let ringBit: UInt32 = 1 << 31
    static let maxRings = 127
    static let maxSeq: UInt32 = 1 << 24

    public init(names: [String]) { self.names = names }

    /// The id of `v`, written to `key`.
    public func intern(_ v: PValue, key: KeyID) -> ValueID {
        switch v {
        case .leader(let m):
            if let id = leaderIDs[m] { return id }
            let id = add(v)
            leaderIDs[m] = id
            return id
        case .member, .status, .failsafe:
            return ringed(v, key: key) ?? add(v)
        default:
            return add(v)
        }
    }

    func add(_ v: PValue) -> ValueID {
        values.append(v)
        return ValueID(values.count - 1)
    }

    /// `v` in `key`'s ring (the last id again when `v` is the value last written there, as
    /// the client's own-write cache interns what it just put); nil when the rings are full.
    func ringed(_ v: PValue, key: KeyID) -> ValueID? {
        var r = ringKeys.firstIndex(of: key) ?? -1
        if r < 0 {
            guard ringKeys.count < Self.maxRings else { return nil }
            ringKeys.append(key); rings.append([]); ringSeqs.append([]); ringNext.append(0)
            r = ringKeys.count - 1
        }
        let next = ringNext[r]
        if next > 0 {
            let last = Int((next - 1) % UInt32(Self.ringCapacity))
            if rings[r][last] == v { return Self.ringID(r, next - 1) }
        }
        guard next < Self.maxSeq else { return nil }
        let slot = Int(next % UInt32(Self.ringCapacity))
        if slot == rings[r].count {
            rings[r].append(v); ringSeqs[r].append(next)
        } else {
            rings[r][slot] = v; ringSeqs[r][slot] = next
        }
        ringNext[r] = next + 1
        return Self.ringID(r, next)
    }

    static func ringID(_ ring: Int, _ seq: UInt32) -> ValueID { ringBit | UInt32(ring) << 24 | seq }

    public subscript(_ id: ValueID) -> PValue? {
        guard id & Self.ringBit != 0 else { return Int(id) < values.count ? values[Int(id)] : nil }
        let r = Int((id >> 24) & 0x7f), seq = id & (Self.maxSeq - 1)
        guard r < rings.count else { return nil }
        let slot = Int(seq % UInt32(Self.ringCapacity))
        guard slot < rings[r].count, ringSeqs[r][slot] == seq else {
            if limitHit == nil {
                limitHit = "Patroni's value table: a value read back was written more than \(Self.ringCapacity) writes of its key ago (a key unchanged that long while it was rewritten and refused; shorten the run)"
            }
            return nil
        }
        return rings[r][slot]
    }

    /// The holder name of a leader-key value (for the timeline).
    public func holderName(_ id: ValueID) -> String? {
        if case .leader(let m)? = self[id] { return names[m] }
        return nil
    }
}

/// The keys of one Patroni cluster in etcd (`/<namespace>/<scope>/...`).
public struct ClusterKeys: Sendable {
    public let prefix: KeyID
    public let leader: KeyID
    public let status: KeyID
    public let sync: KeyID
    public let failover: KeyID
    public let config: KeyID
    public let history: KeyID
    public let failsafe: KeyID
    public let initialize: KeyID
    public let members: [KeyID]

    /// `prefix` as `PatroniConfig.keyPrefix` gives it: `/service/batman/`.
    public init(keys: KeySpace, prefix p: String, members: [String]) {
        prefix = keys.id(p)
        leader = keys.id(p + "leader")
        status = keys.id(p + "status")
        sync = keys.id(p + "sync")
        failover = keys.id(p + "failover")
        config = keys.id(p + "config")
        history = keys.id(p + "history")
        failsafe = keys.id(p + "failsafe")
        initialize = keys.id(p + "initialize")
        self.members = members.map { keys.id(p + "members/" + $0) }
    }
}

/// A parsed snapshot of the cluster's keys (Patroni's `Cluster` object).
public struct ClusterView: Sendable {
    public struct Leader: Sendable, Equatable {
        public var member: Int
        public var lease: LeaseID
        public var modRevision: Int64
    }
    public var leader: Leader?
    public var members: [(member: Int, data: MemberData, lease: LeaseID)] = []
    public var optime: Int64 = 0
    public var sync: (leader: Int, standbys: [Int], quorum: Int, version: Int64)?
    public var failover: (leader: Int?, candidate: Int?, version: Int64)?
    public var config: (PatroniConfig, version: Int64)?
    public var historyTimeline: Int = 0
    public var failsafe: [Int]?
    public var initialized = false

    public var isUnlocked: Bool { leader == nil }
    public func member(_ m: Int) -> MemberData? { members.first { $0.member == m }?.data }
    public func hasMember(_ m: Int) -> Bool { members.contains { $0.member == m } }
    /// The cluster timeline: the last history entry + 1 (patroni.md §6.3).
    public var timeline: Int { historyTimeline == 0 ? 0 : historyTimeline + 1 }

    /// Builds the view from the KV pairs under the cluster prefix.
    public static func build(_ kvs: [(KeyID, KVRecord)], keys: ClusterKeys, values: PatroniValues) -> ClusterView {
        var v = ClusterView()
        for (k, r) in kvs {
            guard let value = values[r.value] else { continue }
            if k == keys.leader, case .leader(let m) = value {
                v.leader = Leader(member: m, lease: r.lease, modRevision: r.modRevision)
            } else if k == keys.status, case .status(let o) = value {
                v.optime = o
            } else if k == keys.sync, case .sync(let l, let s, let q) = value {
                v.sync = (l, s, q, r.modRevision)
            } else if k == keys.failover, case .failover(let l, let c) = value {
                v.failover = (l, c, r.modRevision)
            } else if k == keys.config, case .config(let c) = value {
                v.config = (c, r.modRevision)
            } else if k == keys.history, case .history(let t) = value {
                v.historyTimeline = t
            } else if k == keys.failsafe, case .failsafe(let f) = value {
                v.failsafe = f
            } else if k == keys.initialize {
                v.initialized = true
            } else if let m = keys.members.firstIndex(of: k), case .member(let d) = value {
                v.members.append((m, d, r.lease))
            }
        }
        v.members.sort { $0.member < $1.member }
        return v
    }
}
