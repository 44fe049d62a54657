import SimCore
import Analysis

/// Nearest-rank percentile (the smallest value with at least p% of the values at or below
/// it) of values sorted ascending; `.infinity` stands for a run whose writes never came back.
public func percentile(_ sorted: [Double], _ p: Double) -> Double? {
    guard !sorted.isEmpty else { return nil }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

/// What one sweep setting did over its seeds.
public struct SettingStats: Sendable, Equatable {
    public var point: String
    public var runs: Int
    /// Worst RTO per run in seconds, ascending; `.infinity` for runs that never recovered.
    public var rtos: [Double]
    public var unrecovered: Int
    public var lostWritesMean: Double
    public var lostWritesMax: Int
    public var runsWithLoss: Int
    public var splitBrainRuns: Int
    public var failedRuns: Int
    /// The setting's worst runs (never recovered first, then the longest RTO, then the most
    /// lost writes), at most two: what to replay.
    public var worst: [RunPoint] = []
    /// What noise costs the setting per year (nil without `noise:`).
    public var noise: NoiseRates?

    /// One run of a setting, as the worst-runs list names it.
    public struct RunPoint: Sendable, Equatable {
        public var seed: UInt64
        public var runID: Int64?
        /// Worst RTO in seconds (`.infinity`: never recovered; nil: no outage measured).
        public var rto: Double?
        public var lostWrites: Int
        public var splitBrain: Bool
        /// Noise: false failovers in the run (its episode's), and the episode's source.
        public var falseFailovers = 0
        public var episodeSource: Int? = nil
        /// Equal runs are equal wherever they are stored (run ids differ between stores).
        public static func == (a: RunPoint, b: RunPoint) -> Bool {
            a.seed == b.seed && a.rto == b.rto && a.lostWrites == b.lostWrites && a.splitBrain == b.splitBrain && a.falseFailovers == b.falseFailovers
        }
    }

    public init(point: String, runs summaries: [RunSummary], runIDs: [Int64]? = nil) {
        self.point = point
        runs = summaries.count
        rtos = summaries.compactMap { s -> Double? in
            if s.faults.isEmpty { return nil }
            return s.worstRTONs.map(Time.seconds) ?? .infinity
        }.sorted()
        unrecovered = summaries.filter(\.unrecovered).count
        let lost = summaries.map(\.lostWrites)
        lostWritesMean = lost.isEmpty ? 0 : Double(lost.reduce(0, +)) / Double(lost.count)
        lostWritesMax = lost.max() ?? 0
        runsWithLoss = lost.filter { $0 > 0 }.count
        splitBrainRuns = summaries.filter { $0.splitBrainNs > 0 }.count
        failedRuns = summaries.filter { $0.failedExpectations > 0 }.count
        noise = NoiseRates(summaries)
        let points = summaries.enumerated().map { i, s in
            RunPoint(seed: s.seed, runID: runIDs.flatMap { i < $0.count ? $0[i] : nil },
                     rto: s.faults.isEmpty ? nil : (s.worstRTONs.map(Time.seconds) ?? .infinity), lostWrites: s.lostWrites, splitBrain: s.splitBrainNs > 0,
                     falseFailovers: s.noise?.falseFailovers ?? 0, episodeSource: s.noise?.source)
        }
        worst = Array(points.sorted { a, b in
            let ra = a.rto ?? -1, rb = b.rto ?? -1
            if ra != rb { return ra > rb }
            if a.lostWrites != b.lostWrites { return a.lostWrites > b.lostWrites }
            if a.falseFailovers != b.falseFailovers { return a.falseFailovers > b.falseFailovers }
            return a.seed < b.seed
        }.prefix(2))
    }

    public var p50: Double? { percentile(rtos, 50) }
    public var p95: Double? { percentile(rtos, 95) }
    public var p99: Double? { percentile(rtos, 99) }
    public var max: Double? { rtos.last }

    /// A named metric, as objectives and `--csv` name them.
    public func metric(_ name: String) -> Double? {
        switch name {
        case "rto.p50": return p50
        case "rto.p95": return p95
        case "rto.p99": return p99
        case "rto.max": return max
        case "rto.unrecovered": return Double(unrecovered)
        case "rpo.mean_writes": return lostWritesMean
        case "rpo.max_writes": return Double(lostWritesMax)
        case "rpo.runs_with_loss": return Double(runsWithLoss)
        case "split_brain.runs": return Double(splitBrainRuns)
        case "expectations.failed": return Double(failedRuns)
        case "runs": return Double(runs)
        default: return noise?.metric(name)
        }
    }

    public static let metricNames = ["rto.p50", "rto.p95", "rto.p99", "rto.max", "rto.unrecovered", "rpo.mean_writes",
                                     "rpo.max_writes", "rpo.runs_with_loss", "split_brain.runs", "expectations.failed", "runs"]
        + NoiseRates.metricNames
}

/// Per-fault RTO percentiles over seeds (for `simctl check`).
public struct FaultStats: Sendable, Equatable {
    public var index: Int
    public var rtos: [Double]
    public var unrecovered: Int

    public init(index: Int, runs: [RunSummary]) {
        self.index = index
        var v: [Double] = []
        var u = 0
        for r in runs {
            guard let f = r.faults.first(where: { $0.index == index }) else { continue }
            if let x = f.rtoNs { v.append(Time.seconds(x)) } else { v.append(.infinity); u += 1 }
        }
        rtos = v.sorted()
        unrecovered = u
    }
    public var p50: Double? { percentile(rtos, 50) }
    public var p95: Double? { percentile(rtos, 95) }
}

/// Seconds for a table: `37.5s`, `∞` for never recovered, `—` for nothing measured.
public func secondsText(_ v: Double?) -> String {
    guard let v else { return "—" }
    if v.isInfinite { return "never" }
    return DurationText.seconds3(Time.fromSeconds(v)) + "s"
}
