import SimCore
import Recording

/// One run in a few numbers, for sweeps and regression checks (and the `runs` table's summary
/// columns): the worst RTO over its faults, what it lost, whether it split its brain.
public struct RunSummary: Sendable, Equatable {
    public struct FaultRTO: Sendable, Equatable {
        public var index: Int
        /// nil: writes had not recovered by the end of the run. 0: they never stopped.
        public var rtoNs: Nanos?
        public init(index: Int, rtoNs: Nanos?) { self.index = index; self.rtoNs = rtoNs }
    }
    public var seed: UInt64
    public var faults: [FaultRTO]
    public var lostWrites: Int
    public var lostBytes: Int64
    /// The longest of the split-brain kinds (0 when none).
    public var splitBrainNs: Nanos
    public var failedExpectations: Int
    public var traceHash: String
    /// What noise cost: an episode's tagged event, or the whole run outside faults.
    public struct Noise: Sendable, Equatable {
        public var episode: Bool
        public var events: Int
        public var eventsPerYear: Double
        public var quietNs: Nanos
        public var falseFailovers: Int
        public var demotions: Int
        public var leaderLockFailures: Int
        public var etcdElections: Int
        public var downtimeNs: Nanos
        public var lostWrites: Int
        /// An episode's importance weight (1 for direct runs). With `source` set, the length's
        /// weight alone (the estimate is stratified by source); without (a store written
        /// before), the whole weight: rate share × sources × the length's.
        public var weight: Double = 1
        /// An episode's source (its stratum) and that source's events per year.
        public var source: Int? = nil
        public var sourcePerYear: Double = 0
        public init(episode: Bool, events: Int, eventsPerYear: Double, quietNs: Nanos, falseFailovers: Int, demotions: Int,
                    leaderLockFailures: Int, etcdElections: Int, downtimeNs: Nanos, lostWrites: Int) {
            self.episode = episode
            self.events = events
            self.eventsPerYear = eventsPerYear
            self.quietNs = quietNs
            self.falseFailovers = falseFailovers
            self.demotions = demotions
            self.leaderLockFailures = leaderLockFailures
            self.etcdElections = etcdElections
            self.downtimeNs = downtimeNs
            self.lostWrites = lostWrites
        }
    }
    public var noise: Noise? = nil

    public init(seed: UInt64, faults: [FaultRTO], lostWrites: Int, lostBytes: Int64, splitBrainNs: Nanos, failedExpectations: Int, traceHash: String) {
        self.seed = seed
        self.faults = faults
        self.lostWrites = lostWrites
        self.lostBytes = lostBytes
        self.splitBrainNs = splitBrainNs
        self.failedExpectations = failedExpectations
        self.traceHash = traceHash
    }

    public init(_ run: RunRecord, _ f: Findings) {
        self.init(seed: run.seed, faults: f.rto.map { FaultRTO(index: $0.faultIndex, rtoNs: $0.rtoNs) },
                  lostWrites: f.rpo?.lostWrites ?? 0, lostBytes: f.rpo?.lostBytes ?? 0,
                  splitBrainNs: f.splitBrain?.kinds.map(\.totalNs).max() ?? 0,
                  failedExpectations: f.expectations.filter { !$0.ok }.count + (run.aborted == nil ? 0 : 1),
                  traceHash: run.traceHash)
        if let n = f.noise {
            let o = n.tagged?.outcome ?? n.total
            noise = Noise(episode: n.tagged != nil, events: n.events, eventsPerYear: n.eventsPerYear, quietNs: n.quietNs,
                          falseFailovers: o.falseFailovers.count, demotions: o.demotions, leaderLockFailures: o.leaderLockFailures,
                          etcdElections: o.etcdElections, downtimeNs: o.downtimeNs, lostWrites: o.lostWrites)
            noise?.weight = n.tagged?.weight ?? 1
            noise?.source = n.tagged?.source
            noise?.sourcePerYear = n.tagged?.sourcePerYear ?? 0
        }
    }

    /// The worst RTO over the run's faults: nil if writes never came back after one of them.
    public var worstRTONs: Nanos? {
        var worst: Nanos = 0
        for f in faults {
            guard let r = f.rtoNs else { return nil }
            worst = max(worst, r)
        }
        return worst
    }
    public var unrecovered: Bool { faults.contains { $0.rtoNs == nil } }
}
