import SimCore

/// Messaging between processes on top of a `Network` and a `Kernel`: what models use to talk.
///
/// - `send` delivers a payload to a process after the link's latency, in order per host pair.
///   On a cut path the message is held, as TCP would keep retransmitting it, and released when
///   the path heals at the next retransmission instant (exponential backoff from the send time,
///   capped at Linux's `TCP_RTO_MAX` of 120 s); held longer than its `holdLimitNs`, it is
///   dropped (the application would have given up on that connection).
/// - `connect` answers a TCP connect the way a real host does: accepted (also by a paused
///   process), refused at once (host up, process down), or no answer (host down or cut off).
/// - Connections opened with `open` are reset when a process at one end dies on a live host:
///   its kernel sends RST, and the peer learns at once (if the path is open). When the whole
///   host dies nothing is sent, and the peer finds out only through its own timeouts.
public final class Fabric<Payload> {
    public var net: Network
    public let kernel: Kernel<Payload>
    /// One random stream per (sender, receiver) process pair, derived from the seed by the pair
    /// alone: the latencies of PostgreSQL's replication do not shift because Patroni sent one
    /// more etcd request. This is what makes a sweep's settings share common random numbers.
    @usableFromInline var pairRng: [Rng] = []
    @usableFromInline var pairStride = 0
    @usableFromInline let baseSeed: UInt64
    /// Linux `TCP_RTO_MAX`.
    public var rtoMaxNs: Nanos = 120 * Time.s
    /// Default hold limit for messages on a cut path.
    public var defaultHoldLimitNs: Nanos = 30 * Time.s
    /// Bound on held messages per host pair; beyond it the oldest are dropped (socket buffers
    /// are finite).
    public var heldLimit = 20_000

    @usableFromInline struct Held {
        @usableFromInline var sentAt: Nanos
        @usableFromInline var deadline: Nanos
        @usableFromInline var source: UInt32
        @usableFromInline var target: UInt32
        @usableFromInline var incarnation: UInt32
        @usableFromInline var payload: Payload
        @usableFromInline init(sentAt: Nanos, deadline: Nanos, source: UInt32, target: UInt32, incarnation: UInt32, payload: Payload) {
            self.sentAt = sentAt
            self.source = source
            self.deadline = deadline
            self.target = target
            self.incarnation = incarnation
            self.payload = payload
        }
    }
    @usableFromInline var held: [[Held]]

    public struct Connection {
        public var a: UInt32
        public var b: UInt32
        public var resetToA: Payload?
        public var resetToB: Payload?
        public var open: Bool
    }
    public private(set) var connections: [Connection] = []
    var freeConnections: [Int] = []

    public var sentCount: UInt64 = 0
    public var droppedCount: UInt64 = 0

    /// `seed`: the run's seed for the network (each pair's stream is derived from it).
    public init(network: Network, kernel: Kernel<Payload>, seed: UInt64) {
        net = network
        self.kernel = kernel
        baseSeed = seed
        held = Array(repeating: [], count: network.hostCount * network.hostCount)
    }

    @inlinable public func host(of p: UInt32) -> Int { Int(kernel.host(of: p)) }

    /// The index of the (from, to) stream, building the table on first use (and again if
    /// processes were added since: a pair's stream depends only on the pair).
    @inlinable public func pair(_ from: UInt32, _ to: UInt32) -> Int {
        let f = Int(from), t = Int(to)
        if f >= pairStride || t >= pairStride { growPairs(Swift.max(kernel.processCount, f + 1, t + 1)) }
        return f * pairStride + t
    }

    @usableFromInline func growPairs(_ n: Int) {
        var table: [Rng] = []
        table.reserveCapacity(n * n)
        for f in 0..<n {
            for t in 0..<n {
                if f < pairStride && t < pairStride { table.append(pairRng[f * pairStride + t]) } else {
                    table.append(Rng(seed: baseSeed ^ (UInt64(f) << 32 | UInt64(t)) &* 0x9E37_79B9_7F4A_7C15))
                }
            }
        }
        pairRng = table
        pairStride = n
    }

    /// A draw for things that travel from `from` to `to` outside `send` (UDP adverts).
    @inlinable public func withStream<T>(_ from: UInt32, _ to: UInt32, _ body: (inout Rng) -> T) -> T {
        let i = pair(from, to)
        return body(&pairRng[i])
    }

    // MARK: - Messages

    /// Sends `payload` from process `from` to process `to`. Returns what the network did with it.
    @inlinable @discardableResult
    public func send(from: UInt32, to: UInt32, _ payload: Payload, holdLimitNs: Nanos? = nil, transmitNs: Nanos = 0) -> Transit {
        sentCount &+= 1
        let hf = host(of: from), ht = host(of: to)
        let t = net.transit(from: hf, to: ht, now: kernel.now, transmitNs: transmitNs, rng: &pairRng[pair(from, to)])
        switch t {
        case .arrives(let at):
            kernel.schedule(at: at, to: to, payload)
        case .blocked:
            let i = hf * net.hostCount + ht
            if held[i].count >= heldLimit { held[i].removeFirst(); droppedCount &+= 1 }
            held[i].append(Held(sentAt: kernel.now, deadline: kernel.now + (holdLimitNs ?? defaultHoldLimitNs),
                                source: from, target: to, incarnation: kernel.incarnation(of: to), payload: payload))
        case .hostDown:
            droppedCount &+= 1
        }
        return t
    }

    /// Number of messages waiting on cut paths.
    public var heldCount: Int { held.reduce(0) { $0 + $1.count } }

    // MARK: - Connections

    /// TCP connect from process `from` to the listener process `to`.
    public func connect(from: UInt32, to: UInt32) -> ConnectOutcome {
        net.connect(from: host(of: from), to: host(of: to), listener: kernel.status(of: to), rng: &pairRng[pair(from, to)])
    }

    /// Registers an established connection so that a process death on a live host resets it.
    public func open(_ a: UInt32, _ b: UInt32, resetToA: Payload?, resetToB: Payload?) -> Int {
        let c = Connection(a: a, b: b, resetToA: resetToA, resetToB: resetToB, open: true)
        if let i = freeConnections.popLast() {
            connections[i] = c
            return i
        }
        connections.append(c)
        return connections.count - 1
    }

    public func close(_ id: Int) {
        guard id >= 0, id < connections.count, connections[id].open else { return }
        connections[id].open = false
        connections[id].resetToA = nil
        connections[id].resetToB = nil
        freeConnections.append(id)
    }

    public func isOpen(_ id: Int) -> Bool { id >= 0 && id < connections.count && connections[id].open }

    /// Process `p` died. If its host is still up, its kernel resets every connection it had: the
    /// peers get their reset payload after one-way latency. If the host died, connections are
    /// only forgotten (`hostDied`), with nothing sent.
    public func processDied(_ p: UInt32) {
        let hostAlive = net.hostUp[host(of: p)]
        for i in connections.indices where connections[i].open && (connections[i].a == p || connections[i].b == p) {
            let c = connections[i]
            close(i)
            guard hostAlive else { continue }
            if c.a == p, let r = c.resetToB { send(from: p, to: c.b, r, holdLimitNs: 0) }
            if c.b == p, let r = c.resetToA { send(from: p, to: c.a, r, holdLimitNs: 0) }
        }
    }

    // MARK: - Faults

    public func setHostUp(_ h: Int, _ up: Bool) {
        net.setHostUp(h, up)
        if !up {
            // Whatever waited to be sent from or to a dead host is gone.
            for j in 0..<net.hostCount {
                droppedCount &+= UInt64(held[h * net.hostCount + j].count + held[j * net.hostCount + h].count)
                held[h * net.hostCount + j].removeAll()
                held[j * net.hostCount + h].removeAll()
            }
        }
    }

    public func cut(_ from: Int, _ to: Int) { net.cut(from, to) }

    /// Removes one cut rule; if the path is open again, releases what was held on it.
    public func uncut(_ from: Int, _ to: Int) {
        if net.uncut(from, to) { release(from, to) }
    }

    public func healAll() {
        net.healAll()
        for f in 0..<net.hostCount { for t in 0..<net.hostCount where f != t { release(f, t) } }
    }

    /// Delivers held messages after heal: the connection's next retransmission goes out at the
    /// first backoff instant after now, then everything queued behind it follows in order.
    func release(_ from: Int, _ to: Int) {
        let i = from * net.hostCount + to
        guard !held[i].isEmpty, net.canReach(from, to) else { return }
        let now = kernel.now
        let waiting = held[i]
        held[i].removeAll(keepingCapacity: true)
        var resendAt: Nanos? = nil
        for h in waiting {
            if h.deadline < now || kernel.incarnation(of: h.target) != h.incarnation {
                droppedCount &+= 1
                continue
            }
            if resendAt == nil {
                var rto = net.rtoMinNs
                var t = h.sentAt + rto
                while t < now {
                    rto = Swift.min(rto * 2, rtoMaxNs)
                    t += rto
                }
                resendAt = t
            }
            if case .arrives(let at) = net.transit(from: from, to: to, now: resendAt!, rng: &pairRng[pair(h.source, h.target)]) {
                kernel.schedule(at: at, to: h.target, h.payload)
            } else {
                droppedCount &+= 1
            }
        }
    }
}
