/// A distribution of delays: a link's one-way latency, a disk's fsync time. Every sample is at
/// least `floorNs`.
public struct Latency: Sendable, Equatable {
    public enum Shape: Sendable, Equatable {
        case constant(Nanos)
        case uniform(lo: Nanos, hi: Nanos)
        case normal(mean: Nanos, stddev: Nanos)
        /// Log-normal with the given median and log-space sigma: the usual shape of LAN RTTs
        /// (a tight body with a long right tail; etcd.md §7.2).
        case lognormal(median: Nanos, sigma: Double)
    }

    public var shape: Shape
    public var floorNs: Nanos
    /// Background noise laid over the link: a constant added to every draw (a latency spike)
    /// and a uniform extra in [0, jitterNs] (a jitter burst). Zero outside noise, drawing nothing.
    public var addNs: Nanos = 0
    public var jitterNs: Nanos = 0

    public init(_ shape: Shape, floorNs: Nanos = 0) {
        self.shape = shape
        self.floorNs = floorNs
    }

    /// A LAN default: median 0.25 ms one way (0.5 ms RTT), sigma 0.3, floor 0.05 ms.
    public static let lan = Latency(.lognormal(median: 250 * Time.us, sigma: 0.3), floorNs: 50 * Time.us)

    @inlinable public func sample(_ rng: inout Rng) -> Nanos {
        let v: Nanos
        switch shape {
        case .constant(let c): v = c
        case .uniform(let lo, let hi): v = hi > lo ? rng.int(lo, hi) : lo
        case .normal(let mean, let sd):
            v = mean + Nanos((rng.normal() * Double(sd)).rounded())
        case .lognormal(let median, let sigma):
            v = Nanos((Double(median) * expExact(sigma * rng.normal())).rounded())
        }
        let base = Swift.max(v, floorNs)
        if addNs == 0 && jitterNs == 0 { return base }
        return base + addNs + (jitterNs > 0 ? rng.int(0, jitterNs) : 0)
    }

    /// The typical (median) value, for reports and for timeouts derived from the RTT.
    public var typicalNs: Nanos {
        switch shape {
        case .constant(let c): return Swift.max(c, floorNs)
        case .uniform(let lo, let hi): return Swift.max((lo + hi) / 2, floorNs)
        case .normal(let mean, _): return Swift.max(mean, floorNs)
        case .lognormal(let median, _): return Swift.max(median, floorNs)
        }
    }
}

