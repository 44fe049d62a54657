import SimCore

/// Collects what a run records. Models append to it through their environment; at the end it
/// becomes a `RunRecord`. It records and holds no model state: the WAL histories are the
/// PostgreSQL servers' (`WalHistory`), copied into the `RunRecord` when the run ends. Writes are stored in one array indexed by write id (no per-write
/// allocation beyond the array's growth).
public final class Recorder {
    public var timeline: [TimelineEntry] = []
    public var writes: [WriteRecord] = []
    public var reads: [ReadRecord] = []
    public var violations: [Violation] = []
    public var faults: [FaultRecord] = []
    /// Counters the models keep (elections, checks, ...), by name; printed in name order.
    public var counters: [String: Double] = [:]

    public init() {}

    public func log(_ t: Nanos, _ host: String, _ component: String, _ kind: String, _ detail: JSON = .object([])) {
        timeline.append(TimelineEntry(timeNs: t, host: host, component: component, kind: kind, detail: detail))
    }

    public func violation(_ t: Nanos, _ kind: String, _ detail: String, host: String = "", component: String = "") {
        violations.append(Violation(timeNs: t, kind: kind, detail: detail))
        log(t, host, component, Kind.invariant, .object([("kind", .string(kind)), ("detail", .string(detail))]))
    }

    public func count(_ name: String, _ by: Double = 1) { counters[name, default: 0] += by }

    public func newWrite(client: UInt16, directHost: Int16, at t: Nanos, bytes: Int32) -> UInt32 {
        let id = UInt32(writes.count)
        writes.append(WriteRecord(id: id, client: client, directHost: directHost, sentNs: t, bytes: bytes))
        return id
    }
}

/// Everything one run produced, for the analysis, the store and the report.
public struct RunRecord: Sendable {
    public var scenario: String
    public var seed: UInt64
    public var durationNs: Nanos
    public var events: UInt64
    public var traceHash: String
    public var wallSeconds: Double
    public var hosts: [String]
    public var faults: [FaultRecord]
    public var timeline: [TimelineEntry]
    public var writes: [WriteRecord]
    public var reads: [ReadRecord]
    public var forks: [ForkInfo]
    public var finalPg: [FinalPgState]
    public var violations: [Violation]
    public var counters: [(String, Double)]
    /// Set when the run stopped early (event limit, a livelock, an interrupt).
    public var aborted: String?
    /// The user interrupted it: it is not a result (never stored, never checked).
    public var interrupted = false

    public init(scenario: String, seed: UInt64, durationNs: Nanos, events: UInt64, traceHash: String, wallSeconds: Double,
                hosts: [String], recorder: Recorder, forks: [ForkInfo], finalPg: [FinalPgState], aborted: String?) {
        self.scenario = scenario
        self.seed = seed
        self.durationNs = durationNs
        self.events = events
        self.traceHash = traceHash
        self.wallSeconds = wallSeconds
        self.hosts = hosts
        faults = recorder.faults
        timeline = recorder.timeline
        writes = recorder.writes
        reads = recorder.reads
        self.forks = forks
        violations = recorder.violations
        counters = recorder.counters.keys.sorted().map { ($0, recorder.counters[$0]!) }
        self.finalPg = finalPg
        self.aborted = aborted
    }

    /// The chain of (fork, last LSN on it) from `end` back to the root history.
    public func lineage(_ end: WalPosition) -> [(fork: UInt32, limit: Int64)] { forks.lineage(end) }

    /// Whether the history ending at `end` contains the position `p` (same fork up to `end`,
    /// or an ancestor fork up to the point where the descendant branched off).
    public func history(endingAt end: WalPosition, contains p: WalPosition) -> Bool {
        var fork = end.fork
        var limit = end.lsn
        var guardSteps = 0
        while fork != WalPosition.none.fork, guardSteps < 10_000 {
            if fork == p.fork { return p.lsn <= limit }
            guard Int(fork) < forks.count, let parent = forks[Int(fork)].parent else { return false }
            limit = min(limit, forks[Int(fork)].switchLsn)
            fork = parent
            guardSteps += 1
        }
        return false
    }
}
