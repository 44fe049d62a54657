import SimCore

// Background noise: disturbances that happen by themselves, at a rate, on chosen targets
// (issue 17). A `noise:` section holds sources (or a preset's); the simulation draws each
// source's events as a Poisson process per target, from its own seeded stream.

/// A distribution of a size: a duration or latency in nanoseconds, or a loss fraction.
public struct NoiseSize: Sendable, Equatable, CustomStringConvertible {
    public enum Shape: Sendable, Equatable {
        case fixed(Double)
        case uniform(Double, Double)
        case exponential(mean: Double)
        /// Log-normal through its median and 99th percentile (the way disk and pause figures
        /// are published).
        case lognormal(median: Double, p99: Double)
    }
    public var shape: Shape
    /// Whether the values are nanoseconds (else a fraction) — for the text only.
    public var isTime: Bool

    public init(_ shape: Shape, isTime: Bool = true) {
        self.shape = shape
        self.isTime = isTime
    }

    /// The standard normal's 99th percentile.
    static let z99 = 2.326_347_874

    public func sample(_ rng: inout Rng) -> Double {
        switch shape {
        case .fixed(let v): return v
        case .uniform(let a, let b): return a + (b - a) * rng.unit()
        case .exponential(let m): return rng.exponential(mean: m)
        case .lognormal(let med, let p99):
            let sigma = p99 > med ? logExact(p99 / med) / Self.z99 : 0
            return med * expExact(sigma * rng.normal())
        }
    }

    /// A draw for an episode's event, from the defensive mixture ½ this distribution + ½ the
    /// same with a heavier tail (log-normal: twice the sigma; exponential: three times the
    /// mean), and its likelihood weight p/(½p + ½q) ≤ 2: the rare long events that cause
    /// failovers are drawn often, and the weights keep the estimate unbiased.
    public func sampleTail(_ rng: inout Rng) -> (value: Double, weight: Double) {
        switch shape {
        case .fixed, .uniform: return (sample(&rng), 1)
        case .exponential(let m):
            let heavy = rng.unit() < 0.5
            let x = rng.exponential(mean: heavy ? 3 * m : m)
            let qOverP = expExact(x / m - x / (3 * m)) / 3
            return (x, 2 / (1 + qOverP))
        case .lognormal(let med, let p99):
            let sigma = p99 > med ? logExact(p99 / med) / Self.z99 : 0
            guard sigma > 0 else { return (med, 1) }
            let heavy = rng.unit() < 0.5
            let z = rng.normal() * (heavy ? 2 * sigma : sigma)
            let x = med * expExact(z)
            // q/p for the same median and sigma' = 2 sigma, at log-distance z.
            let qOverP = 0.5 * expExact(z * z / 2 * (1 / (sigma * sigma) - 1 / (4 * sigma * sigma)))
            return (x, 2 / (1 + qOverP))
        }
    }

    public var mean: Double {
        switch shape {
        case .fixed(let v): return v
        case .uniform(let a, let b): return (a + b) / 2
        case .exponential(let m): return m
        case .lognormal(let med, let p99):
            let sigma = p99 > med ? logExact(p99 / med) / Self.z99 : 0
            return med * expExact(sigma * sigma / 2)
        }
    }

    public var description: String {
        func f(_ v: Double) -> String { isTime ? DurationText.format(Nanos(v.rounded())) : String(v) }
        switch shape {
        case .fixed(let v): return f(v)
        case .uniform(let a, let b): return "\(f(a))–\(f(b))"
        case .exponential(let m): return "exp(mean \(f(m)))"
        case .lognormal(let med, let p99): return "median \(f(med)), p99 \(f(p99))"
        }
    }
}

public enum NoiseKind: String, Sendable, CaseIterable {
    /// The disk stops completing writes for the duration: every fsync issued during it ends
    /// after it (etcd: "slow fdatasync", "apply request took too long").
    case diskStall = "disk_stall"
    /// fsync latency follows `fsync:` for the duration (a burstable volume out of credits).
    case slowFsync = "slow_fsync"
    /// Latency `latency:` added to every segment on the links, both ways.
    case latencySpike = "latency_spike"
    /// Extra jitter, uniform in [0, `jitter:`], on every segment.
    case jitterBurst = "jitter_burst"
    /// Segment loss `loss:` (TCP retransmits after its RTO).
    case lossBurst = "loss_burst"
    /// A process frozen (a stop-the-world GC), or a whole host (VM steal, live migration:
    /// nothing on it runs or answers, its TCP peers retransmit).
    case pause
    /// PostgreSQL answers Patroni's own queries `delay:` late (an overloaded primary): the HA
    /// cycle stretches.
    case slowQueries = "slow_queries"

    public var onLinks: Bool { self == .latencySpike || self == .jitterBurst || self == .lossBurst }
    /// The key of the size each event draws (nil: the duration is all there is).
    public var sizeKey: String? {
        switch self {
        case .diskStall, .pause: nil
        case .slowFsync: "fsync"
        case .latencySpike: "latency"
        case .jitterBurst: "jitter"
        case .lossBurst: "loss"
        case .slowQueries: "delay"
        }
    }
}

/// What one noise event lands on.
public enum NoiseTarget: Sendable, Equatable, CustomStringConvertible {
    /// A process (host or role, and its service).
    case proc(HostRef, Service)
    /// A whole host: every process on it frozen, and nothing on it answers.
    case host(HostRef)
    /// The links between two hosts, both ways.
    case link(HostRef, HostRef)

    /// Every pair of distinct hosts with one in `a` and one in `b`, each pair once whichever
    /// way round (`between: [A, B]`), appended to the pairs `seen` so far.
    static func links(_ a: [HostRef], _ b: [HostRef], seen: inout [(HostRef, HostRef)]) {
        for x in a {
            for y in b where x != y && !seen.contains(where: { ($0.0 == x && $0.1 == y) || ($0.0 == y && $0.1 == x) }) { seen.append((x, y)) }
        }
    }

    public var description: String {
        switch self {
        case .proc(let h, let s): "\(h)/\(s.rawValue)"
        case .host(let h): "\(h)"
        case .link(let a, let b): "\(a)<->\(b)"
        }
    }
}

public struct NoiseSource: Sendable, Equatable {
    public var name: String
    public var kind: NoiseKind
    /// Events per second on each target (each target has its own Poisson process), or on all
    /// of them at once when `together`.
    public var ratePerSecond: Double
    public var duration: NoiseSize
    public var size: NoiseSize?
    public var targets: [NoiseTarget]
    public var together = false
    /// Where the figures come from (a preset's citation, or the user's own words).
    public var source = ""
    public var line = 0

    public init(name: String, kind: NoiseKind, ratePerSecond: Double, duration: NoiseSize, size: NoiseSize? = nil, targets: [NoiseTarget],
                together: Bool = false, source: String = "", line: Int = 0) {
        self.name = name
        self.kind = kind
        self.ratePerSecond = ratePerSecond
        self.duration = duration
        self.size = size
        self.targets = targets
        self.together = together
        self.source = source
        self.line = line
    }

    /// The source's independent event streams (one per target, or one for all).
    public var streams: Int { together ? (targets.isEmpty ? 0 : 1) : targets.count }
    /// Events per second over every target.
    public var totalRatePerSecond: Double { ratePerSecond * Double(streams) }
}

/// How a run uses its noise.
public enum NoiseMethod: String, Sendable {
    /// Background events only, over the whole run: rates come from counts over the horizon.
    case direct
    /// One run is one episode: background events, plus one *tagged* event drawn from the
    /// sources in proportion to their rates at `episode.at`; what follows it until the next
    /// noise event is its outcome (rare-event simulation: rate = total noise rate × mean
    /// outcome per event).
    case episodes
}

/// How a sweep spreads its episodes over the noise sources (each source is a stratum; the rate
/// is the sum over sources of the source's rate × its mean outcome).
/// - `uniform`: the same number of episodes per source.
/// - `adaptive`: a pilot (the first quarter of the seeds, uniform) measures each source's
///   spread, and the rest go where they narrow the intervals most (Neyman allocation: in
///   proportion to rate × standard deviation, averaged over false failovers, demotions and
///   downtime, with a tenth kept uniform so that no source goes unwatched).
public enum EpisodeAllocation: String, Sendable, Equatable, CaseIterable {
    case uniform, adaptive
}

public struct NoiseConfig: Sendable, Equatable {
    public var preset: String?
    public var method: NoiseMethod = .direct
    /// When an episode's tagged event fires (plus a draw in [0, loop_wait)).
    public var episodeAtNs: Nanos = 60 * Time.s
    /// The source an episode's tagged event comes from, when fixed (a sweep's stratum, or
    /// `episode: {source: ...}`); nil draws it uniformly among `episodeSources`.
    public var episodeSource: Int? = nil
    /// How a sweep spreads its episodes over the sources.
    public var episodeAllocation: EpisodeAllocation = .adaptive
    public var sources: [NoiseSource] = []
    public init() {}

    /// The sources an episode can start from: those with a target.
    public var episodeSources: [Int] { sources.indices.filter { sources[$0].streams > 0 } }

    public var isEmpty: Bool { sources.isEmpty }
    /// Noise events per year over every source and target.
    public var eventsPerYear: Double { sources.reduce(0) { $0 + $1.totalRatePerSecond } * 365 * 86400 }
}
