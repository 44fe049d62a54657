import SimCore
import Analysis

/// What noise costs a setting, per year, from its runs: for episodes (rare-event simulation)
/// rate = the configured noise rate × the mean outcome per tagged event; for direct runs,
/// counts over the runs' quiet time. Each with a 95 % interval.
public struct NoiseRates: Sendable, Equatable {
    public struct Estimate: Sendable, Equatable {
        public var rate: Double
        public var lo: Double
        public var hi: Double
        /// The interval's half-width relative to the rate (nil when the rate is 0).
        public var relativeHalfWidth: Double? { rate > 0 ? (hi - lo) / 2 / rate : nil }
    }
    public var runs: Int
    public var episodes: Bool
    public var falseFailovers: Estimate
    public var demotions: Estimate
    public var leaderLockFailures: Estimate
    public var etcdElections: Estimate
    public var lostWrites: Estimate
    /// Seconds of write downtime per year.
    public var downtime: Estimate
    /// The fraction of the year writes are available under this noise alone, and in nines.
    public var availability: Double { max(0, 1 - downtime.rate / (365 * 86400)) }
    public var nines: Double { availability >= 1 ? 9 : -log10Exact(1 - availability) }

    public init?(_ runs: [RunSummary]) {
        let ns = runs.compactMap(\.noise)
        guard !ns.isEmpty else { return nil }
        self.runs = ns.count
        let episodes = ns.allSatisfy(\.episode)
        self.episodes = episodes
        let year = 365 * 86400e9
        func estimate(_ x: (RunSummary.Noise) -> Double, count: Bool) -> Estimate {
            if episodes {
                let lambda = ns.map(\.eventsPerYear).reduce(0, +) / Double(ns.count)
                if ns.allSatisfy({ $0.source != nil }) { return Self.stratified(ns, lambda: lambda, x) }
                // A store written before strata: Λ × the weighted mean, a normal interval on the
                // mean, or (all zero) the rule of three.
                let v = ns.map { $0.weight * x($0) }
                let n = Double(v.count)
                let mean = v.reduce(0, +) / n
                if mean == 0 { return Estimate(rate: 0, lo: 0, hi: lambda * 3 / n) }
                let sd = n > 1 ? (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot() : mean
                let half = 1.96 * sd / n.squareRoot()
                return Estimate(rate: lambda * mean, lo: lambda * max(0, mean - half), hi: lambda * (mean + half))
            }
            let years = Double(ns.map(\.quietNs).reduce(0, +)) / year
            guard years > 0 else { return Estimate(rate: 0, lo: 0, hi: 0) }
            let total = ns.map(x).reduce(0, +)
            if count {
                let (lo, hi) = PoissonInterval.ci95(Int(total.rounded()))
                return Estimate(rate: total / years, lo: lo / years, hi: hi / years)
            }
            // A sum of lengths: the interval from the run-to-run spread of the per-run rates.
            let per = ns.map { x($0) / max(Double($0.quietNs) / year, 1e-12) }
            let n = Double(per.count), mean = total / years
            let sd = n > 1 ? (per.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot() : mean
            return Estimate(rate: mean, lo: max(0, mean - 1.96 * sd / n.squareRoot()), hi: mean + 1.96 * sd / n.squareRoot())
        }
        falseFailovers = estimate({ Double($0.falseFailovers) }, count: true)
        demotions = estimate({ Double($0.demotions) }, count: true)
        leaderLockFailures = estimate({ Double($0.leaderLockFailures) }, count: true)
        etcdElections = estimate({ Double($0.etcdElections) }, count: true)
        lostWrites = estimate({ Double($0.lostWrites) }, count: true)
        downtime = estimate({ Time.seconds($0.downtimeNs) }, count: false)
    }

    /// Episodes stratified by source: rate = Σ Λ_s × mean_s(weight × outcome), variance
    /// Σ Λ_s² var_s / n_s (normal 95 % interval). A source no episode came from (a handful of
    /// runs) is counted at the mean over all of them. Nothing seen at all: the likelihood bound
    /// (Σ n_s p_s ≤ 3, the rule of three over strata) puts it all on the source with the most
    /// events per episode run, 3 × max Λ_s / n_s.
    static func stratified(_ ns: [RunSummary.Noise], lambda: Double, _ x: (RunSummary.Noise) -> Double) -> Estimate {
        var strata: [Int: (perYear: Double, values: [Double])] = [:]
        for n in ns { strata[n.source!, default: (n.sourcePerYear, [])].values.append(n.weight * x(n)) }
        var rate = 0.0, variance = 0.0, zeroHi = 0.0, covered = 0.0
        for key in strata.keys.sorted() {
            let (perYear, v) = strata[key]!
            let n = Double(v.count), mean = v.reduce(0, +) / n
            let sampleVar = n > 1 ? v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1) : mean * mean
            rate += perYear * mean
            variance += perYear * perYear * sampleVar / n
            zeroHi = max(zeroHi, perYear * 3 / n)
            covered += perYear
        }
        let missing = max(0, lambda - covered)
        if missing > lambda * 1e-9 {
            let all = ns.map { $0.weight * x($0) }
            rate += missing * all.reduce(0, +) / Double(all.count)
            zeroHi = max(zeroHi, missing * 3 / Double(all.count))
        }
        if rate == 0 { return Estimate(rate: 0, lo: 0, hi: zeroHi) }
        let half = 1.96 * variance.squareRoot()
        return Estimate(rate: rate, lo: max(0, rate - half), hi: rate + half)
    }

    func metric(_ name: String) -> Double? {
        switch name {
        case "noise.false_failovers_per_year": return falseFailovers.rate
        case "noise.false_failovers_per_year.high": return falseFailovers.hi
        case "noise.demotions_per_year": return demotions.rate
        case "noise.leader_lock_failures_per_year": return leaderLockFailures.rate
        case "noise.etcd_elections_per_year": return etcdElections.rate
        case "noise.lost_writes_per_year": return lostWrites.rate
        case "noise.downtime_per_year": return downtime.rate
        case "noise.availability": return availability
        case "noise.nines": return nines
        default: return nil
        }
    }

    public static let metricNames = ["noise.false_failovers_per_year", "noise.false_failovers_per_year.high", "noise.demotions_per_year",
                                     "noise.leader_lock_failures_per_year", "noise.etcd_elections_per_year", "noise.lost_writes_per_year",
                                     "noise.downtime_per_year", "noise.availability", "noise.nines"]
}
