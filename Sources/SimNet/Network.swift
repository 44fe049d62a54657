import SimCore

/// What happens to a message sent now from one host to another.
public enum Transit: Equatable, Sendable {
    /// It arrives at this time (latency, TCP retransmissions and in-order delivery included).
    case arrives(at: Nanos)
    /// The path is cut (partition or isolation): TCP keeps retransmitting, so the message waits
    /// for the path to heal (see `HeldMessages`) unless the connection is given up first.
    case blocked
    /// The destination host is powered off or crashed: nothing arrives, and nothing comes back.
    case hostDown
}

/// What a TCP connect from a live host gets.
public enum ConnectOutcome: Equatable, Sendable {
    /// SYN-ACK after one round trip. Also for a paused process: its kernel still accepts on
    /// the listening socket; only the replies wait until it resumes.
    case accepted(afterNs: Nanos)
    /// RST after one round trip: the host is up but nothing listens (the process is down).
    case refused(afterNs: Nanos)
    /// No answer at all (host down, path cut either way): the caller's own timeout decides.
    case noAnswer
}

/// Hosts joined by links: latency, loss, directed partitions and host power state.
///
/// Delivery follows TCP: within one host pair, messages arrive in the order they were sent
/// (one stream per pair, as a connection would); a lost transmission costs a retransmission
/// timeout (Linux: at least 200 ms, doubling) instead of losing the message; a cut path holds
/// messages until it heals.
public struct Network: Sendable {
    public let hostCount: Int
    public var defaultLink: LinkSpec
    /// One-way latency between two processes on the same host (loopback).
    public var loopbackNs: Nanos = 20 * Time.us
    /// Linux's minimum retransmission timeout for data segments (`TCP_RTO_MIN`, 200 ms).
    public var rtoMinNs: Nanos = 200 * Time.ms
    /// After this many lost transmissions in a row the segment is given up (tcp_retries2 is 15;
    /// a loss rate that high is a cut path in all but name).
    public var maxRetransmits = 15

    var overrides: [LinkSpec?]
    /// Number of active cut rules per directed pair (`from * n + to`): overlapping partitions
    /// and their heals compose by counting.
    var cuts: [UInt16]
    public private(set) var hostUp: [Bool]
    var lastArrival: [Nanos]

    public init(hostCount: Int, defaultLink: LinkSpec = LinkSpec()) {
        self.hostCount = hostCount
        self.defaultLink = defaultLink
        overrides = Array(repeating: nil, count: hostCount * hostCount)
        cuts = Array(repeating: 0, count: hostCount * hostCount)
        hostUp = Array(repeating: true, count: hostCount)
        lastArrival = Array(repeating: 0, count: hostCount * hostCount)
    }

    func idx(_ from: Int, _ to: Int) -> Int { from * hostCount + to }

    // MARK: - Configuration and faults

    public func link(_ from: Int, _ to: Int) -> LinkSpec { overrides[idx(from, to)] ?? defaultLink }

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

    /// The path is usable for a message from `from` to `to` right now.
    public func canReach(_ from: Int, _ to: Int) -> Bool { hostUp[to] && hostUp[from] && !isCut(from, to) }

    // MARK: - Delivery

    /// Samples one message's fate. Arrival times never go backwards within a host pair.
    /// `transmitNs` is the time the message occupies the sender's link before it propagates
    /// (its size over the bandwidth).
    public mutating func transit(from: Int, to: Int, now: Nanos, transmitNs: Nanos = 0, rng: inout Rng) -> Transit {
        if !hostUp[to] || !hostUp[from] { return .hostDown }
        if from == to {
            let i = idx(from, to)
            let at = Swift.max(now + transmitNs + loopbackNs, lastArrival[i])
            lastArrival[i] = at
            return .arrives(at: at)
        }
        let i = idx(from, to)
        if cuts[i] > 0 { return .blocked }
        let spec = overrides[i] ?? defaultLink
        var delay = spec.latency.sample(&rng)
        if spec.loss > 0 {
            var rto = Swift.max(rtoMinNs, 2 * delay)
            var tries = 0
            while rng.chance(spec.loss) {
                tries += 1
                if tries > maxRetransmits { return .blocked }
                delay += rto
                rto *= 2
            }
        }
        let at = Swift.max(now + transmitNs + delay, lastArrival[i])
        lastArrival[i] = at
        return .arrives(at: at)
    }

    /// A round trip's duration for connection set-up (no ordering state touched). nil if the
    /// path is cut either way or a host is down.
    public func roundTrip(_ a: Int, _ b: Int, rng: inout Rng) -> Nanos? {
        if a == b { return hostUp[a] ? 2 * loopbackNs : nil }
        guard canReach(a, b), canReach(b, a) else { return nil }
        let there = link(a, b), back = link(b, a)
        var t = there.latency.sample(&rng) + back.latency.sample(&rng)
        // A lost SYN is retransmitted after the initial RTO of 1 s (RFC 6298), doubling.
        var rto = Time.s
        var tries = 0
        while rng.chance(there.loss) || rng.chance(back.loss) {
            tries += 1
            if tries > 6 { return nil }
            t += rto
            rto *= 2
        }
        return t
    }

    /// The outcome of a TCP connect from `from` to a listener on `to` whose process has status
    /// `listener` (nil: no such process on that host).
    public func connect(from: Int, to: Int, listener: ProcessStatus?, rng: inout Rng) -> ConnectOutcome {
        guard let rtt = roundTrip(from, to, rng: &rng) else { return .noAnswer }
        switch listener {
        case .running?, .paused?: return .accepted(afterNs: rtt)
        case .down?, nil: return .refused(afterNs: rtt)
        }
    }
}
