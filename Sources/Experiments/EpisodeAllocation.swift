import Scenario
import Analysis

/// How a sweep spreads a setting's episodes over its noise sources (the strata of the
/// estimate, `NoiseRates.stratified`). The first `pilotSeeds` seeds go round the sources in
/// turn; the rest follow `allocate`, which (adaptive) puts them where each rate's interval
/// narrows most. Everything here is a function of the plan and of the stored pilot runs, so a
/// resumed sweep makes the same choices.
public enum EpisodePlan {
    /// A quarter of the seeds, at least ten episodes per source (all of them if fewer).
    public static func pilotSeeds(seeds: Int, sources: Int) -> Int {
        min(seeds, max(10 * sources, seeds / 4))
    }

    /// Neyman allocation of `count` episodes over `sources` (scenario source indices with
    /// their events per year) from the pilot's runs: for each of false failovers, demotions
    /// and downtime, the share Λ_s·σ_s / Σ Λ·σ (the allocation that minimises that rate's
    /// variance), or the rates' proportions for a metric the pilot never saw; the shares
    /// averaged over the metrics, then a tenth spread evenly so that a source the pilot saw
    /// nothing from keeps being watched. Whole numbers
    /// by largest remainder (ties to the lower index).
    public static func allocate(_ count: Int, sources: [(index: Int, perYear: Double)], pilot: [RunSummary.Noise],
                                mode: EpisodeAllocation) -> [Int] {
        let k = sources.count
        guard k > 0, count > 0 else { return Array(repeating: 0, count: k) }
        var share = Array(repeating: 1.0 / Double(k), count: k)
        if mode == .adaptive {
            let metrics: [(RunSummary.Noise) -> Double] = [{ Double($0.falseFailovers) }, { Double($0.demotions) }, { Double($0.downtimeNs) / 1e9 }]
            // A metric the pilot never saw: the allocation in proportion to the rates, which
            // gives the tightest bound on a rate nothing was seen for (`NoiseRates.stratified`).
            let rates = sources.map(\.perYear).reduce(0, +)
            let proportional = sources.map { rates > 0 ? $0.perYear / rates : 1 / Double(k) }
            var sum = Array(repeating: 0.0, count: k)
            for m in metrics {
                let a = sources.map { s -> Double in
                    let v = pilot.filter { $0.source == s.index }.map { $0.weight * m($0) }
                    guard v.count > 1 else { return 0 }
                    let mean = v.reduce(0, +) / Double(v.count)
                    let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
                    return s.perYear * sd
                }
                let total = a.reduce(0, +)
                for i in 0..<k { sum[i] += total > 0 ? a[i] / total : proportional[i] }
            }
            share = sum.map { 0.9 * $0 / Double(metrics.count) + 0.1 / Double(k) }
        }
        let exact = share.map { $0 * Double(count) }
        var n = exact.map { Int($0.rounded(.down)) }
        let order = (0..<k).sorted { (exact[$0] - Double(n[$0]), -$0) > (exact[$1] - Double(n[$1]), -$1) }
        for i in order.prefix(count - n.reduce(0, +)) { n[i] += 1 }
        return n
    }

    /// The order the allocated episodes run in: interleaved (each next one to the source
    /// furthest behind its share), so that an interrupted sweep is still spread as planned.
    public static func sequence(_ counts: [Int]) -> [Int] {
        let total = counts.reduce(0, +)
        guard total > 0 else { return [] }
        var given = Array(repeating: 0, count: counts.count)
        var out: [Int] = []
        out.reserveCapacity(total)
        for step in 1...total {
            var best = -1, bestLag = -Double.infinity
            for i in counts.indices where given[i] < counts[i] {
                let lag = Double(counts[i]) * Double(step) / Double(total) - Double(given[i])
                if lag > bestLag { best = i; bestLag = lag }
            }
            given[best] += 1
            out.append(best)
        }
        return out
    }
}
