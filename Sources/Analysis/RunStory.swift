import SimCore
import Recording
import Scenario

/// Everything the reports of one run show — the text report, `simctl list` and `history`, the
/// HTML page — whether the run just happened or comes back from the store.
public struct RunStory: Sendable {
    public struct Host: Sendable, Equatable {
        public var name: String
        public var services: [String]
        public init(name: String, services: [String]) {
            self.name = name
            self.services = services
        }
    }
    public var scenario: String
    public var scenarioFile: String
    public var seed: UInt64
    public var durationNs: Nanos
    public var events: UInt64
    public var wallSeconds: Double
    public var traceHash: String
    public var hosts: [Host]
    public var faults: [FaultRecord]
    public var timeline: Timeline
    public var findings: Findings
    public var series: WriteSeries
    public var aborted: String?
    public var overrides: [(String, String)]
    public var runID: Int64?

    public init(run: RunRecord, findings: Findings, scenario: Scenario, file: String, overrides: [(String, String)], runID: Int64? = nil) {
        self.scenario = run.scenario
        scenarioFile = file
        seed = run.seed
        durationNs = run.durationNs
        events = run.events
        wallSeconds = run.wallSeconds
        traceHash = run.traceHash
        hosts = Self.hosts(scenario)
        faults = run.faults
        timeline = run.timeline
        self.findings = findings
        series = WriteSeries.of(run, lostIds: findings.rpo?.lostIds ?? [])
        aborted = run.aborted
        self.overrides = overrides
        self.runID = runID
    }

    public init(scenario: String, scenarioFile: String, seed: UInt64, durationNs: Nanos, events: UInt64, wallSeconds: Double, traceHash: String,
                hosts: [Host], faults: [FaultRecord], timeline: Timeline, findings: Findings, series: WriteSeries, aborted: String?,
                overrides: [(String, String)], runID: Int64?) {
        self.scenario = scenario
        self.scenarioFile = scenarioFile
        self.seed = seed
        self.durationNs = durationNs
        self.events = events
        self.wallSeconds = wallSeconds
        self.traceHash = traceHash
        self.hosts = hosts
        self.faults = faults
        self.timeline = timeline
        self.findings = findings
        self.series = series
        self.aborted = aborted
        self.overrides = overrides
        self.runID = runID
    }

    /// The hosts and the services each runs, in the topology's order.
    public static func hosts(_ s: Scenario) -> [Host] {
        s.topology.hosts.map { Host(name: $0.name, services: $0.services.map(\.rawValue)) }
    }

    public static func hostsDocument(_ hosts: [Host]) -> JSON {
        .array(hosts.map { .object([("name", .string($0.name)), ("services", .array($0.services.map(JSON.string)))]) })
    }

    public static func hosts(document d: JSON) -> [Host] {
        (d.arrayValue ?? []).map { Host(name: $0["name"]?.stringValue ?? "", services: ($0["services"]?.arrayValue ?? []).compactMap(\.stringValue)) }
    }

    public static func faultsDocument(_ faults: [FaultRecord]) -> JSON {
        .array(faults.map { f in
            .object([("index", .int(Int64(f.index))), ("kind", .string(f.kind)), ("target", .string(f.target)), ("resolved", .string(f.resolved)),
                     ("start_ns", .int(f.startNs)), ("end_ns", f.endNs.map { .int($0) } ?? .null), ("disrupts", .bool(f.disrupts))])
        })
    }

    public static func faults(document d: JSON) -> [FaultRecord] {
        (d.arrayValue ?? []).map { f in
            FaultRecord(index: Int(f["index"]?.intValue ?? 0), kind: f["kind"]?.stringValue ?? "", target: f["target"]?.stringValue ?? "",
                        resolved: f["resolved"]?.stringValue ?? "", startNs: f["start_ns"]?.intValue ?? 0, endNs: f["end_ns"]?.intValue,
                        disrupts: f["disrupts"]?.boolValue ?? false)
        }
    }

    public var ok: Bool { findings.ok && aborted == nil }
}
