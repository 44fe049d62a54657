import SimCore

/// A directed link's properties.
public struct LinkSpec: Sendable, Equatable {
    public var latency: Latency
    /// Probability that one transmission of a segment is lost. Over TCP a loss is not a lost
    /// message but a retransmission after the retransmission timeout.
    public var loss: Double

    public init(latency: Latency = .lan, loss: Double = 0) {
        self.latency = latency
        self.loss = loss
    }
}
