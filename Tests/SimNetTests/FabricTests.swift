import Testing
import SimCore
@testable import SimNet

enum Msg { case data(Int), reset(Int), connected(Int), refused(Int), timedOut(Int), timer(NetTimer) }

/// Records what each process received; hands the fabric's own timers back to it.
struct Inbox: EventHandler {
    let fabric: Fabric<Msg>
    var got: [(Nanos, UInt32, Msg)] = []
    init(_ f: Fabric<Msg>) { fabric = f }
    mutating func handle(_ e: Event<Msg>, kernel: Kernel<Msg>) {
        if case .timer(let t) = e.payload { fabric.handle(t); return }
        got.append((e.time, e.target, e.payload))
    }
    func traceKey(_ p: Msg) -> UInt64 {
        switch p {
        case .data(let i): return UInt64(i)
        case .reset(let i): return UInt64(i) | 1 << 50
        case .connected(let i): return UInt64(i) | 2 << 50
        case .refused(let i): return UInt64(i) | 3 << 50
        case .timedOut(let i): return UInt64(i) | 4 << 50
        case .timer(let t): return UInt64(t.conn.slot) | 5 << 50
        }
    }
    var data: [Int] { got.compactMap { if case .data(let i) = $0.2 { return i } else { return nil } } }
    func times(_ match: (Msg) -> Bool) -> [Nanos] { got.filter { match($0.2) }.map(\.0) }
    var connectedAt: [Nanos] { times { if case .connected = $0 { true } else { false } } }
    var refusedAt: [Nanos] { times { if case .refused = $0 { true } else { false } } }
    var timedOutAt: [Nanos] { times { if case .timedOut = $0 { true } else { false } } }
    var resets: [(Nanos, UInt32, Int)] { got.compactMap { if case .reset(let i) = $0.2 { ($0.0, $0.1, i) } else { nil } } }
}

/// Three hosts, one process each, 1 ms constant latency.
func makeFabric(loss: Double = 0) -> (Fabric<Msg>, [UInt32]) {
    let k = Kernel<Msg>()
    var net = Network(hostCount: 3, defaultLink: LinkSpec(latency: Latency(.constant(Time.ms)), loss: loss))
    net.loopbackNs = 10 * Time.us
    let f = Fabric(network: net, kernel: k, seed: 1, timer: { .timer($0) })
    let ps = (0..<3).map { k.spawn(host: UInt32($0)) }
    for p in ps { k.start(p) }
    return (f, ps)
}

/// Opens a connection from `a` to `b` and runs until it is established.
func established(_ f: Fabric<Msg>, _ a: UInt32, _ b: UInt32, _ inbox: inout Inbox, tag: Int = 0) -> ConnID {
    let c = f.newConnection(from: a, to: b)
    f.connect(c, onConnected: .connected(tag), onRefused: .refused(tag), onTimedOut: .timedOut(tag))
    f.setResets(c, toA: .reset(tag), toB: .reset(tag + 1000))
    _ = f.kernel.run(until: f.kernel.now + 200 * Time.ms, handler: &inbox)
    #expect(f.isOpen(c))
    return c
}

@Suite("Network and connection semantics")
struct FabricTests {
    @Test("connect: accepted by a live process after a round trip, refused (RST) by a dead one on a live host")
    func refusedVersusAccepted() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        let c = f.newConnection(from: p[0], to: p[1])
        f.connect(c, onConnected: .connected(1), onRefused: .refused(1))
        f.kernel.stop(p[2])
        let d = f.newConnection(from: p[0], to: p[2])
        f.connect(d, onConnected: .connected(2), onRefused: .refused(2))
        _ = f.kernel.run(until: Time.s, handler: &inbox)
        #expect(inbox.connectedAt == [2 * Time.ms])
        #expect(inbox.refusedAt == [2 * Time.ms])
        #expect(f.isOpen(c) && !f.isOpen(d))
    }

    @Test("connect to a dead host: SYN retransmissions at 1, 3, 7 … s, ETIMEDOUT after 127 s (tcp_syn_retries 6)")
    func synRetries() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        f.setHostUp(1, false)
        let c = f.newConnection(from: p[0], to: p[1])
        f.connect(c, onConnected: .connected(1), onRefused: .refused(1), onTimedOut: .timedOut(1))
        _ = f.kernel.run(until: 200 * Time.s, handler: &inbox)
        #expect(inbox.timedOutAt == [127 * Time.s])
        #expect(inbox.connectedAt.isEmpty && inbox.refusedAt.isEmpty)
    }

    @Test("a SYN retransmission after the host comes back connects at that retransmission")
    func synAfterReboot() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        f.setHostUp(1, false)
        let c = f.newConnection(from: p[0], to: p[1])
        f.connect(c, onConnected: .connected(1), onRefused: .refused(1), onTimedOut: .timedOut(1))
        _ = f.kernel.run(until: 5 * Time.s, handler: &inbox)
        f.setHostUp(1, true)
        _ = f.kernel.run(until: 20 * Time.s, handler: &inbox)
        // Retransmissions at 1, 3, 7 s: the one at 7 s is answered.
        #expect(inbox.connectedAt == [7 * Time.s + 2 * Time.ms])
    }

    @Test("connect across a cut in either direction gets no answer")
    func silentAcrossCuts() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        f.cut(0, 2)
        let c1 = f.newConnection(from: p[0], to: p[2])   // SYN lost
        f.connect(c1, onConnected: .connected(1), onRefused: .refused(1))
        let c2 = f.newConnection(from: p[2], to: p[0])   // SYN-ACK lost
        f.connect(c2, onConnected: .connected(2), onRefused: .refused(2))
        _ = f.kernel.run(until: 10 * Time.s, handler: &inbox)
        #expect(inbox.got.isEmpty)
        #expect(f.isConnecting(c1) && f.isConnecting(c2))
    }

    @Test("a paused listener's kernel completes backlog + 1 hand-shakes, then drops SYNs")
    func pausedBacklog() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        f.listen(p[1], backlog: 2)
        f.kernel.pause(p[1])
        for i in 0..<5 {
            let c = f.newConnection(from: p[0], to: p[1])
            f.connect(c, onConnected: .connected(i), onRefused: .refused(i))
        }
        _ = f.kernel.run(until: 500 * Time.ms, handler: &inbox)
        #expect(inbox.connectedAt.count == 3)
        #expect(f.acceptQueueLength(p[1]) == 3)
        // Resumed, the process accepts its queue; the dropped SYNs' retransmission at 1 s connects.
        f.kernel.resume(p[1])
        f.drainAcceptQueue(p[1])
        _ = f.kernel.run(until: 2 * Time.s, handler: &inbox)
        #expect(inbox.connectedAt.count == 5)
        #expect(inbox.connectedAt.last == Time.s + 2 * Time.ms)
    }

    @Test("a closed listening port on a running process refuses")
    func closedPortRefuses() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        f.setListening(p[1], false)
        let c = f.newConnection(from: p[0], to: p[1])
        f.connect(c, onConnected: .connected(1), onRefused: .refused(1))
        _ = f.kernel.run(until: Time.s, handler: &inbox)
        #expect(inbox.refusedAt == [2 * Time.ms])
    }

    @Test("a paused process receives nothing until it resumes")
    func pausedHolds() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        let c = established(f, p[0], p[1], &inbox)
        inbox.got.removeAll()
        let t = f.kernel.now
        f.kernel.pause(p[1])
        f.send(c, from: p[0], .data(1))
        _ = f.kernel.run(until: t + 50 * Time.ms, handler: &inbox)
        #expect(inbox.got.isEmpty)
        f.kernel.resume(p[1])
        _ = f.kernel.run(until: t + 60 * Time.ms, handler: &inbox)
        #expect(inbox.data == [1])
        #expect(inbox.got.first?.0 == t + 50 * Time.ms)
    }

    @Test("partitions are directed: data from A to B is held while B's data still reaches A")
    func directed() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        let c = established(f, p[0], p[1], &inbox)
        let d = established(f, p[0], p[2], &inbox, tag: 1)
        inbox.got.removeAll()
        f.cut(0, 1)
        let t = f.kernel.now
        #expect(f.send(c, from: p[0], .data(1)) == .held)
        #expect(f.send(c, from: p[1], .data(2)) == .arrives(at: t + Time.ms))
        #expect(f.send(d, from: p[0], .data(3)) == .arrives(at: t + Time.ms))
        _ = f.kernel.run(until: t + 10 * Time.ms, handler: &inbox)
        #expect(inbox.data.sorted() == [2, 3])
    }

    @Test("data held by a cut arrives after the heal, at the connection's next retransmission")
    func heldUntilHeal() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        let c = established(f, p[0], p[1], &inbox)
        inbox.got.removeAll()
        let t = f.kernel.now
        f.cut(0, 1)
        f.send(c, from: p[0], .data(1))
        f.send(c, from: p[0], .data(2))
        _ = f.kernel.run(until: t + Time.s, handler: &inbox)
        #expect(inbox.got.isEmpty)
        f.uncut(0, 1)
        _ = f.kernel.run(until: t + 10 * Time.s, handler: &inbox)
        // Retransmissions at 0.2, 0.6, 1.4 s after the send: the first one after the heal
        // at 1 s goes out at 1.4 s and arrives 1 ms later; the second follows in order.
        #expect(inbox.data == [1, 2])
        #expect(inbox.got[0].0 == t + 1400 * Time.ms + Time.ms)
    }

    @Test("after a 60 s cut a new connection works in one round trip; the cut one waits for its backoff (102.2 s)")
    func newConnectionBeatsBackoff() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        let old = established(f, p[0], p[1], &inbox)
        inbox.got.removeAll()
        let t = f.kernel.now
        f.cut(0, 1)
        f.send(old, from: p[0], .data(1))
        _ = f.kernel.run(until: t + 60 * Time.s, handler: &inbox)
        f.uncut(0, 1)
        let fresh = f.newConnection(from: p[0], to: p[1])
        f.connect(fresh, onConnected: .connected(7), onRefused: .refused(7))
        _ = f.kernel.run(until: t + 200 * Time.s, handler: &inbox)
        #expect(inbox.connectedAt == [t + 60 * Time.s + 2 * Time.ms])
        // RTO 200 ms doubling: 0.2, 0.6, 1.4, 3.0, 6.2, 12.6, 25.4, 51.0, 102.2 s.
        #expect(inbox.times { if case .data = $0 { true } else { false } } == [t + 102_200 * Time.ms + Time.ms])
    }

    @Test("unacknowledged data times out after tcp_retries2 (924.6 s), or TCP_USER_TIMEOUT, with ETIMEDOUT to the sender")
    func giveUp() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        let c = established(f, p[0], p[1], &inbox)
        let u = established(f, p[0], p[2], &inbox, tag: 1)
        f.setUserTimeout(u, 30 * Time.s)
        inbox.got.removeAll()
        let t = f.kernel.now
        f.cut(0, 1); f.cut(0, 2)
        f.send(c, from: p[0], .data(1))
        f.send(u, from: p[0], .data(2))
        _ = f.kernel.run(until: t + 2000 * Time.s, handler: &inbox)
        let r = inbox.resets
        #expect(r.count == 2)
        #expect(r.first { $0.2 == 1 }?.0 == t + 30 * Time.s)
        #expect(r.first { $0.2 == 0 }?.0 == t + 924_600 * Time.ms)
        #expect(r.allSatisfy { $0.1 == p[0] })
        #expect(!f.isOpen(c) && !f.isOpen(u))
    }

    @Test("held data past the socket buffer limit drops the oldest")
    func heldLimit() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        f.heldLimit = 3
        let c = established(f, p[0], p[1], &inbox)
        inbox.got.removeAll()
        f.cut(0, 1)
        for i in 0..<5 { f.send(c, from: p[0], .data(i)) }
        #expect(f.heldCount == 3)
        f.uncut(0, 1)
        _ = f.kernel.run(until: f.kernel.now + 10 * Time.s, handler: &inbox)
        #expect(inbox.data == [2, 3, 4])
    }

    @Test("overlapping cuts heal only when every rule is lifted")
    func overlapping() {
        let (f, _) = makeFabric()
        f.cut(0, 1); f.cut(0, 1)
        f.uncut(0, 1)
        #expect(f.net.isCut(0, 1))
        f.uncut(0, 1)
        #expect(!f.net.isCut(0, 1))
        f.cut(1, 2); f.cut(2, 1)
        f.healAll()
        #expect(!f.net.isCut(1, 2) && !f.net.isCut(2, 1))
    }

    @Test("delivery is in order within a connection even with jittery latency; connections do not wait for each other")
    func ordered() {
        let k = Kernel<Msg>()
        let net = Network(hostCount: 2, defaultLink: LinkSpec(latency: Latency(.uniform(lo: Time.ms, hi: 50 * Time.ms))))
        let f = Fabric(network: net, kernel: k, seed: 3, timer: { .timer($0) })
        let a = k.spawn(host: 0), b = k.spawn(host: 1)
        k.start(a); k.start(b)
        var inbox = Inbox(f)
        let c = established(f, a, b, &inbox)
        let bulk = established(f, a, b, &inbox, tag: 1)
        inbox.got.removeAll()
        let t = k.now
        for i in 0..<500 { f.send(c, from: a, .data(i)) }
        // A 1 s transmission on another connection does not delay this one.
        f.send(bulk, from: a, .data(9999), transmitNs: Time.s)
        _ = k.run(until: t + 2 * Time.s, handler: &inbox)
        #expect(inbox.data.filter { $0 < 500 } == Array(0..<500))
        let last = inbox.got.filter { if case .data(let i) = $0.2 { i < 500 } else { false } }.map(\.0).max()!
        #expect(last < t + 60 * Time.ms)
        #expect(inbox.got.first { if case .data(9999) = $0.2 { true } else { false } }!.0 >= t + Time.s)
    }

    @Test("loss delays messages by retransmissions instead of losing them")
    func lossIsDelay() {
        let (f, p) = makeFabric(loss: 0.3)
        var inbox = Inbox(f)
        let c = f.newConnection(from: p[0], to: p[1])
        f.connect(c, onConnected: .connected(0), onRefused: .refused(0))
        _ = f.kernel.run(until: 200 * Time.s, handler: &inbox)
        #expect(f.isOpen(c))
        inbox.got.removeAll()
        let t = f.kernel.now
        for i in 0..<200 { f.send(c, from: p[0], .data(i)) }
        _ = f.kernel.run(until: t + 600 * Time.s, handler: &inbox)
        #expect(inbox.data == Array(0..<200))
        #expect(inbox.got.last!.0 >= t + 200 * Time.ms)   // some retransmission happened
    }

    @Test("a process dying on a live host resets its connections; a dying host sends nothing")
    func resets() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        _ = established(f, p[0], p[1], &inbox, tag: 1)
        _ = established(f, p[0], p[2], &inbox, tag: 3)
        inbox.got.removeAll()
        let t = f.kernel.now
        f.kernel.stop(p[1])
        f.processDied(p[1])
        f.setHostUp(2, false)
        f.kernel.stop(p[2])
        f.processDied(p[2])
        _ = f.kernel.run(until: t + Time.s, handler: &inbox)
        #expect(inbox.resets.map { $0.2 } == [1])
        #expect(inbox.resets.first?.0 == t + Time.ms)
    }

    @Test("a retransmission reaching a rebooted host is answered with RST")
    func rstAfterReboot() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        let c = established(f, p[0], p[1], &inbox, tag: 1)
        inbox.got.removeAll()
        let t = f.kernel.now
        f.setHostUp(1, false)
        f.kernel.stop(p[1])
        f.processDied(p[1])
        f.send(c, from: p[0], .data(1))
        _ = f.kernel.run(until: t + 2 * Time.s, handler: &inbox)
        f.kernel.start(p[1])
        f.setHostUp(1, true)
        _ = f.kernel.run(until: t + 10 * Time.s, handler: &inbox)
        // Retransmission at 3.0 s reaches the new kernel; its RST is back 1 ms later.
        #expect(inbox.resets.map { $0.0 } == [t + 3 * Time.s + Time.ms])
        #expect(inbox.data.isEmpty)
    }

    @Test("keepalive probes: answered across an open path by the same process, not after a restart or a cut")
    func probes() {
        let (f, p) = makeFabric()
        var inbox = Inbox(f)
        let c = established(f, p[0], p[1], &inbox)
        #expect(f.probe(c, from: p[0]))
        f.cut(1, 0)
        #expect(!f.probe(c, from: p[0]))
        f.uncut(1, 0)
        f.kernel.pause(p[1])
        #expect(f.probe(c, from: p[0]))   // a paused process's kernel still ACKs
        f.kernel.resume(p[1])
        f.kernel.stop(p[1]); f.kernel.start(p[1])
        #expect(!f.probe(c, from: p[0]))
    }

    @Test("latency shapes respect their floors and centres")
    func latencyShapes() {
        var rng = Rng(seed: 2)
        let ln = Latency(.lognormal(median: Time.ms, sigma: 0.5), floorNs: 300 * Time.us)
        let nm = Latency(.normal(mean: 2 * Time.ms, stddev: Time.ms), floorNs: 0)
        var lnSamples: [Nanos] = [], sumN: Nanos = 0
        for _ in 0..<20_000 {
            let x = ln.sample(&rng)
            #expect(x >= 300 * Time.us)
            lnSamples.append(x)
            let y = nm.sample(&rng)
            #expect(y >= 0)
            sumN += y
        }
        lnSamples.sort()
        let median = lnSamples[lnSamples.count / 2]
        #expect(abs(median - Time.ms) < 50 * Time.us)
        #expect(abs(sumN / 20_000 - 2 * Time.ms) < 60 * Time.us)
    }
}
