import Testing
import SimCore
@testable import SimNet

enum Msg { case data(Int), reset(Int) }

struct Inbox: EventHandler {
    var got: [(Nanos, UInt32, Msg)] = []
    mutating func handle(_ e: Event<Msg>, kernel: Kernel<Msg>) { got.append((e.time, e.target, e.payload)) }
    func traceKey(_ p: Msg) -> UInt64 {
        switch p { case .data(let i): return UInt64(i); case .reset(let i): return UInt64(i) | 1 << 50 }
    }
    var data: [Int] { got.compactMap { if case .data(let i) = $0.2 { return i } else { return nil } } }
}

/// Three hosts, one process each, 1 ms constant latency.
func makeFabric(loss: Double = 0) -> (Fabric<Msg>, [UInt32]) {
    let k = Kernel<Msg>()
    var net = Network(hostCount: 3, defaultLink: LinkSpec(latency: Latency(.constant(Time.ms)), loss: loss))
    net.loopbackNs = 10 * Time.us
    let f = Fabric(network: net, kernel: k, seed: 1)
    let ps = (0..<3).map { k.spawn(host: UInt32($0)) }
    for p in ps { k.start(p) }
    return (f, ps)
}

@Suite("Network and connection semantics")
struct FabricTests {
    @Test("connect: accepted by a live process, refused at once by a dead one on a live host")
    func refusedVersusAccepted() {
        let (f, p) = makeFabric()
        #expect(f.connect(from: p[0], to: p[1]) == .accepted(afterNs: 2 * Time.ms))
        f.kernel.stop(p[1])
        #expect(f.connect(from: p[0], to: p[1]) == .refused(afterNs: 2 * Time.ms))
    }

    @Test("connect: no answer from a crashed host or across a cut in either direction")
    func silent() {
        let (f, p) = makeFabric()
        f.setHostUp(1, false)
        #expect(f.connect(from: p[0], to: p[1]) == .noAnswer)
        f.setHostUp(1, true)
        f.cut(0, 2)
        #expect(f.connect(from: p[0], to: p[2]) == .noAnswer)   // SYN lost
        #expect(f.connect(from: p[2], to: p[0]) == .noAnswer)   // SYN-ACK lost
    }

    @Test("connect: a paused process's kernel still accepts")
    func pausedAccepts() {
        let (f, p) = makeFabric()
        f.kernel.pause(p[1])
        #expect(f.connect(from: p[0], to: p[1]) == .accepted(afterNs: 2 * Time.ms))
    }

    @Test("a paused process receives nothing until it resumes")
    func pausedHolds() {
        let (f, p) = makeFabric()
        var inbox = Inbox()
        f.kernel.pause(p[1])
        f.send(from: p[0], to: p[1], .data(1))
        f.kernel.run(until: 50 * Time.ms, handler: &inbox)
        #expect(inbox.got.isEmpty)
        f.kernel.resume(p[1])
        f.kernel.run(until: 60 * Time.ms, handler: &inbox)
        #expect(inbox.data == [1])
        #expect(inbox.got[0].0 == 50 * Time.ms)
    }

    @Test("partitions are directed: A cut from B while B still reaches A")
    func directed() {
        let (f, p) = makeFabric()
        var inbox = Inbox()
        f.cut(0, 1)
        #expect(f.send(from: p[0], to: p[1], .data(1)) == .blocked)
        #expect(f.send(from: p[1], to: p[0], .data(2)) == .arrives(at: Time.ms))
        #expect(f.send(from: p[0], to: p[2], .data(3)) == .arrives(at: Time.ms))
        f.kernel.run(until: 10 * Time.ms, handler: &inbox)
        #expect(inbox.data.sorted() == [2, 3])
    }

    @Test("a message held by a cut arrives after the heal, at TCP's next retransmission")
    func heldUntilHeal() {
        let (f, p) = makeFabric()
        var inbox = Inbox()
        f.cut(0, 1)
        f.send(from: p[0], to: p[1], .data(1))
        f.send(from: p[0], to: p[1], .data(2))
        f.kernel.run(until: 1 * Time.s, handler: &inbox)
        #expect(inbox.got.isEmpty)
        f.uncut(0, 1)
        f.kernel.run(until: 10 * Time.s, handler: &inbox)
        // Retransmissions at 0.2, 0.6, 1.4 s after the send: the first one after the heal
        // at 1 s goes out at 1.4 s and arrives 1 ms later; the second follows in order.
        #expect(inbox.data == [1, 2])
        #expect(inbox.got[0].0 == 1400 * Time.ms + Time.ms)
    }

    @Test("held messages past their hold limit are dropped at the heal")
    func holdLimit() {
        let (f, p) = makeFabric()
        var inbox = Inbox()
        f.cut(0, 1)
        f.send(from: p[0], to: p[1], .data(1), holdLimitNs: 5 * Time.s)
        f.kernel.run(until: 6 * Time.s, handler: &inbox)
        f.uncut(0, 1)
        f.kernel.run(until: 200 * Time.s, handler: &inbox)
        #expect(inbox.got.isEmpty)
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

    @Test("delivery is in order within a host pair even with jittery latency")
    func ordered() {
        let k = Kernel<Msg>()
        let net = Network(hostCount: 2, defaultLink: LinkSpec(latency: Latency(.uniform(lo: Time.ms, hi: 50 * Time.ms))))
        let f = Fabric(network: net, kernel: k, seed: 3)
        let a = k.spawn(host: 0), b = k.spawn(host: 1)
        k.start(a); k.start(b)
        var inbox = Inbox()
        for i in 0..<500 { f.send(from: a, to: b, .data(i)) }
        k.run(until: Time.s, handler: &inbox)
        #expect(inbox.data == Array(0..<500))
    }

    @Test("loss delays messages by retransmissions instead of losing them")
    func lossIsDelay() {
        let (f, p) = makeFabric(loss: 0.3)
        var inbox = Inbox()
        for i in 0..<200 { f.send(from: p[0], to: p[1], .data(i)) }
        f.kernel.run(until: 600 * Time.s, handler: &inbox)
        #expect(inbox.data == Array(0..<200))
        #expect(inbox.got.last!.0 >= 200 * Time.ms)   // some retransmission happened
    }

    @Test("a process dying on a live host resets its connections; a dying host sends nothing")
    func resets() {
        let (f, p) = makeFabric()
        var inbox = Inbox()
        _ = f.open(p[0], p[1], resetToA: .reset(1), resetToB: .reset(2))
        f.kernel.stop(p[1])
        f.processDied(p[1])
        _ = f.open(p[0], p[2], resetToA: .reset(3), resetToB: .reset(4))
        f.setHostUp(2, false)
        f.kernel.stop(p[2])
        f.processDied(p[2])
        f.kernel.run(until: Time.s, handler: &inbox)
        #expect(inbox.got.count == 1)
        if case .reset(let r) = inbox.got[0].2 { #expect(r == 1) } else { Issue.record("expected a reset") }
        #expect(inbox.got[0].0 == Time.ms)
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
