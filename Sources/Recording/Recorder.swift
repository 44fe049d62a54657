import SimCore

/// Collects what a run records. Models append to it through their environment; at the end it
/// becomes a `RunRecord`. It records and holds no model state: the WAL histories are the
/// PostgreSQL servers' (`WalHistory`), copied into the `RunRecord` when the run ends. Writes
/// live in a `WriteLog` addressed by write id; with `durableLimit` set it folds the ones the
/// findings need only as counts, so a long run's memory stays bounded.
public final class Recorder {
    public var timeline = Timeline()
    public var writes = WriteLog()
    /// The last position of a history every server with data has flushed (-1: not every one
    /// has it). Set by the owner to let the write log fold; nil keeps every write in full.
    public var durableLimit: ((UInt32) -> Int64)? = nil
    public private(set) var tally: WriteTally
    /// The latest acknowledged write's position, by when it was acknowledged (the highest id
    /// at one instant), and the one acknowledged before that instant: what a read sent now
    /// must see.
    var lastAck: (doneNs: Nanos, id: UInt32, at: WalPosition) = (-1, 0, .none)
    var ackBefore: WalPosition = .none
    public var reads: [ReadRecord] = []
    public var violations: [Violation] = []
    public var faults: [FaultRecord] = []
    /// Background-noise events, at most `noiseLimit` (then only counted in `noiseDropped`).
    public private(set) var noise: [NoiseRecord] = []
    public private(set) var noiseDropped = 0
    public static let noiseLimit = 200_000
    /// Counters the models keep (elections, checks, ...), by name; printed in name order.
    public var counters: [String: Double] = [:]

    public init(durationNs: Nanos = Time.s) { tally = WriteTally(durationNs: durationNs) }

    public func log(_ t: Nanos, _ host: String, _ component: String, _ kind: String, _ detail: JSON = .object([])) {
        timeline.append(TimelineEntry(timeNs: t, host: host, component: component, kind: kind, detail: detail))
    }

    public func violation(_ t: Nanos, _ kind: String, _ detail: String, host: String = "", component: String = "") {
        violations.append(Violation(timeNs: t, kind: kind, detail: detail))
        log(t, host, component, Kind.invariant, .object([("kind", .string(kind)), ("detail", .string(detail))]))
    }

    public func count(_ name: String, _ by: Double = 1) { counters[name, default: 0] += by }

    /// Records a noise event; returns its index (nil past the limit).
    public func addNoise(_ r: NoiseRecord) -> Int? {
        guard noise.count < Self.noiseLimit else { noiseDropped += 1; return nil }
        noise.append(r)
        return noise.count - 1
    }

    public func endNoise(_ i: Int, at t: Nanos) { noise[i].endNs = t }

    public func newWrite(client: UInt16, directHost: Int16, at t: Nanos, bytes: Int32) -> UInt32 {
        let id = UInt32(writes.count)
        writes.append(WriteRecord(id: id, client: client, directHost: directHost, sentNs: t, bytes: bytes))
        if id & 1023 == 0, let limit = durableLimit {
            var edges: [Nanos] = [Time.s]
            for f in faults {
                edges.append(f.startNs)
                if let e = f.endNs { edges.append(e) }
            }
            // Writes around noise keep their detail too: a noise outage is measured from them.
            for n in noise.suffix(4096) where n.endNs >= t - WriteLog.lagNs - WriteLog.marginNs {
                edges.append(n.startNs)
                edges.append(n.endNs)
            }
            writes.fold(now: t, edges: edges, durableLimit: limit)
        }
        return id
    }

    /// A write finished at `t`: acknowledged (`at` on `host`, or committed only locally), or
    /// failed or indeterminate with `error`.
    public func finishWrite(_ id: UInt32, _ outcome: WriteOutcome, error: WriteError, host: Int16 = -1, at: WalPosition = .none, _ t: Nanos) {
        var w = writes[Int(id)]
        w.doneNs = t
        w.outcome = outcome
        w.error = error
        if outcome == .ok {
            w.committedHost = host
            w.committedAt = at
        }
        writes[Int(id)] = w
        tally.add(w, at: t)
        if outcome == .ok && at != .none {
            if t > lastAck.doneNs {
                ackBefore = lastAck.at
                lastAck = (t, id, at)
            } else if id > lastAck.id {
                lastAck = (t, id, at)
            }
        }
    }

    /// The position of the latest write acknowledged before `t` (what a read sent at `t`
    /// must see).
    public func latestAck(before t: Nanos) -> WalPosition { lastAck.doneNs < t ? lastAck.at : ackBefore }
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
    public var noise: [NoiseRecord]
    public var noiseDropped: Int
    public var timeline: Timeline
    /// The writes kept in full, in id order (every write when folding was off).
    public var keptWrites: [WriteRecord]
    /// The writes folded into counts (see `WriteSpan`), in id order.
    public var writeSpans: [WriteSpan]
    /// Every write, counted per time bucket for the chart.
    public var writeTally: WriteTally
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
        noise = recorder.noise
        noiseDropped = recorder.noiseDropped
        timeline = recorder.timeline
        (keptWrites, writeSpans) = recorder.writes.finished()
        writeTally = recorder.tally.finished(pending: keptWrites.reduce(0) { $0 + ($1.outcome == .pending ? 1 : 0) })
        reads = recorder.reads
        self.forks = forks
        violations = recorder.violations
        counters = recorder.counters.keys.sorted().map { ($0, recorder.counters[$0]!) }
        self.finalPg = finalPg
        self.aborted = aborted
    }

    /// How many writes the run made.
    public var writeCount: Int { keptWrites.count + writeSpans.reduce(0) { $0 + Int($1.count) } }
    public var hasWrites: Bool { !keptWrites.isEmpty || !writeSpans.isEmpty }

    /// Whether the history ending at `end` contains a span's writes: all (true), none
    /// (false), or only some (nil: a span was folded that could still be lost, a defect
    /// the analysis reports).
    public func contains(_ sp: WriteSpan, endingAt end: WalPosition) -> Bool? {
        let first = history(endingAt: end, contains: WalPosition(fork: sp.fork, lsn: sp.minLsn))
        let last = history(endingAt: end, contains: WalPosition(fork: sp.fork, lsn: sp.maxLsn))
        return first == last ? first : nil
    }

    /// How many of a span's writes the history ending at `end` lacks (all of them when only
    /// some are there: never fewer lost than there are).
    public func lostCount(_ sp: WriteSpan, finalEnd end: WalPosition) -> Int {
        contains(sp, endingAt: end) == true ? 0 : Int(sp.count)
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
