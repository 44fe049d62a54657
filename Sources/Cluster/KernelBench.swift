import SimCore
import SimNet

/// The kernel benchmark: a synthetic load of timers and messages through the real kernel and
/// fabric (queue, lifecycle checks, trace hash, latency sampling, in-order delivery), with no
/// model logic. `simctl bench` reports its events per second.
public enum KernelBench {
    enum P { case timer, msg(from: UInt32, hops: UInt8) }

    struct Load: EventHandler {
        unowned(unsafe) let fabric: Fabric<P>
        var rng: Rng
        let procs: UInt32
        var checksum: UInt64 = 0
        mutating func handle(_ e: Event<P>, kernel: Kernel<P>) {
            switch e.payload {
            case .timer:
                let to = UInt32(rng.below(UInt64(procs)))
                fabric.send(from: e.target, to: to, .msg(from: e.target, hops: 0))
                kernel.schedule(after: Time.ms + Nanos(rng.below(UInt64(9 * Time.ms))), to: e.target, .timer)
            case .msg(let from, let hops):
                checksum &+= UInt64(from) &+ UInt64(hops)
                if hops < 1 { fabric.send(from: e.target, to: from, .msg(from: e.target, hops: hops + 1)) }
            }
        }
        func traceKey(_ p: P) -> UInt64 {
            switch p {
            case .timer: return 1
            case .msg(let f, let h): return UInt64(f) << 8 | UInt64(h)
            }
        }
    }

    public struct Result: Sendable {
        public var events: UInt64
        public var seconds: Double
        public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
        public var traceHash: String
    }

    /// Runs about `events` events over 8 hosts × 8 processes.
    public static func run(events: UInt64, wallClock: () -> Double) -> Result {
        let kernel = Kernel<P>(capacity: 4096)
        let hosts = 8, perHost = 8
        let net = Network(hostCount: hosts, defaultLink: LinkSpec(latency: Latency(.uniform(lo: 100 * Time.us, hi: 400 * Time.us))))
        let fabric = Fabric(network: net, kernel: kernel, seed: 2)
        var rng = Rng(seed: 1)
        for h in 0..<hosts { for _ in 0..<perHost { kernel.start(kernel.spawn(host: UInt32(h))) } }
        let n = UInt32(hosts * perHost)
        for p in 0..<n { kernel.schedule(at: Nanos(rng.below(UInt64(10 * Time.ms))), to: p, .timer) }
        var load = Load(fabric: fabric, rng: Rng(seed: 3), procs: n)
        let start = wallClock()
        kernel.run(until: Nanos.max / 2, maxEvents: events, handler: &load)
        let secs = wallClock() - start
        return Result(events: kernel.processed, seconds: secs, traceHash: kernel.trace.hex)
    }
}
