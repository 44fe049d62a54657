import SimCore

/// Hosts joined by links: latency, loss, directed partitions and host power state. It holds no
/// connection state (the `Fabric` does: ordering, retransmission and hand-shakes are per TCP
/// connection, as in a real kernel).
public struct Network: Sendable {
    public let hostCount: Int
    public var defaultLink: LinkSpec
    /// One-way latency between two processes on the same host (loopback).
    public var loopbackNs: Nanos = 20 * Time.us
    /// Linux's minimum retransmission timeout for data segments (`TCP_RTO_MIN`, 200 ms;
    /// include/net/tcp.h). On a LAN the RTO computed from the RTT never exceeds it by much.
    public var rtoMinNs: Nanos = 200 * Time.ms

    @usableFromInline var overrides: [LinkSpec?]
    /// Number of active cut rules per directed pair (`from * n + to`): overlapping partitions
    /// and their heals compose by counting.
    @usableFromInline var cuts: [UInt16]
    public private(set) var hostUp: [Bool]

    public init(hostCount: Int, defaultLink: LinkSpec = LinkSpec()) {
        self.hostCount = hostCount
        self.defaultLink = defaultLink
        overrides = Array(repeating: nil, count: hostCount * hostCount)
        cuts = Array(repeating: 0, count: hostCount * hostCount)
        hostUp = Array(repeating: true, count: hostCount)
    }

    @inlinable func idx(_ from: Int, _ to: Int) -> Int { from * hostCount + to }

    // MARK: - Configuration and faults

    @inlinable public func link(_ from: Int, _ to: Int) -> LinkSpec { overrides[idx(from, to)] ?? defaultLink }

    public mutating func setLink(_ from: Int, _ to: Int, _ spec: LinkSpec?) { overrides[idx(from, to)] = spec }

    public mutating func setHostUp(_ h: Int, _ up: Bool) { hostUp[h] = up }

    /// `from` can no longer reach `to` (directed: `to` may still reach `from`).
    public mutating func cut(_ from: Int, _ to: Int) {
        guard from != to else { return }
        cuts[idx(from, to)] &+= 1
    }

    /// Removes one cut rule from `from` to `to`. Returns true when the path is open again.
    @discardableResult
    public mutating func uncut(_ from: Int, _ to: Int) -> Bool {
        let i = idx(from, to)
        if cuts[i] > 0 { cuts[i] -= 1 }
        return cuts[i] == 0
    }

    public mutating func healAll() { for i in cuts.indices { cuts[i] = 0 } }

    public func isCut(_ from: Int, _ to: Int) -> Bool { from != to && cuts[idx(from, to)] > 0 }

    /// The path is usable for a packet from `from` to `to` right now.
    @inlinable public func canReach(_ from: Int, _ to: Int) -> Bool { hostUp[to] && hostUp[from] && (from == to || cuts[idx(from, to)] == 0) }

    /// Both directions usable (what a hand-shake or a request and its answer need).
    public func pathOpen(_ a: Int, _ b: Int) -> Bool { canReach(a, b) && canReach(b, a) }

    // MARK: - Delay

    /// One segment's delay from `from` to `to` on an open path: the link's latency plus, for
    /// each lost transmission, a retransmission timeout (at least `rtoMinNs`, doubling). nil
    /// when it is lost more times in a row than `maxTries` (a path lossy enough to count as cut).
    @inlinable public func segmentDelay(from: Int, to: Int, rng: inout Rng, maxTries: Int = 15) -> Nanos? {
        if from == to { return loopbackNs }
        return Self.sampleDelay(link(from, to), rtoMinNs: rtoMinNs, rng: &rng, maxTries: maxTries)
    }

    /// `segmentDelay` on a given link (static: a caller holding the network in a class reads
    /// the link and draws from its own stream without copying the network).
    @inlinable public static func sampleDelay(_ spec: LinkSpec, rtoMinNs: Nanos, rng: inout Rng, maxTries: Int = 15) -> Nanos? {
        var delay = spec.latency.sample(&rng)
        if spec.loss > 0 {
            var rto = Swift.max(rtoMinNs, 2 * delay)
            var tries = 0
            while rng.chance(spec.loss) {
                tries += 1
                if tries > maxTries { return nil }
                delay += rto
                rto *= 2
            }
        }
        return delay
    }

    /// A round trip (a hand-shake) between two hosts whose path is open both ways: latency
    /// there and back; a lost SYN or SYN-ACK costs the SYN retransmission timeout instead
    /// (handled by the fabric), so only the latency is sampled here.
    public func roundTrip(_ a: Int, _ b: Int, rng: inout Rng) -> Nanos {
        if a == b { return 2 * loopbackNs }
        return link(a, b).latency.sample(&rng) + link(b, a).latency.sample(&rng)
    }

    /// Whether a SYN or SYN-ACK is lost to the links' loss rates.
    public func handshakeLost(_ a: Int, _ b: Int, rng: inout Rng) -> Bool {
        a != b && (rng.chance(link(a, b).loss) || rng.chance(link(b, a).loss))
    }
}
