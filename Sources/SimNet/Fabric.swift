import SimCore

/// The fabric's own timers: SYN retransmissions, data retransmissions after a heal, and the
/// give-up of a connection whose data is never acknowledged. The world hands them back to
/// `Fabric.handle(_:)`.
public struct NetTimer: Sendable, Equatable {
    public enum Kind: UInt8, Sendable { case syn, retransmit, giveUp }
    public var conn: ConnID
    public var kind: Kind
    /// Direction (0: initiator → listener, 1: back) or SYN attempt number.
    public var arg: UInt8
    public init(conn: ConnID, kind: Kind, arg: UInt8) {
        self.conn = conn
        self.kind = kind
        self.arg = arg
    }
}

/// What a send did.
public enum SendResult: Equatable, Sendable {
    case arrives(at: Nanos)
    /// The path is cut or the peer's host is down: TCP keeps retransmitting it.
    case held
    /// The connection is closed (or the sender is not one of its ends).
    case dropped
}

/// TCP between processes, per connection, on top of a `Network` and a `Kernel`.
///
/// - **Hand-shake** (`connect`): accepted after a round trip by a live listener, or by the
///   kernel of a paused one while its accept queue has room (`backlog` + 1 connections, as
///   Linux's `sk_acceptq_is_full`); refused (RST) after a round trip when nothing listens on a
///   live host; otherwise the SYN is lost and retransmitted 1, 2, 4 … s later
///   (`tcp_syn_retries` = 6, net/ipv4/tcp_timer.c `tcp_write_timeout`), giving up after 127 s.
/// - **Data** (`send`): ordered within one connection and direction only; a message that
///   occupies the connection for `transmitNs` (its size over a bandwidth) delays only later
///   messages of the same connection. On a cut path (or towards a dead host) data is held and
///   retransmitted on the connection's own schedule: RTO (at least 200 ms) doubling per retry up
///   to 120 s (`TCP_RTO_MAX`); the first retransmission after the heal delivers it, and what
///   was sent behind it follows in order. After `tcp_retries2` = 15 retries (924.6 s with a
///   200 ms RTO, `retransmits_timed_out`), or the connection's `TCP_USER_TIMEOUT`, the sender
///   gets ETIMEDOUT. Data of a closed connection is never delivered.
/// - **Resets**: a process that dies on a live host resets its connections (its kernel sends
///   RST: the peers learn after one-way latency if the path is open). A dead host sends
///   nothing; the peer finds out when a retransmission reaches the rebooted host (RST), or by
///   its own timeouts.
public final class Fabric<Payload> {
    public var net: Network
    public let kernel: Kernel<Payload>
    let timerEvent: (NetTimer) -> Payload
    /// One random stream per (sender, receiver) process pair, derived from the seed by the pair
    /// alone: the latencies of PostgreSQL's replication do not shift because Patroni sent one
    /// more etcd request. This is what makes a sweep's settings share common random numbers.
    @usableFromInline var pairRng: [Rng] = []
    @usableFromInline var pairStride = 0
    @usableFromInline let baseSeed: UInt64
    /// Linux `TCP_RTO_MAX`.
    public var rtoMaxNs: Nanos = 120 * Time.s
    /// `tcp_retries2`.
    public var retries2 = 15
    /// `tcp_syn_retries`.
    public var synRetries = 6
    /// The first SYN retransmission timeout (`TCP_TIMEOUT_INIT`, 1 s).
    public var synTimeoutNs: Nanos = Time.s
    /// Bound on messages held per connection (socket buffers are finite); beyond it the oldest
    /// are dropped.
    public var heldLimit = 20_000

    @usableFromInline struct Dir {
        @usableFromInline var lastArrival: Nanos = 0
        @usableFromInline var busyUntil: Nanos = 0
        /// When the oldest unacknowledged (held) segment was first sent; -1: none held.
        @usableFromInline var heldSince: Nanos = -1
        @usableFromInline var heldCount = 0
        @usableFromInline init() {}
    }

    @usableFromInline enum State: UInt8 { case free, connecting, open }

    @usableFromInline struct Conn {
        @usableFromInline var gen: UInt32 = 0
        @usableFromInline var state: State = .free
        @usableFromInline var a: UInt32 = 0
        @usableFromInline var b: UInt32 = 0
        @usableFromInline var incA: UInt32 = 0
        @usableFromInline var incB: UInt32 = 0
        @usableFromInline var synStart: Nanos = 0
        @usableFromInline var d0 = Dir()
        @usableFromInline var d1 = Dir()
        /// `TCP_USER_TIMEOUT` (0: `tcp_retries2` decides).
        @usableFromInline var userTimeoutNs: Nanos = 0
        @usableFromInline init() {}
    }
    /// What a connection's ends are told of its hand-shake and resets: kept apart from `Conn`
    /// so that the per-message path reads only small plain fields.
    @usableFromInline struct Hooks {
        var onConnected: Payload? = nil
        var onRefused: Payload? = nil
        var onTimedOut: Payload? = nil
        var resetToA: Payload? = nil
        var resetToB: Payload? = nil
    }
    @usableFromInline var conns: [Conn] = []
    @usableFromInline var hooks: [Hooks] = []
    var freeSlots: [UInt32] = []

    struct Held {
        var conn: ConnID
        var dir: UInt8
        var transmitNs: Nanos
        var payload: Payload
    }
    var held: [Held] = []

    /// Per process: the listen backlog (Int32.max: unlimited) and connections its kernel
    /// accepted that the paused process has not.
    var backlog: [Int32] = []
    var acceptQueue: [Int32] = []
    /// Per process: whether it listens at all (a running process with its port closed refuses).
    var listening: [Bool] = []

    public var sentCount: UInt64 = 0
    public var droppedCount: UInt64 = 0

    /// `seed`: the run's seed for the network (each pair's stream is derived from it);
    /// `timer`: how to wrap a `NetTimer` into the world's event payload.
    public init(network: Network, kernel: Kernel<Payload>, seed: UInt64, timer: @escaping (NetTimer) -> Payload) {
        net = network
        self.kernel = kernel
        baseSeed = seed
        timerEvent = timer
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

    /// A draw for things that travel from `from` to `to` outside connections.
    @inlinable public func withStream<T>(_ from: UInt32, _ to: UInt32, _ body: (inout Rng) -> T) -> T {
        let i = pair(from, to)
        return body(&pairRng[i])
    }

    // MARK: - Listeners

    /// Sets a listener's backlog (`listen(fd, backlog)`): a paused process's kernel completes
    /// at most backlog + 1 hand-shakes that it has not accepted; further SYNs are dropped.
    public func listen(_ p: UInt32, backlog b: Int) {
        growListeners(Int(p))
        backlog[Int(p)] = Int32(clamping: b)
    }

    func growListeners(_ p: Int) {
        while backlog.count <= p { backlog.append(Int32.max); acceptQueue.append(0); listening.append(true) }
    }

    /// Opens or closes a process's listening port (PostgreSQL's postmaster while it starts or
    /// is stopped, Patroni's REST API once it shuts down): a closed port answers SYNs with RST.
    public func setListening(_ p: UInt32, _ on: Bool) {
        growListeners(Int(p))
        listening[Int(p)] = on
    }

    func isListening(_ p: UInt32) -> Bool { Int(p) >= listening.count || listening[Int(p)] }

    /// The process accepts what its kernel queued (it resumed, or it restarted).
    public func drainAcceptQueue(_ p: UInt32) {
        if Int(p) < acceptQueue.count { acceptQueue[Int(p)] = 0 }
    }

    public func acceptQueueLength(_ p: UInt32) -> Int { Int(p) < acceptQueue.count ? Int(acceptQueue[Int(p)]) : 0 }

    // MARK: - Connections

    @inlinable func valid(_ c: ConnID) -> Bool {
        Int(c.slot) < conns.count && conns[Int(c.slot)].gen == c.gen && conns[Int(c.slot)].state != .free
    }

    /// A new connection from `a` (the initiator) to the listener `b`, not yet connecting.
    public func newConnection(from a: UInt32, to b: UInt32) -> ConnID {
        let slot: UInt32
        if let s = freeSlots.popLast() { slot = s } else {
            conns.append(Conn())
            hooks.append(Hooks())
            slot = UInt32(conns.count - 1)
        }
        var c = conns[Int(slot)]
        let gen = c.gen
        c = Conn()
        c.gen = gen
        c.state = .connecting
        c.a = a
        c.b = b
        c.incA = kernel.incarnation(of: a)
        conns[Int(slot)] = c
        return ConnID(slot: slot, gen: gen)
    }

    /// Starts the hand-shake. `onConnected` or `onRefused` is delivered to the initiator after
    /// a round trip, or later after SYN retransmissions; `onTimedOut` when they run out (127 s).
    /// An initiator that gives up first closes the connection.
    public func connect(_ c: ConnID, onConnected: Payload, onRefused: Payload, onTimedOut: Payload? = nil) {
        guard valid(c) else { return }
        let i = Int(c.slot)
        hooks[i].onConnected = onConnected
        hooks[i].onRefused = onRefused
        hooks[i].onTimedOut = onTimedOut
        conns[i].synStart = kernel.now
        handshake(c, attempt: 0)
    }

    /// Sets what each end receives when the connection is reset under it.
    public func setResets(_ c: ConnID, toA: Payload?, toB: Payload?) {
        guard valid(c) else { return }
        hooks[Int(c.slot)].resetToA = toA
        hooks[Int(c.slot)].resetToB = toB
    }

    /// `TCP_USER_TIMEOUT`: unacknowledged data older than this aborts the connection.
    public func setUserTimeout(_ c: ConnID, _ t: Nanos) {
        guard valid(c) else { return }
        conns[Int(c.slot)].userTimeoutNs = t
    }

    /// One attempt of the hand-shake (the first SYN, or retransmission `attempt`).
    func handshake(_ c: ConnID, attempt: Int) {
        let i = Int(c.slot)
        if attempt > synRetries {
            // The last retransmission's timeout ran out unanswered: ETIMEDOUT.
            if let p = hooks[i].onTimedOut { kernel.schedule(after: 0, to: conns[i].a, p) }
            release(c)
            return
        }
        let a = conns[i].a, b = conns[i].b
        let ha = host(of: a), hb = host(of: b)
        var answered = false
        if net.pathOpen(ha, hb), !withStream(a, b, { net.handshakeLost(ha, hb, rng: &$0) }) {
            let rtt = withStream(a, b) { net.roundTrip(ha, hb, rng: &$0) }
            switch isListening(b) ? kernel.status(of: b) : .down {
            case .running:
                established(c, after: rtt)
                answered = true
            case .paused:
                growListeners(Int(b))
                if acceptQueue[Int(b)] <= backlog[Int(b)] {
                    acceptQueue[Int(b)] += 1
                    established(c, after: rtt)
                    answered = true
                }
                // A full accept queue drops the SYN: the initiator retransmits it.
            case .down:
                // Nothing listens on a live host: RST.
                if let p = hooks[i].onRefused { kernel.schedule(after: rtt, to: a, p) }
                release(c)
                answered = true
            }
        }
        guard !answered else { return }
        // SYN retransmissions at 1, 3, 7, 15, 31, 63 s after the first; ETIMEDOUT when the last
        // one's timeout ends, at 127 s (`tcp_write_timeout` with `tcp_syn_retries` = 6).
        let next = conns[i].synStart + synTimeoutNs * ((1 << Nanos(attempt + 1)) - 1)
        kernel.schedule(at: Swift.max(next, kernel.now), to: Kernel<Payload>.world, timerEvent(NetTimer(conn: c, kind: .syn, arg: UInt8(attempt + 1))))
    }

    func established(_ c: ConnID, after rtt: Nanos) {
        let i = Int(c.slot)
        conns[i].state = .open
        conns[i].incB = kernel.incarnation(of: conns[i].b)
        let now = kernel.now
        conns[i].d0.lastArrival = now + rtt
        conns[i].d1.lastArrival = now + rtt
        if let p = hooks[i].onConnected { kernel.schedule(after: rtt, to: conns[i].a, p) }
        hooks[i].onConnected = nil
        hooks[i].onRefused = nil
        hooks[i].onTimedOut = nil
    }

    /// Closes the connection (either end): data not yet delivered is discarded.
    public func close(_ c: ConnID) {
        guard valid(c) else { return }
        release(c)
    }

    func release(_ c: ConnID) {
        let i = Int(c.slot)
        if conns[i].d0.heldCount > 0 || conns[i].d1.heldCount > 0 {
            let before = held.count
            held.removeAll { $0.conn == c }
            droppedCount &+= UInt64(before - held.count)
        }
        conns[i].state = .free
        hooks[i].onConnected = nil
        hooks[i].onRefused = nil
        hooks[i].onTimedOut = nil
        hooks[i].resetToA = nil
        hooks[i].resetToB = nil
        conns[i].gen &+= 1
        freeSlots.append(c.slot)
    }

    @inlinable public func isOpen(_ c: ConnID) -> Bool { valid(c) && conns[Int(c.slot)].state == .open }
    @inlinable public func isConnecting(_ c: ConnID) -> Bool { valid(c) && conns[Int(c.slot)].state == .connecting }

    /// The other end of an open connection.
    @inlinable public func peer(_ c: ConnID, of p: UInt32) -> UInt32? {
        guard valid(c) else { return nil }
        let a = conns[Int(c.slot)].a, b = conns[Int(c.slot)].b
        return p == a ? b : p == b ? a : nil
    }

    public var openConnections: Int { conns.reduce(0) { $0 + ($1.state == .free ? 0 : 1) } }

    /// The initiator and the listener of a connection.
    @inlinable public func ends(_ c: ConnID) -> (initiator: UInt32, listener: UInt32)? {
        guard valid(c) else { return nil }
        return (conns[Int(c.slot)].a, conns[Int(c.slot)].b)
    }

    /// Whether `p` opened `c` (its initiator).
    @inlinable public func isInitiator(_ c: ConnID, _ p: UInt32) -> Bool { valid(c) && conns[Int(c.slot)].a == p }

    /// The open connections whose ends satisfy `match(initiator, listener)`, in slot order.
    public func connections(where match: (UInt32, UInt32) -> Bool) -> [ConnID] {
        var out: [ConnID] = []
        for i in conns.indices where conns[i].state == .open && match(conns[i].a, conns[i].b) {
            out.append(ConnID(slot: UInt32(i), gen: conns[i].gen))
        }
        return out
    }
    public var heldCount: Int { held.count }

    /// Whether a TCP keepalive probe from `p` would be answered: the path is open both ways
    /// and the other end's process is the one the connection was made with.
    public func probe(_ c: ConnID, from p: UInt32) -> Bool {
        guard isOpen(c), let q = peer(c, of: p) else { return false }
        let x = conns[Int(c.slot)]
        let inc = q == x.a ? x.incA : x.incB
        return net.pathOpen(host(of: p), host(of: q)) && kernel.status(of: q) != .down && kernel.incarnation(of: q) == inc
    }

    // MARK: - Data

    /// Sends `payload` from `p` (one end of `c`) to the other end. `transmitNs`: how long the
    /// message occupies the connection before it propagates (its size over the bandwidth).
    @discardableResult @inlinable
    public func send(_ c: ConnID, from p: UInt32, _ payload: Payload, transmitNs: Nanos = 0) -> SendResult {
        sentCount &+= 1
        guard valid(c), conns[Int(c.slot)].state == .open else { droppedCount &+= 1; return .dropped }
        let i = Int(c.slot)
        let fromA = p == conns[i].a
        guard fromA || p == conns[i].b else { droppedCount &+= 1; return .dropped }
        // A process that restarted does not own its earlier life's sockets.
        guard kernel.incarnation(of: p) == (fromA ? conns[i].incA : conns[i].incB) else { droppedCount &+= 1; return .dropped }
        let q = fromA ? conns[i].b : conns[i].a
        let hp = host(of: p), hq = host(of: q)
        let heldSince = fromA ? conns[i].d0.heldSince : conns[i].d1.heldSince
        guard heldSince < 0, net.canReach(hp, hq) else {
            hold(c, fromA: fromA, payload, transmitNs: transmitNs)
            return .held
        }
        let k = pair(p, q)
        let spec = net.link(hp, hq), rtoMin = net.rtoMinNs
        if let delay = hp == hq ? net.loopbackNs : Network.sampleDelay(spec, rtoMinNs: rtoMin, rng: &pairRng[k]) {
            let now = kernel.now
            let at: Nanos
            if fromA {
                conns[i].d0.busyUntil = Swift.max(now, conns[i].d0.busyUntil) + transmitNs
                at = Swift.max(conns[i].d0.busyUntil + delay, conns[i].d0.lastArrival)
                conns[i].d0.lastArrival = at
            } else {
                conns[i].d1.busyUntil = Swift.max(now, conns[i].d1.busyUntil) + transmitNs
                at = Swift.max(conns[i].d1.busyUntil + delay, conns[i].d1.lastArrival)
                conns[i].d1.lastArrival = at
            }
            kernel.schedule(at: at, to: q, payload)
            return .arrives(at: at)
        }
        hold(c, fromA: fromA, payload, transmitNs: transmitNs)
        return .held
    }

    /// The path is cut (or data is already waiting): the message joins the held data, which
    /// TCP retransmits on the connection's schedule.
    @usableFromInline func hold(_ c: ConnID, fromA: Bool, _ payload: Payload, transmitNs: Nanos) {
        let i = Int(c.slot)
        let p = fromA ? conns[i].a : conns[i].b, q = fromA ? conns[i].b : conns[i].a
        var d = fromA ? conns[i].d0 : conns[i].d1
        if d.heldCount >= heldLimit, let k = held.firstIndex(where: { $0.conn == c && $0.dir == (fromA ? 0 : 1) }) {
            held.remove(at: k)
            d.heldCount -= 1
            droppedCount &+= 1
        }
        held.append(Held(conn: c, dir: fromA ? 0 : 1, transmitNs: transmitNs, payload: payload))
        d.heldCount += 1
        if d.heldSince < 0 {
            d.heldSince = kernel.now
            let limit = conns[i].userTimeoutNs > 0 ? conns[i].userTimeoutNs : giveUpAfter(rtoFor(host(of: p), host(of: q)))
            kernel.schedule(after: limit, to: Kernel<Payload>.world, timerEvent(NetTimer(conn: c, kind: .giveUp, arg: fromA ? 0 : 1)))
        }
        if fromA { conns[i].d0 = d } else { conns[i].d1 = d }
    }

    /// A UDP datagram (VRRP adverts): lost on a cut path, to a dead host or to link loss;
    /// never retransmitted, never ordered.
    public func datagram(from p: UInt32, to q: UInt32, _ payload: Payload) {
        let hp = host(of: p), hq = host(of: q)
        guard net.canReach(hp, hq) else { return }
        let spec = net.link(hp, hq)
        guard let delay = withStream(p, q, { r -> Nanos? in r.chance(spec.loss) ? nil : (hp == hq ? net.loopbackNs : spec.latency.sample(&r)) }) else { return }
        kernel.schedule(after: delay, to: q, payload)
    }

    /// The retransmission timeout of a path: Linux's RTO from the RTT (`tcp_set_rto`: srtt +
    /// 4 rttvar), at least `TCP_RTO_MIN`.
    func rtoFor(_ a: Int, _ b: Int) -> Nanos {
        let rtt = net.link(a, b).latency.typicalNs + net.link(b, a).latency.typicalNs
        return Swift.max(net.rtoMinNs, 3 * rtt)
    }

    /// `retransmits_timed_out` for `tcp_retries2` retries starting at `rto`.
    func giveUpAfter(_ rto: Nanos) -> Nanos {
        var total: Nanos = 0, r = rto
        for _ in 0...retries2 {
            total += r
            r = Swift.min(r * 2, rtoMaxNs)
        }
        return total
    }

    /// The first retransmission instant at or after `now` for data held since `since`.
    func nextRetransmit(since: Nanos, rto: Nanos, now: Nanos) -> Nanos {
        var t = since, r = rto
        while t < now {
            t += r
            r = Swift.min(r * 2, rtoMaxNs)
        }
        return t
    }

    // MARK: - Timers

    public func handle(_ t: NetTimer) {
        guard valid(t.conn) else { return }
        let i = Int(t.conn.slot)
        switch t.kind {
        case .syn:
            guard conns[i].state == .connecting else { return }
            handshake(t.conn, attempt: Int(t.arg))
        case .retransmit:
            retransmit(t.conn, dir: t.arg)
        case .giveUp:
            let d = t.arg == 0 ? conns[i].d0 : conns[i].d1
            guard d.heldSince >= 0 else { return }
            let limit = conns[i].userTimeoutNs > 0 ? conns[i].userTimeoutNs : giveUpAfter(rtoFor(host(of: conns[i].a), host(of: conns[i].b)))
            guard kernel.now - d.heldSince >= limit else { return }
            // ETIMEDOUT: the sender's socket is aborted.
            let sender = t.arg == 0 ? conns[i].a : conns[i].b
            if let p = t.arg == 0 ? hooks[i].resetToA : hooks[i].resetToB { kernel.schedule(after: 0, to: sender, p) }
            release(t.conn)
        }
    }

    /// The next retransmission of direction `dir` went out on an open path: everything held
    /// is delivered in order, or the rebooted/restarted peer answers with RST.
    func retransmit(_ c: ConnID, dir: UInt8) {
        let i = Int(c.slot)
        guard conns[i].state == .open else { return }
        let fromA = dir == 0
        let p = fromA ? conns[i].a : conns[i].b, q = fromA ? conns[i].b : conns[i].a
        var d = fromA ? conns[i].d0 : conns[i].d1
        guard d.heldSince >= 0 else { return }
        let hp = host(of: p), hq = host(of: q)
        guard net.canReach(hp, hq) else { return }
        let qInc = fromA ? conns[i].incB : conns[i].incA
        if kernel.incarnation(of: q) != qInc || kernel.status(of: q) == .down {
            // The peer's socket is gone (its process died, its host rebooted): RST.
            if net.canReach(hq, hp), let r = fromA ? hooks[i].resetToA : hooks[i].resetToB {
                kernel.schedule(after: withStream(q, p, { net.segmentDelay(from: hq, to: hp, rng: &$0) }) ?? 0, to: p, r)
            }
            release(c)
            return
        }
        let now = kernel.now
        var waiting: [Held] = []
        held.removeAll { h in
            if h.conn == c && h.dir == dir { waiting.append(h); return true }
            return false
        }
        d.heldSince = -1
        d.heldCount = 0
        for h in waiting {
            let delay = withStream(p, q, { net.segmentDelay(from: hp, to: hq, rng: &$0) }) ?? net.link(hp, hq).latency.typicalNs
            let start = Swift.max(now, d.busyUntil)
            d.busyUntil = start + h.transmitNs
            let at = Swift.max(d.busyUntil + delay, d.lastArrival)
            d.lastArrival = at
            kernel.schedule(at: at, to: q, h.payload)
        }
        if fromA { conns[i].d0 = d } else { conns[i].d1 = d }
    }

    /// Schedules the next retransmission of every connection holding data towards a path that
    /// is open again.
    func rescheduleHeld(where affected: (Int, Int) -> Bool) {
        let now = kernel.now
        for i in conns.indices where conns[i].state == .open {
            for dir in [UInt8(0), 1] {
                let d = dir == 0 ? conns[i].d0 : conns[i].d1
                guard d.heldSince >= 0 else { continue }
                let p = dir == 0 ? conns[i].a : conns[i].b, q = dir == 0 ? conns[i].b : conns[i].a
                let hp = host(of: p), hq = host(of: q)
                guard affected(hp, hq), net.canReach(hp, hq) else { continue }
                let at = nextRetransmit(since: d.heldSince, rto: rtoFor(hp, hq), now: now)
                kernel.schedule(at: at, to: Kernel<Payload>.world, timerEvent(NetTimer(conn: ConnID(slot: UInt32(i), gen: conns[i].gen), kind: .retransmit, arg: dir)))
            }
        }
    }

    // MARK: - Process and host lifecycle

    /// Process `p` died. If its host is still up, its kernel resets every connection it had:
    /// a peer gets its reset payload after one-way latency (if the path is open; otherwise it
    /// learns when its next retransmission gets through). If the host died, nothing is sent.
    public func processDied(_ p: UInt32) {
        drainAcceptQueue(p)
        let hostAlive = net.hostUp[host(of: p)]
        for i in conns.indices where conns[i].state != .free && (conns[i].a == p || conns[i].b == p) {
            let c = ConnID(slot: UInt32(i), gen: conns[i].gen)
            if conns[i].state == .connecting {
                if conns[i].a == p { release(c) }
                continue
            }
            guard hostAlive else { continue }
            let q = conns[i].a == p ? conns[i].b : conns[i].a
            let reset = conns[i].a == p ? hooks[i].resetToB : hooks[i].resetToA
            let hp = host(of: p), hq = host(of: q)
            guard net.canReach(hp, hq) else { continue }
            if let r = reset { kernel.schedule(after: withStream(p, q, { net.segmentDelay(from: hp, to: hq, rng: &$0) }) ?? 0, to: q, r) }
            release(c)
        }
    }

    public func setHostUp(_ h: Int, _ up: Bool) {
        net.setHostUp(h, up)
        if up { rescheduleHeld { $1 == h || $0 == h } }
    }

    public func cut(_ from: Int, _ to: Int) { net.cut(from, to) }

    /// Removes one cut rule; if the path is open again, what was held on it goes out at each
    /// connection's next retransmission.
    public func uncut(_ from: Int, _ to: Int) {
        if net.uncut(from, to) { rescheduleHeld { $0 == from && $1 == to } }
    }

    public func healAll() {
        net.healAll()
        rescheduleHeld { _, _ in true }
    }
}
