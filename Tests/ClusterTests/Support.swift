import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// One simulated run and what the analysis made of it.
struct Outcome {
    let scenario: Scenario
    let run: RunRecord
    let findings: Findings

    func entries(_ kind: String, host: String? = nil) -> [TimelineEntry] {
        run.timeline.filter { $0.kind == kind && (host == nil || $0.host == host) }
    }
    func first(_ kind: String, host: String? = nil, after t: Nanos = 0, where ok: (TimelineEntry) -> Bool = { _ in true }) -> TimelineEntry? {
        run.timeline.first { $0.kind == kind && (host == nil || $0.host == host) && $0.timeNs >= t && ok($0) }
    }
    /// Leader-key changes: (time, holder or nil, cause).
    var keyChanges: [(t: Nanos, holder: String?, cause: String)] {
        entries(Kind.leaderKey).map { ($0.timeNs, $0.detail["holder"]?.stringValue, $0.detail["cause"]?.stringValue ?? "") }
    }
    func fault(_ i: Int) -> FaultRecord { run.faults.first { $0.index == i }! }
    func phase(_ name: String, fault: Int = 0) -> Nanos? {
        findings.rto.first { $0.faultIndex == fault }?.phases.first { $0.name == name }?.durationNs
    }
    var rto: Nanos? { findings.rto.first?.rtoNs }
    var newPrimaries: [String] { keyChanges.compactMap(\.holder).reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } } }
}

/// Loads an inline scenario (failing the test on a diagnostic) and runs it.
/// `keepEveryWrite`: no write is folded into counts (for tests that read single writes).
func simulate(_ yaml: String, seed: UInt64? = nil, set: [String] = [], keepEveryWrite: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
    var s: Scenario
    switch ScenarioLoader.load(text: yaml, file: "test.yml", overrides: set) {
    case .success(let v): s = v
    case .failure(let e):
        Issue.record("scenario does not load: \(e.diagnostics.map(\.description).joined(separator: "; "))", sourceLocation: sourceLocation)
        throw e
    }
    if let seed { s.seed = seed }
    let sim = Simulation(scenario: s)
    sim.keepEveryWrite = keepEveryWrite
    let run = sim.run()
    return Outcome(scenario: s, run: run, findings: Analyzer.analyze(run, scenario: s))
}

func seconds(_ ns: Nanos?) -> Double { ns.map { Double($0) / 1e9 } ?? .nan }

// A failed expectation prints its operands: keep an outcome's print short.
extension Outcome: CustomTestStringConvertible {
    var testDescription: String { "run of \(scenario.name) seed \(scenario.seed) (\(run.events) events)" }
}
