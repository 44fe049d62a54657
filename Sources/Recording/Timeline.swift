import SimCore

/// A run's timeline, in the order it was logged. Most lines keep their JSON detail; the two
/// kinds every HA cycle adds (a `member_key` write, a `leader_lease` renewal: about 35,000 a
/// simulated day on three members) are packed into 24 bytes each, since a JSON object is a
/// tree of heap boxes (hundreds of bytes). Packing is lossless: a line is packed only when its
/// detail has exactly the shape `DCSObserver` writes, and reading it gives back the same entry
/// (host, component, kind, keys in order, values and types), so no reader can tell.
public struct Timeline: RandomAccessCollection, Sendable {
    /// A packed line: a member key's value or its deletion, or a lease renewal.
    struct Packed: Sendable {
        var timeNs: Nanos
        /// The member key's `xlog_location`.
        var xlog: Int64
        /// The member key's PostgreSQL timeline, or the lease's ttl in seconds.
        var small: UInt16
        /// Index in `strings`: the member (and host), or the lease holder.
        var host: UInt16
        var role: UInt8
        var state: UInt8
        var flags: UInt8

        static let lease: UInt8 = 1, gone: UInt8 = 2, streaming: UInt8 = 4, noHolder: UInt8 = 8
    }

    /// Where the lines are, as runs of consecutive lines of one form (in a quiet stretch
    /// almost every line is packed, so there are few runs): each run's first line, whether it
    /// is packed, and its first index in `packed` or `entries`.
    var runStart: [Int] = []
    var runPacked: [Bool] = []
    var runBase: [Int] = []
    var entries = ChunkedArray<TimelineEntry>()
    var packed = ChunkedArray<Packed>()
    /// The few strings packed lines name (members, roles, states), interned.
    var strings: [String] = []
    var stringIDs: [String: UInt16] = [:]

    public init() {}
    public init(_ lines: [TimelineEntry]) { lines.forEach { append($0) } }

    public var startIndex: Int { 0 }
    public var endIndex: Int { packed.count + entries.count }

    public subscript(i: Int) -> TimelineEntry {
        // The last run starting at or before i.
        var lo = 0, hi = runStart.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if runStart[mid] <= i { lo = mid } else { hi = mid - 1 }
        }
        let k = runBase[lo] + (i - runStart[lo])
        return runPacked[lo] ? unpack(packed[k]) : entries[k]
    }

    public mutating func append(_ e: TimelineEntry) {
        let p = pack(e)
        let isPacked = p != nil
        if runPacked.last != isPacked {
            runStart.append(endIndex)
            runPacked.append(isPacked)
            runBase.append(isPacked ? packed.count : entries.count)
        }
        if let p { packed.append(p) } else { entries.append(e) }
    }

    mutating func intern(_ s: String) -> UInt16? {
        if let id = stringIDs[s] { return id }
        guard strings.count < Int(UInt16.max) else { return nil }
        strings.append(s)
        stringIDs[s] = UInt16(strings.count - 1)
        return UInt16(strings.count - 1)
    }

    /// The packed form of `e`, when `unpack` gives it back exactly.
    mutating func pack(_ e: TimelineEntry) -> Packed? {
        guard e.component == "etcd", case .object(let kv) = e.detail else { return nil }
        if e.kind == Kind.leaderLease {
            // {"holder": name or null, "ttl_s": n}, host the holder (or "").
            guard kv.count == 2, kv[0].0 == "holder", kv[1].0 == "ttl_s", case .int(let ttl) = kv[1].1, ttl >= 0, ttl <= Int64(UInt16.max) else { return nil }
            var flags = Packed.lease
            switch kv[0].1 {
            case .string(let h) where h == e.host: break
            case .null where e.host.isEmpty: flags |= Packed.noHolder
            default: return nil
            }
            guard let host = intern(e.host) else { return nil }
            return Packed(timeNs: e.timeNs, xlog: 0, small: UInt16(ttl), host: host, role: 0, state: 0, flags: flags)
        }
        guard e.kind == Kind.memberKey, kv.first?.0 == "member", kv.first?.1 == .string(e.host), let host = intern(e.host) else { return nil }
        if kv.count == 2, kv[1].0 == "gone", case .bool(true) = kv[1].1 {
            return Packed(timeNs: e.timeNs, xlog: 0, small: 0, host: host, role: 0, state: 0, flags: Packed.gone)
        }
        // {"member", "role", "state", "timeline", "xlog_location", "streaming"}.
        guard kv.count == 6, kv[1].0 == "role", kv[2].0 == "state", kv[3].0 == "timeline", kv[4].0 == "xlog_location", kv[5].0 == "streaming",
              case .string(let role) = kv[1].1, case .string(let state) = kv[2].1, case .int(let tl) = kv[3].1, case .int(let xlog) = kv[4].1,
              case .bool(let streaming) = kv[5].1, tl >= 0, tl <= Int64(UInt16.max),
              let r = intern(role), let s = intern(state), r <= UInt8.max, s <= UInt8.max else { return nil }
        return Packed(timeNs: e.timeNs, xlog: xlog, small: UInt16(tl), host: host, role: UInt8(r), state: UInt8(s), flags: streaming ? Packed.streaming : 0)
    }

    func unpack(_ p: Packed) -> TimelineEntry {
        let host = strings[Int(p.host)]
        if p.flags & Packed.lease != 0 {
            let holder: JSON = p.flags & Packed.noHolder != 0 ? .null : .string(host)
            return TimelineEntry(timeNs: p.timeNs, host: host, component: "etcd", kind: Kind.leaderLease,
                                 detail: .object([("holder", holder), ("ttl_s", .int(Int64(p.small)))]))
        }
        if p.flags & Packed.gone != 0 {
            return TimelineEntry(timeNs: p.timeNs, host: host, component: "etcd", kind: Kind.memberKey, detail: .object([("member", .string(host)), ("gone", true)]))
        }
        return TimelineEntry(timeNs: p.timeNs, host: host, component: "etcd", kind: Kind.memberKey, detail: .object([
            ("member", .string(host)), ("role", .string(strings[Int(p.role)])), ("state", .string(strings[Int(p.state)])),
            ("timeline", .int(Int64(p.small))), ("xlog_location", .int(p.xlog)), ("streaming", .bool(p.flags & Packed.streaming != 0)),
        ]))
    }

    /// How many lines are packed (for tests and the memory figures).
    public var packedCount: Int { packed.count }
}

extension Timeline: ExpressibleByArrayLiteral {
    public init(arrayLiteral lines: TimelineEntry...) { self.init(lines) }
}
