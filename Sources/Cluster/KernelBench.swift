import SimCore
import SimNet

/// The kernel benchmark: a synthetic load of timers and messages through the real kernel and
/// fabric (queue, lifecycle checks, trace hash, latency sampling, per-connection ordering),
/// with no model logic. `simctl bench` reports its events per second.
public enum KernelBench {
    enum P { case timer, msg(from: UInt32, hops: UInt8), net(NetTimer), connected }

    struct Load: EventHandler {
        unowned(unsafe) let fabric: Fabric<P>
        var rng: Rng
        let procs: UInt32
        /// One open connection per ordered pair of processes (`from * procs + to`).
        let conns: [ConnID]
        var checksum: UInt64 = 0
        mutating func handle(_ e: Event<P>, kernel: Kernel<P>) {
            switch e.payload {
            case .timer:
                let to = UInt32(rng.below(UInt64(procs)))
                fabric.send(conns[Int(e.target * procs + to)], from: e.target, .msg(from: e.target, hops: 0))
                kernel.schedule(after: Time.ms + Nanos(rng.below(UInt64(9 * Time.ms))), to: e.target, .timer)
            case .msg(let from, let hops):
                checksum &+= UInt64(from) &+ UInt64(hops)
                if hops < 1 { fabric.send(conns[Int(from * procs + e.target)], from: e.target, .msg(from: e.target, hops: hops + 1)) }
            case .net(let t): fabric.handle(t)
            case .connected: break
            }
        }
        func traceKey(_ p: P) -> UInt64 {
            switch p {
            case .timer: return 1
            case .msg(let f, let h): return UInt64(f) << 8 | UInt64(h)
            case .net: return 2
            case .connected: return 3
            }
        }
    }

    public struct Result: Sendable {
        public var events: UInt64
        public var seconds: Double
        public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
        public var traceHash: String
        /// The timer load's sum of targets and times (Benchmarks/heap4.c prints the same).
        public var checksum: UInt64 = 0
    }

    /// The C reference's load through the real kernel: 64 processes, each event reschedules
    /// its process 1 ms + [0, 9 ms) later (Benchmarks/heap4.c does the same on a bare heap).
    public static func runTimers(events: UInt64, wallClock: () -> Double) -> Result {
        struct Timers: EventHandler {
            var rng: Rng
            var checksum: UInt64 = 0
            mutating func handle(_ e: Event<P>, kernel: Kernel<P>) {
                checksum &+= UInt64(e.target) &+ UInt64(kernel.now)
                kernel.schedule(after: Time.ms + Nanos(rng.below(UInt64(9 * Time.ms))), to: e.target, .timer)
            }
            func traceKey(_ p: P) -> UInt64 { 1 }
        }
        let kernel = Kernel<P>(capacity: 4096)
        for h in 0..<8 { for _ in 0..<8 { kernel.start(kernel.spawn(host: UInt32(h))) } }
        var load = Timers(rng: Rng(seed: 3))
        for p in 0..<UInt32(64) { kernel.schedule(at: Nanos(load.rng.below(UInt64(10 * Time.ms))), to: p, .timer) }
        let start = wallClock()
        kernel.run(until: Nanos.max / 2, maxEvents: events, handler: &load)
        let secs = wallClock() - start
        var r = Result(events: kernel.processed, seconds: secs, traceHash: kernel.trace.hex)
        r.checksum = load.checksum
        return r
    }

    /// Runs about `events` events over 8 hosts × 8 processes.
    public static func run(events: UInt64, wallClock: () -> Double) -> Result {
        let kernel = Kernel<P>(capacity: 4096)
        let hosts = 8, perHost = 8
        let net = Network(hostCount: hosts, defaultLink: LinkSpec(latency: Latency(.uniform(lo: 100 * Time.us, hi: 400 * Time.us))))
        let fabric = Fabric(network: net, kernel: kernel, seed: 2, timer: { P.net($0) })
        var rng = Rng(seed: 1)
        for h in 0..<hosts { for _ in 0..<perHost { kernel.start(kernel.spawn(host: UInt32(h))) } }
        let n = UInt32(hosts * perHost)
        var conns: [ConnID] = []
        for a in 0..<n {
            for b in 0..<n {
                let c = fabric.newConnection(from: a, to: b)
                fabric.connect(c, onConnected: .connected, onRefused: .connected)
                conns.append(c)
            }
        }
        // The hand-shakes' own events are not part of the load.
        var drain = Load(fabric: fabric, rng: Rng(seed: 9), procs: n, conns: conns)
        kernel.run(until: Time.ms, handler: &drain)
        for p in 0..<n { kernel.schedule(at: kernel.now + Nanos(rng.below(UInt64(10 * Time.ms))), to: p, .timer) }
        var load = Load(fabric: fabric, rng: Rng(seed: 3), procs: n, conns: conns)
        let before = kernel.processed
        let start = wallClock()
        kernel.run(until: Nanos.max / 2, maxEvents: events, handler: &load)
        let secs = wallClock() - start
        return Result(events: kernel.processed - before, seconds: secs, traceHash: kernel.trace.hex)
    }
}
