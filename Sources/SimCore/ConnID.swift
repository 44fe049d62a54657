/// A TCP connection of the simulated network, by slot and generation (a slot is reused after
/// close with the next generation, so a stale id never reaches a new connection). The network
/// (`SimNet.Fabric`) owns every connection's state; models keep only these ids.
@frozen public struct ConnID: Hashable, Sendable, CustomStringConvertible {
    public var slot: UInt32
    public var gen: UInt32
    @inlinable public init(slot: UInt32, gen: UInt32) {
        self.slot = slot
        self.gen = gen
    }
    public static let none = ConnID(slot: .max, gen: 0)
    public var isNone: Bool { slot == .max }
    public var description: String { "conn\(slot).\(gen)" }
}

/// What the network tells a process about one of its connections.
public enum ConnEvent: UInt8, Sendable {
    /// The hand-shake completed (SYN-ACK).
    case connected
    /// RST in answer to the SYN: nothing listens there (the host is up).
    case refused
    /// The SYN retransmissions ran out (`tcp_syn_retries`): ETIMEDOUT.
    case timedOut
    /// The established connection was reset (the peer process died on a live host, a
    /// retransmission reached a rebooted host, or unacknowledged data timed out).
    case reset
}
