import SimCore
import Recording
import Scenario
import Analysis
import Store

/// `simctl check`: each scenario over N seeds, its expectations on every seed, and its RTO
/// percentiles and lost writes against the baseline.
public struct CheckResult: Sendable {
    /// The baseline key: the file's name without `.yml`.
    public var name: String
    public var file: String
    public var seconds: Double
    /// Expectations that failed, per seed.
    public var failedExpectations: [String]
    public var moved: [Baseline.Moved]
    public var entry: Baseline.Entry
    public var inBaseline: Bool
    /// What `--strict` adds: no baseline entry, or one measured over other seeds.
    public var strictFailures: [String] = []
    public var ok: Bool { failedExpectations.isEmpty && moved.isEmpty && strictFailures.isEmpty }

    /// One line that says what failed, for a CI system's list of failures: the first moved
    /// figure, else how many seeds broke which expectation.
    public var headline: String? {
        if let m = moved.first { return m.description + (moved.count > 1 ? " (and \(moved.count - 1) more)" : "") }
        if !failedExpectations.isEmpty {
            // "seed 4: rto.max: …" → per expectation name, the seeds that broke it.
            var byName: [(String, Int)] = []
            for f in failedExpectations {
                let parts = f.split(separator: ":", maxSplits: 2).map { String($0).trimmingCharactersInSet() }
                let name = parts.count > 1 ? parts[1] : f
                if let i = byName.firstIndex(where: { $0.0 == name }) { byName[i].1 += 1 } else { byName.append((name, 1)) }
            }
            let seeds = entry.seeds
            return byName.map { "\($0.0) failed on \($0.1) of \(seeds) seed\(seeds == 1 ? "" : "s")" }.joined(separator: "; ")
                + " (first: \(failedExpectations[0]))"
        }
        return strictFailures.first
    }
}

public enum Checker {
    public struct Input: Sendable {
        public var path: String
        public var text: String
        public var scenario: Scenario
        public init(path: String, text: String, scenario: Scenario) {
            self.path = path
            self.text = text
            self.scenario = scenario
        }
        public var name: String {
            var n = String(path.split(separator: "/").last ?? Substring(path))
            for ext in [".yml", ".yaml"] where n.hasSuffix(ext) { n.removeLast(ext.count) }
            return n
        }
    }

    public static func run(_ inputs: [Input], seeds: Int, firstSeed: UInt64, workers: Int, baseline: Baseline?, store: Store?,
                           simctlVersion: String, wallClock: @escaping @Sendable () -> Double = { 0 },
                           shouldStop: @escaping @Sendable () -> Bool = { false },
                           progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> [CheckResult] {
        var jobs: [Job] = []
        for i in inputs.indices {
            for k in 0..<seeds { jobs.append(Job(index: jobs.count, scenario: i, seed: firstSeed &+ UInt64(k))) }
        }
        var summaries = Array(repeating: [RunSummary](), count: inputs.count)
        var failures = Array(repeating: [(UInt64, String)](), count: inputs.count)
        var faultKinds = Array(repeating: [(Int, String)](), count: inputs.count)
        var seconds = Array(repeating: 0.0, count: inputs.count)
        var done = 0
        try Batch.run(jobs, scenarios: inputs.map(\.scenario), workers: workers, wallClock: wallClock, shouldStop: shouldStop) { r in
            let i = r.job.scenario
            summaries[i].append(RunSummary(r.run, r.findings))
            seconds[i] += r.run.wallSeconds
            for e in r.findings.expectations where !e.ok { failures[i].append((r.job.seed, "seed \(r.job.seed): \(e.name): \(e.detail)")) }
            if let a = r.run.aborted { failures[i].append((r.job.seed, "seed \(r.job.seed): \(a)")) }
            for f in r.findings.rto where !faultKinds[i].contains(where: { $0.0 == f.faultIndex }) { faultKinds[i].append((f.faultIndex, f.kind)) }
            if let store {
                let inp = inputs[i]
                try store.save(r.run, r.findings, meta: RunMeta(scenarioFile: inp.path, scenarioSHA256: SHA256.hex(Array(inp.text.utf8)),
                                                                overrides: [], simctlVersion: simctlVersion, scenarioText: inp.text,
                                                                hosts: RunStory.hosts(inp.scenario)))
            }
            done += 1
            progress(done, jobs.count)
        }
        return inputs.indices.map { i in
            // Completion order varies with the threads; the report must not.
            let runs = summaries[i].sorted { $0.seed < $1.seed }
            let entry = Baseline.entry(file: inputs[i].path, seeds: seeds, firstSeed: firstSeed,
                                       faultKinds: faultKinds[i].sorted { $0.0 < $1.0 }, runs: runs)
            let name = inputs[i].name
            return CheckResult(name: name, file: inputs[i].path, seconds: seconds[i],
                               failedExpectations: failures[i].sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.1),
                               moved: baseline?.compare(name, entry) ?? [], entry: entry, inBaseline: baseline?.entry(name) != nil)
        }
    }

    /// The JUnit class of a scenario file: its folder path with dots (`Scenarios`), so that CI
    /// systems group the cases by folder and name each by its scenario.
    static func className(_ path: String) -> String {
        let parts = path.split(separator: "/").dropLast().filter { $0 != "." && !$0.isEmpty }
        return parts.isEmpty ? "simctl.check" : parts.joined(separator: ".")
    }

    public static func junit(_ results: [CheckResult]) -> String {
        JUnit.xml(suite: "simctl check", cases: results.map { r in
            var notes: [String] = []
            if !r.inBaseline { notes.append("no baseline entry: run simctl check --update-baseline") }
            for f in r.entry.faults {
                notes.append("fault \(f.index) (\(f.kind)): RTO p50 \(secondsText(f.p50)), p95 \(secondsText(f.p95))\(f.unrecovered > 0 ? ", \(f.unrecovered) never recovered" : "")")
            }
            return JUnitCase(name: r.name, className: className(r.file), seconds: r.seconds,
                             failures: r.moved.map(\.description) + r.failedExpectations + r.strictFailures, notes: notes,
                             file: r.file, headline: r.headline)
        })
    }

    /// Input that could not be checked (a missing file, a scenario that does not load): one
    /// error case per file, so that CI shows why nothing ran.
    public static func junitErrors(_ problems: [(file: String, message: String)]) -> String {
        JUnit.xml(suite: "simctl check", cases: problems.map { p in
            var name = String(p.file.split(separator: "/").last ?? Substring(p.file))
            for ext in [".yml", ".yaml"] where name.hasSuffix(ext) { name.removeLast(ext.count) }
            return JUnitCase(name: name, className: className(p.file), seconds: 0, failures: [], file: p.file,
                             error: p.message)
        })
    }
}
