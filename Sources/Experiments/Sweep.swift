import SimCore
import Recording
import Scenario
import Analysis
import Store

/// A sweep worked out: one scenario per setting, and every (setting, seed) run numbered.
/// Seed k is the same seed in every setting (common random numbers: the fault jitter, the
/// network's per-pair latencies and the workload draw from the same streams), so differences
/// between settings come from the settings.
public struct SweepPlan: Sendable {
    public var scenarioPath: String
    public var scenarioSHA256: String
    public var scenarioText: String
    public var grid: Grid
    public var seeds: Int
    public var firstSeed: UInt64
    /// Per setting, in grid order (first axis slowest).
    public var points: [[(key: String, value: String)]]
    public var scenarios: [Scenario]

    /// Loads the scenario once per setting. Any setting that does not load is bad input:
    /// every diagnostic is returned, nothing runs.
    public static func make(text: String, path: String, grid: Grid, seeds: Int, firstSeed: UInt64) -> Result<SweepPlan, ScenarioErrors> {
        let sha = SHA256.hex(Array(text.utf8))
        let tree: YNode
        switch ScenarioLoader.parse(text: text, file: path) {
        case .success(let t): tree = t
        case .failure(let e): return .failure(e)
        }
        var scenarios: [Scenario] = []
        var problems: [Diagnostic] = []
        let points = grid.points
        for p in points {
            switch ScenarioLoader.build(tree, file: path, overrides: grid.fixed + p.map { "\($0.key)=\($0.value)" }) {
            case .success(let s): scenarios.append(s)
            case .failure(let e): problems += e.diagnostics.filter { d in !problems.contains { $0.description == d.description } }
            }
        }
        if !problems.isEmpty { return .failure(ScenarioErrors(diagnostics: problems)) }
        return .success(SweepPlan(scenarioPath: path, scenarioSHA256: sha, scenarioText: text, grid: grid, seeds: seeds, firstSeed: firstSeed,
                                  points: points, scenarios: scenarios))
    }

    public var runCount: Int { points.count * seeds }

    /// Setting `i` as Patroni ran it: each axis key's effective value where Patroni adjusted
    /// it (`ttl=10` runs as ttl 20), else the value asked for. Values are compared as numbers
    /// (`30` asked and `30s` run are the same).
    public func effective(_ i: Int) -> [(key: String, value: String)] {
        points[i].map { kv in
            guard let e = scenarios[i].effectiveValue(kv.key) else { return kv }
            let asked = (try? DurationText.parse(kv.value, bareUnit: Time.s)).map { String($0 / Time.s) } ?? kv.value
            return (kv.key, asked == e ? kv.value : e)
        }
    }

    /// Whether Patroni ran setting `i` other than asked.
    public func adjusted(_ i: Int) -> Bool { zip(points[i], effective(i)).contains { $0.value != $1.value } }
    public var name: String { scenarios.first?.name ?? "" }

    /// The stored form of setting `i`: `{"patroni.ttl":"20"}`.
    public func pointJSON(_ i: Int) -> String { JSON.object(points[i].map { ($0.key, .string($0.value)) }).text }

    /// Identifies the sweep across machines and restarts: scenario text, grid, fixed overrides
    /// and seeds (not the shard).
    public var key: String {
        let desc = [scenarioSHA256, grid.json.text, JSON.array(grid.fixed.map(JSON.string)).text, "\(seeds)", "\(firstSeed)"]
        return SHA256.hex(Array(desc.joined(separator: "\n").utf8))
    }

    /// Whether the settings' runs are episodes stratified by source (`EpisodePlan`): every
    /// setting runs episodes and none fixes its source.
    public var episodic: Bool { scenarios.allSatisfy { $0.noise.method == .episodes && $0.noise.episodeSource == nil && !$0.noise.isEmpty } }

    /// Setting `p`'s strata: the sources an episode can start from, with their events per year.
    public func episodeSources(_ p: Int) -> [(index: Int, perYear: Double)] {
        let n = scenarios[p].noise
        return n.episodeSources.map { ($0, n.sources[$0].totalRatePerSecond * 365 * 86400) }
    }

    /// Seeds (0-based k) below this are the pilot: they go round the sources in turn. With
    /// `uniform` allocation every seed does.
    public var pilotSeeds: Int {
        guard episodic else { return seeds }
        if scenarios.contains(where: { $0.noise.episodeAllocation == .uniform }) { return seeds }
        return EpisodePlan.pilotSeeds(seeds: seeds, sources: scenarios.map { $0.noise.episodeSources.count }.max() ?? 1)
    }

    /// The override that fixes an episode's source, as stored with the run and replayed.
    public func sourceOverride(_ p: Int, _ source: Int) -> (key: String, value: String) {
        ("noise.episode.source", scenarios[p].noise.sources[source].name)
    }

    /// The runs of shard `shard` (1-based `i` of `n`; nil: all), without those in `done`.
    /// Run k of the whole sweep belongs to shard (k mod n) + 1, so shards are disjoint and
    /// together complete. Episodic sweeps: the pilot's runs only (then `restJobs`).
    public func jobs(shard: (Int, Int)? = nil, skipping done: Set<String> = []) -> [Job] {
        jobs(shard: shard, skipping: done, seedRange: 0..<pilotSeeds) { p, k in
            let src = episodeSources(p)
            return src[k % src.count].index
        }
    }

    /// An episodic sweep's runs after the pilot: per setting, allocated over its sources from
    /// that setting's pilot runs in the store (`EpisodePlan.allocate`). A shard allocates from
    /// the pilot runs in its own store (its slice of the pilot).
    public func restJobs(shard: (Int, Int)? = nil, skipping done: Set<String> = [], pilot: [String: [RunSummary.Noise]]) -> [Job] {
        guard episodic, pilotSeeds < seeds else { return [] }
        let order = points.indices.map { p -> [Int] in
            let src = episodeSources(p)
            let counts = EpisodePlan.allocate(seeds - pilotSeeds, sources: src, pilot: pilot[pointJSON(p)] ?? [],
                                              mode: scenarios[p].noise.episodeAllocation)
            return EpisodePlan.sequence(counts).map { src[$0].index }
        }
        return jobs(shard: shard, skipping: done, seedRange: pilotSeeds..<seeds) { p, k in order[p][k - pilotSeeds] }
    }

    func jobs(shard: (Int, Int)?, skipping done: Set<String>, seedRange: Range<Int>, source: (Int, Int) -> Int?) -> [Job] {
        var out: [Job] = []
        for p in points.indices {
            let pj = pointJSON(p)
            for k in seedRange {
                let index = p * seeds + k
                if let (i, n) = shard, index % n != i - 1 { continue }
                let seed = firstSeed &+ UInt64(k)
                if done.contains(Store.runKey(point: pj, seed: seed)) { continue }
                out.append(Job(index: index, scenario: p, seed: seed, episodeSource: episodic ? source(p, k) : nil))
            }
        }
        return out
    }
}

public enum Sweeper {
    public struct AlreadyStored: Error, CustomStringConvertible {
        public var sweep: SweepRow
        public var done: Int
        public var description: String {
            "this sweep is already in the store (sweep \(sweep.id), \(done) runs done); add --resume to continue it, or use another --db"
        }
    }

    /// Finds (with `resume`) or creates the sweep's row, then runs what is missing (at most
    /// `maxRuns` of it), saving each run in its own transaction as it completes: an interrupted
    /// sweep keeps every finished run.
    @discardableResult
    public static func run(_ plan: SweepPlan, store: Store, resume: Bool, shard: (Int, Int)?, workers: Int, simctlVersion: String,
                           maxRuns: Int? = nil, timestamp: () -> String, wallClock: @escaping @Sendable () -> Double = { 0 },
                           shouldStop: @escaping @Sendable () -> Bool = { false },
                           progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> SweepRow {
        var row: SweepRow
        var done: Set<String> = []
        if let existing = try store.sweep(key: plan.key) {
            done = try store.doneRuns(sweep: existing.id)
            guard resume else { throw AlreadyStored(sweep: existing, done: done.count) }
            row = existing
        } else {
            row = try store.insertSweep(SweepRow(id: 0, key: plan.key, scenario: plan.name, scenarioFile: plan.scenarioPath,
                                                 scenarioSHA256: plan.scenarioSHA256, grid: plan.grid.json.text, seeds: plan.seeds,
                                                 firstSeed: plan.firstSeed, simctlVersion: simctlVersion, started: timestamp(), finished: nil))
        }
        var budget = maxRuns ?? Int.max
        var finished = 0
        var total = 0
        func runBatch(_ all: [Job]) throws {
            let jobs = Array(all.prefix(budget))
            budget -= jobs.count
            total += jobs.count
            progress(finished, total)
            try Batch.run(jobs, scenarios: plan.scenarios, workers: workers, wallClock: wallClock, shouldStop: shouldStop) { r in
                let p = r.job.scenario
                let source = r.job.episodeSource.map { [plan.sourceOverride(p, $0)] } ?? []
                let meta = RunMeta(scenarioFile: plan.scenarioPath, scenarioSHA256: plan.scenarioSHA256,
                                   overrides: plan.grid.fixed.map(splitOverride) + plan.points[p].map { ($0.key, $0.value) } + source,
                                   simctlVersion: simctlVersion, sweepID: row.id, point: plan.points[p].map { ($0.key, $0.value) },
                                   scenarioText: plan.scenarioText, hosts: RunStory.hosts(plan.scenarios[p]))
                try store.save(r.run, r.findings, meta: meta)
                finished += 1
                progress(finished, total)
            }
        }
        try runBatch(plan.jobs(shard: shard, skipping: done))
        if plan.episodic && plan.pilotSeeds < plan.seeds && budget > 0 && !shouldStop() {
            // The pilot is stored: allocate the rest of each setting's episodes from it.
            let last = plan.firstSeed &+ UInt64(plan.pilotSeeds)
            var pilot: [String: [RunSummary.Noise]] = [:]
            for r in try store.storedRuns(sweep: row.id) where r.summary.seed >= plan.firstSeed && r.summary.seed < last {
                if let n = r.summary.noise { pilot[r.point, default: []].append(n) }
            }
            done = try store.doneRuns(sweep: row.id)
            try runBatch(plan.restJobs(shard: shard, skipping: done, pilot: pilot))
        }
        let complete = try store.doneRuns(sweep: row.id).count >= plan.runCount
        if complete || (shard != nil && maxRuns == nil && !shouldStop()) {
            row.finished = timestamp()
            try store.finishSweep(row.id, at: row.finished!)
        }
        return row
    }

    /// Each setting's statistics from the stored runs, in the given point order (points not in
    /// it follow, sorted).
    public static func table(store: Store, sweep: Int64, order: [String] = []) throws -> [SettingStats] {
        let runs = try store.storedRuns(sweep: sweep)
        var byPoint: [String: [StoredRun]] = [:]
        for r in runs { byPoint[r.point, default: []].append(r) }
        let rest = byPoint.keys.filter { !order.contains($0) }.sorted()
        return (order + rest).compactMap { p in byPoint[p].map { SettingStats(point: p, runs: $0.map(\.summary), runIDs: $0.map(\.runID)) } }
    }
}

func splitOverride(_ o: String) -> (String, String) {
    guard let eq = o.firstIndex(of: "=") else { return (o, "") }
    return (String(o[..<eq]), String(o[o.index(after: eq)...]))
}

extension Sweeper {
    /// The objective's pick, as Patroni would run it.
    public struct Recommendation: Sendable {
        public var setting: SettingStats?
        /// Said when the best setting is one Patroni adjusts at start-up.
        public var note: String?
    }

    /// The best setting by the objective, never one Patroni would not run as written: if the
    /// winner is adjusted (ttl 10 runs as ttl 20), the setting that asks for what Patroni ran
    /// is recommended instead when the sweep has it, and the adjustment is said either way.
    public static func recommend(_ obj: Objective, _ stats: [SettingStats], _ plan: SweepPlan) -> Recommendation {
        guard let best = obj.best(stats), let i = plan.points.indices.first(where: { plan.pointJSON($0) == best.point }) else {
            return Recommendation(setting: nil, note: nil)
        }
        guard plan.adjusted(i) else { return Recommendation(setting: best, note: nil) }
        let eff = plan.effective(i)
        let ran = eff.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let asked = plan.points[i].map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        if let j = plan.points.indices.first(where: { j in !plan.adjusted(j) && plan.effective(j).map(\.value) == eff.map(\.value) }),
           let other = stats.first(where: { $0.point == plan.pointJSON(j) }) {
            return Recommendation(setting: other, note: "the best figures came from \(asked), which Patroni runs as \(ran): set \(ran)")
        }
        return Recommendation(setting: best, note: "Patroni runs \(asked) as \(ran) (its timeout rules): set \(ran), not \(asked)")
    }
}
