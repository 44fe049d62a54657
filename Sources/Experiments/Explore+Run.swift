import Foundation
import SimCore
import Recording
import Scenario
import Analysis

/// `simctl explore`: random fault schedules against a scenario's cluster, every run checked
/// against `ExploreProperties`, every failing property's first run shrunk (`shrink`).
public enum Explorer {
    public struct Failure: Sendable {
        public var target: Int
        public var index: Int
        public var schedule: Schedule
        public var failures: [PropertyFailure]
        /// The shrunk schedule of its first property, when it was shrunk.
        public var shrunk: Schedule?
        public var shrinkRuns = 0
        public var property: String { failures.first?.property ?? "" }
    }

    public struct Report: Sendable {
        public var runs = 0
        /// Runs per target (in `targets` order).
        public var runsPerTarget: [Int] = []
        public var events: UInt64 = 0
        public var kindCounts: [String: Int] = [:]
        public var failures: [Failure] = []
        /// Runs that failed each property.
        public var byProperty: [String: Int] = [:]
        /// Generated schedules that did not load (a generator bug).
        public var invalid: [(target: Int, index: Int, message: String)] = []
    }

    /// One finished run, for the caller to store.
    public struct Done: Sendable {
        public var target: Int
        public var index: Int
        public var schedule: Schedule
        public var scenario: Scenario
        public var text: String
        public var run: RunRecord
        public var findings: Findings
        public var failures: [PropertyFailure]
    }

    /// Explores `targets` (round-robin) until `runs` runs are done or `timeUp` says so, `workers`
    /// runs at a time; then shrinks the first failure of each (target, property). Run `i` of
    /// target `k` is `schedule(target, seed: seed &+ k, index: i)` — the same in any process.
    public static func run(_ targets: [ExploreTarget], seed: UInt64, runs: Int?, workers: Int, checkExpect: Bool,
                           shrinkBudget: Int = 300, timeUp: @escaping @Sendable () -> Bool = { false },
                           wallClock: @escaping @Sendable () -> Double = { 0 },
                           onRun: (Done) throws -> Void = { _ in }, progress: (_ done: Int, _ total: Int?) -> Void = { _, _ in },
                           shrinking: (_ property: String, _ file: String) -> Void = { _, _ in }) throws -> Report {
        var report = Report()
        report.runsPerTarget = Array(repeating: 0, count: targets.count)
        var next = Array(repeating: 0, count: targets.count)
        var target = 0
        let chunk = max(8, workers * 16)
        while runs.map({ report.runs + report.invalid.count < $0 }) ?? true, !timeUp() {
            var batch: [(Int, Int, Schedule, Scenario, String, Nanos)] = []
            while batch.count < chunk, runs.map({ report.runs + report.invalid.count + batch.count < $0 }) ?? true {
                let k = target
                target = (target + 1) % targets.count
                let i = next[k]
                next[k] += 1
                let s = schedule(targets[k], seed: seed &+ UInt64(k), index: i)
                let name = "\(baseName(targets[k].file))-explore-\(i)"
                let txt = text(targets[k], s, name: name, description: "simctl explore \(targets[k].file) --seed \(seed &+ UInt64(k)): run \(i)")
                switch ScenarioLoader.load(text: txt, file: "\(name).yml") {
                case .success(let sc): batch.append((k, i, s, sc, txt, Nanos(healAt(targets[k], s)) * Time.s))
                case .failure(let e): report.invalid.append((k, i, e.description))
                }
            }
            if batch.isEmpty { break }
            let jobs = batch.indices.map { Job(index: $0, scenario: $0, seed: batch[$0].2.seed) }
            try Batch.run(jobs, scenarios: batch.map(\.3), workers: workers, wallClock: wallClock) { r in
                let (k, i, s, sc, txt, heal) = batch[r.job.scenario]
                let fails = ExploreProperties.check(sc, r.run, r.findings, healedAtNs: heal, checkExpect: checkExpect)
                report.runs += 1
                report.runsPerTarget[k] += 1
                report.events += r.run.events
                for kind in s.kinds { report.kindCounts[kind, default: 0] += 1 }
                for p in Set(fails.map(\.property)) { report.byProperty[p, default: 0] += 1 }
                if !fails.isEmpty { report.failures.append(Failure(target: k, index: i, schedule: s, failures: fails)) }
                try onRun(Done(target: k, index: i, schedule: s, scenario: sc, text: txt, run: r.run, findings: r.findings, failures: fails))
                progress(report.runs, runs)
            }
        }
        // Completion order varies with the workers: order the failures by run before shrinking.
        report.failures.sort { ($0.target, $0.index) < ($1.target, $1.index) }
        // The first failure of each (target, property) is shrunk; the shrinks are independent
        // and each deterministic, so they run side by side.
        var shrunkKeys = Set<String>()
        var toShrink: [Int] = []
        for j in report.failures.indices where shrunkKeys.insert("\(report.failures[j].target) \(report.failures[j].property)").inserted {
            toShrink.append(j)
        }
        if !(timeUp() && runs == nil) {
            for j in toShrink { shrinking(report.failures[j].property, targets[report.failures[j].target].file) }
            let jobs = toShrink.map { (t: targets[report.failures[$0].target], s: report.failures[$0].schedule, p: report.failures[$0].property) }
            let results = ParallelMap.run(jobs.count, workers: workers) { i in
                shrink(jobs[i].t, jobs[i].s, property: jobs[i].p, checkExpect: checkExpect, budget: shrinkBudget)
            }
            for (k, j) in toShrink.enumerated() {
                report.failures[j].shrunk = results[k].schedule
                report.failures[j].shrinkRuns = results[k].runs
            }
        }
        return report
    }

    public static func baseName(_ file: String) -> String {
        let last = file.split(separator: "/").last.map(String.init) ?? file
        return last.hasSuffix(".yml") ? String(last.dropLast(4)) : last.hasSuffix(".yaml") ? String(last.dropLast(5)) : last
    }

    /// A shrunk failure as the scenario file users keep: its description says what fails and
    /// how to replay it.
    public static func reproducer(_ t: ExploreTarget, _ f: Failure, path: String, checkExpect: Bool) -> String {
        let s = f.shrunk ?? f.schedule
        let detail = check(t, s, checkExpect: checkExpect)?.first { $0.property == f.property }?.detail ?? f.failures.first?.detail ?? ""
        let desc = "Found by simctl explore on \(t.file) (run \(f.index)) and shrunk from \(f.schedule.faults.count) fault(s) to \(s.faults.count) "
            + "in \(f.shrinkRuns) run(s): \(f.property) fails — \(detail). Replay: simctl run \(path) --seed \(s.seed)"
        return text(t, s, name: "\(f.property)-\(s.seed)", description: desc)
    }
}

/// `body(0..<count)` on `workers` threads, results in index order.
enum ParallelMap {
    final class Box<T>: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        var results: [T?]
        init(_ n: Int) { results = Array(repeating: nil, count: n) }
    }

    static func run<T: Sendable>(_ count: Int, workers: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        let box = Box<T>(count)
        let done = DispatchGroup()
        for _ in 0..<max(1, min(workers, count)) {
            done.enter()
            let t = Thread {
                while true {
                    box.lock.lock()
                    let i = box.next
                    box.next += 1
                    box.lock.unlock()
                    if i >= count { break }
                    let r = body(i)
                    box.lock.lock()
                    box.results[i] = r
                    box.lock.unlock()
                }
                done.leave()
            }
            t.stackSize = 8 << 20
            t.start()
        }
        done.wait()
        return box.results.map { $0! }
    }
}
