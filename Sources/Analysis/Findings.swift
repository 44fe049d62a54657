import SimCore
import Recording

/// What a run's history says, from the clients' point of view. Every finding is computed from
/// the recorded history (writes, reads, timeline, final WAL positions), never from a model's
/// internals. A finding that cannot be computed (no writes were made, say) is absent, never zero.
public struct Findings: Sendable {
    public var rto: [FaultRTO] = []
    public var rpo: RPO?
    public var splitBrain: SplitBrain?
    public var violations: [Violation] = []
    public var staleReads: StaleReads?
    public var writes: WriteStats?
    /// A leader-key holder other than the first one appeared during the run.
    public var failover: Bool?
    public var finalPrimary: String?
    public var expectations: [ExpectationResult] = []

    public var ok: Bool { expectations.allSatisfy(\.ok) }
}

/// Recovery after one disruptive fault, with its phases.
public struct FaultRTO: Sendable {
    public struct Phase: Sendable {
        /// detection, election, promotion, traffic, clients
        public var name: String
        /// When the phase ended (absolute), if it happened.
        public var atNs: Nanos?
        /// Its length: from the previous phase's end (or the fault) to its own end.
        public var durationNs: Nanos?
        public var detail: String
    }
    public var faultIndex: Int
    public var kind: String
    public var atNs: Nanos
    /// nil when writes had not recovered by the end of the run.
    public var rtoNs: Nanos?
    /// False when writes never stopped (RTO 0).
    public var outage: Bool
    public var phases: [Phase]
    /// The primary before the fault and the one after, as seen in the leader key.
    public var oldPrimary: String?
    public var newPrimary: String?
}

public struct RPO: Sendable {
    public var lostWrites: Int
    public var lostBytes: Int64
    /// Span of acknowledged history that vanished (first lost ack to the later of the last
    /// lost ack and the fault that followed it).
    public var windowNs: Nanos
    public var lostIds: [UInt32]
    /// Acknowledged writes in synchronous mode that were lost: an invariant violation.
    public var syncLost: Int
    public var finalPrimary: String?
}

public struct SplitBrain: Sendable {
    public struct Kind: Sendable {
        /// writable, frontend, timelines
        public var name: String
        public var totalNs: Nanos
        public var intervals: [(startNs: Nanos, endNs: Nanos, detail: String)]
        /// For `timelines`: acknowledged writes on the history that lost.
        public var losingAcks: Int?
    }
    public var kinds: [Kind]
    public var any: Bool { kinds.contains { $0.totalNs > 0 || !$0.intervals.isEmpty } }
    public var totalNs: Nanos { kinds.map(\.totalNs).max() ?? 0 }
    public var losingAcks: Int { kinds.compactMap(\.losingAcks).reduce(0, +) }
}

public struct StaleReads: Sendable {
    public var reads: Int
    public var stale: Int
}

public struct WriteStats: Sendable {
    public var total: Int
    public var ok: Int
    public var failed: Int
    public var indeterminate: Int
}

public struct ExpectationResult: Sendable {
    public var name: String
    public var ok: Bool
    public var detail: String
    public var line: Int
}
