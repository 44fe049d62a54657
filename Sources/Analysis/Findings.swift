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
    /// What background noise cost (absent without `noise:`).
    public var noise: NoiseFindings?
    /// Things a user should know to read the run right (a write rate the clients could not
    /// reach, say): warnings, not findings.
    public var notes: [String] = []

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
        /// Why it took what it took, from the recorded history (the settings and events that
        /// set its length).
        public var cause: String = ""
    }
    public var faultIndex: Int
    public var kind: String
    public var atNs: Nanos
    /// nil when writes had not recovered by the end of the run.
    public var rtoNs: Nanos?
    /// False when writes never stopped (RTO 0).
    public var outage: Bool
    /// When writes went bad (the first failure, or the first write's wait passing `stallNs`;
    /// nil: no outage).
    public var outageStartNs: Nanos? = nil
    /// When the earliest write that went bad in this outage was sent (a recovery is a prompt
    /// acknowledged write sent at or after it and acknowledged after `outageStartNs`).
    public var outageFirstSentNs: Nanos? = nil
    public var phases: [Phase]
    /// The primary before the fault and the one after, as seen in the leader key.
    public var oldPrimary: String?
    public var newPrimary: String?
    /// The first fault that started at the same instant: this fault's outage is that one's
    /// (both get the whole of it).
    public var sameOutageAs: Int? = nil
}

public struct RPO: Sendable {
    public var lostWrites: Int
    public var lostBytes: Int64
    /// Span of acknowledged history that vanished (first lost ack to the later of the last
    /// lost ack and the fault that followed it).
    public var windowNs: Nanos
    public var lostIds: [UInt32]
    /// Lost writes that were acknowledged with a WARNING after a cancelled synchronous-
    /// replication wait (committed locally only).
    public var lostLocalOnly: Int = 0
    public var finalPrimary: String?
    /// How the final history was chosen, when no instance runs as primary at the end.
    public var measuredAgainst: String? = nil
    /// Why the lost writes were lost, from the recorded history (one line per cause).
    public var causes: [String] = []
}

public struct SplitBrain: Sendable {
    public struct Kind: Sendable {
        /// writable, backend, timelines
        public var name: String
        public var totalNs: Nanos
        public var intervals: [(startNs: Nanos, endNs: Nanos, detail: String)]
        /// Acknowledged writes not in the final history, acknowledged during these intervals.
        public var losingAcks: Int?
    }
    public var kinds: [Kind]
    /// Acknowledged writes not in the final history, acknowledged during any split-brain
    /// interval (of any kind): never more than the lost writes.
    public var losingAcks: Int = 0
    public var any: Bool { kinds.contains { $0.totalNs > 0 || !$0.intervals.isEmpty } }
    public var totalNs: Nanos { kinds.map(\.totalNs).max() ?? 0 }
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
    /// Acknowledged, but only after waiting longer than the outage threshold (a commit held by
    /// a synchronous standby, a connection hanging on a frozen server): blocked, not failed.
    public var blocked: Int = 0
}

public struct ExpectationResult: Sendable {
    public var name: String
    public var ok: Bool
    public var detail: String
    public var line: Int
}
