import SimCore
import Recording
import Scenario
import Analysis

/// A property a run broke, by name.
public struct PropertyFailure: Sendable, Equatable, CustomStringConvertible {
    public var property: String
    public var detail: String
    public init(_ property: String, _ detail: String) {
        self.property = property
        self.detail = detail
    }
    public var description: String { "\(property): \(detail)" }
}

/// Properties every run must have, whatever its faults: what simctl prints must be right and
/// consistent with itself, and a run must end.
public enum RunProperties {
    public static func check(_ s: Scenario, _ run: RunRecord, _ f: Findings) -> [PropertyFailure] {
        var out: [PropertyFailure] = []
        if let a = run.aborted { out.append(PropertyFailure("run.ends", a)) }
        for r in f.rto {
            if let v = r.rtoNs, v < 0 { out.append(PropertyFailure("rto.non_negative", "fault \(r.faultIndex) (\(r.kind)): RTO \(DurationText.seconds3(v))s")) }
            for p in r.phases {
                if let d = p.durationNs, d < 0 {
                    out.append(PropertyFailure("rto.non_negative", "fault \(r.faultIndex) (\(r.kind)): phase \(p.name) \(DurationText.seconds3(d))s"))
                }
            }
            if r.rtoNs != nil, let last = r.phases.last?.atNs, let v = r.rtoNs, last != r.atNs + v {
                out.append(PropertyFailure("rto.phases_add_up", "fault \(r.faultIndex): phases end at \(DurationText.seconds3(last))s, the RTO at \(DurationText.seconds3(r.atNs + v))s"))
            }
        }
        for v in f.violations { out.append(PropertyFailure("invariant.\(v.kind)", v.detail)) }
        // The same lost-write count everywhere it is printed.
        let json = Summary.json(run, f, runID: nil)
        let summary = RunSummary(run, f)
        if let r = f.rpo {
            let jl = json["rpo"]?["lost_writes"]?.intValue
            if jl != Int64(r.lostWrites) || summary.lostWrites != r.lostWrites {
                out.append(PropertyFailure("findings.consistent", "lost writes: findings \(r.lostWrites), JSON \(jl.map(String.init) ?? "none"), summary \(summary.lostWrites)"))
            }
        }
        if let sb = f.splitBrain, let r = f.rpo, sb.losingAcks > r.lostWrites {
            out.append(PropertyFailure("findings.consistent", "\(sb.losingAcks) acknowledged writes on the losing side of a split brain, but only \(r.lostWrites) lost"))
        }
        if let w = f.writes, w.ok + w.failed + w.indeterminate != w.total {
            out.append(PropertyFailure("findings.consistent", "writes: \(w.ok) ok + \(w.failed) failed + \(w.indeterminate) indeterminate != \(w.total)"))
        }
        if let w = f.writes {
            let inFlightLimit = s.workload.clients + s.workload.direct.reduce(0) { $0 + $1.clients }
            let pendingAtEnd = run.keptWrites.filter { $0.outcome == .pending }.count
            if pendingAtEnd > inFlightLimit {
                out.append(PropertyFailure("findings.consistent", "\(pendingAtEnd) writes pending at the end with \(inFlightLimit) clients (one transaction each)"))
            }
            _ = w
        }
        // A run whose writes "never recovered" must not have acknowledged writes that went
        // through promptly after the outage began.
        for r in f.rto where r.outage && r.rtoNs == nil {
            let start = r.outageStartNs ?? r.atNs, firstSent = r.outageFirstSentNs ?? r.atNs
            let prompt = run.keptWrites.contains { $0.directHost < 0 && $0.outcome == .ok && $0.sentNs >= firstSent && $0.doneNs >= start && $0.doneNs - $0.sentNs <= Analyzer.stallNs }
                || run.writeSpans.contains { $0.directHost < 0 && $0.minSentNs >= firstSent && $0.maxDoneNs >= start }
            if prompt {
                out.append(PropertyFailure("findings.consistent", "fault \(r.faultIndex): reported as never recovered, yet prompt writes were acknowledged after it"))
            }
        }
        return out
    }
}

/// Runs swarm scenarios and checks every run's properties.
public enum SwarmRunner {
    public struct Failure: Sendable {
        public var index: Int
        public var name: String
        public var yaml: String
        public var failures: [PropertyFailure]
        public var kinds: [String]
    }

    public struct Report: Sendable {
        public var runs = 0
        public var failures: [Failure] = []
        public var kindCounts: [String: Int] = [:]
        public var events: UInt64 = 0
        public var wallSeconds = 0.0
        public var invalid: [(Int, String)] = []
    }

    /// Generates scenarios `first..<first+count` of `seed`'s swarm, runs each on its own seed,
    /// and checks `RunProperties`. A generated scenario that does not load is reported as
    /// `invalid` (a generator bug).
    public static func run(seed: UInt64, first: Int = 0, count: Int, workers: Int, durationRange: ClosedRange<Int>? = nil,
                           wallClock: @escaping @Sendable () -> Double = { 0 },
                           shouldStop: @escaping @Sendable () -> Bool = { false },
                           progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> Report {
        var gen = SwarmGenerator(seed: seed)
        if let d = durationRange { gen.durationRange = d }
        var report = Report()
        var scenarios: [Scenario] = []
        var generated: [SwarmGenerator.Generated] = []
        for i in first..<(first + count) {
            let g = gen.scenario(i)
            switch ScenarioLoader.load(text: g.yaml, file: "\(g.name).yml") {
            case .success(let s):
                scenarios.append(s)
                generated.append(g)
            case .failure(let e): report.invalid.append((i, e.description))
            }
        }
        let jobs = scenarios.indices.map { Job(index: $0, scenario: $0, seed: scenarios[$0].seed) }
        var done = 0
        try Batch.run(jobs, scenarios: scenarios, workers: workers, wallClock: wallClock, shouldStop: shouldStop) { r in
            let g = generated[r.job.scenario]
            report.runs += 1
            report.events += r.run.events
            report.wallSeconds += r.run.wallSeconds
            for k in g.kinds { report.kindCounts[k, default: 0] += 1 }
            let fails = RunProperties.check(scenarios[r.job.scenario], r.run, r.findings)
            if !fails.isEmpty {
                report.failures.append(Failure(index: first + r.job.scenario, name: g.name, yaml: g.yaml, failures: fails, kinds: g.kinds))
            }
            done += 1
            progress(done, jobs.count)
        }
        report.failures.sort { $0.index < $1.index }
        return report
    }
}
