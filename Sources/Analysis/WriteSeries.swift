import SimCore
import Recording

/// The clients' writes second by second (or in coarser buckets for long runs, at most
/// `maxBuckets`): what the report's client lane draws and the store keeps.
public struct WriteSeries: Sendable, Equatable {
    /// Why a write failed, in libpq's terms grouped for a chart.
    public enum Cause: Int, Sendable, CaseIterable {
        case refused, timeout, readOnly, reset, unavailable, other
        public var label: String {
            switch self {
            case .refused: "connection refused"
            case .timeout: "timeout"
            case .readOnly: "read-only"
            case .reset: "connection reset"
            case .unavailable: "server starting or stopping"
            case .other: "other"
            }
        }
        public var key: String {
            switch self {
            case .refused: "refused"
            case .timeout: "timeout"
            case .readOnly: "read_only"
            case .reset: "reset"
            case .unavailable: "unavailable"
            case .other: "other"
            }
        }
        static func of(_ e: WriteError) -> Cause {
            switch e {
            case .connectionRefused: .refused
            case .connectTimeout, .queryTimedOut: .timeout
            case .readOnly: .readOnly
            case .serverClosed: .reset
            case .startingUp, .shuttingDown: .unavailable
            case .none, .syncWaitCancelled, .clientKilled: .other
            }
        }
    }

    public static let maxBuckets = WriteTally.maxBuckets
    /// Marks kept per kind (lost, indeterminate): enough to see where they happened.
    public static let maxMarks = 2000

    public var bucketNs: Nanos = Time.s
    public var acked: [Int32] = []
    /// Per cause (indexed by `Cause.rawValue`), failed writes per bucket (by when they failed).
    public var failed: [[Int32]] = Cause.allCases.map { _ in [] }
    public var indeterminate: [Int32] = []
    /// Acknowledged after more than the outage threshold.
    public var blocked: [Int32] = []
    /// Latency of the writes acknowledged in each bucket: median and maximum, in microseconds.
    public var p50Us: [Int32] = []
    public var maxUs: [Int32] = []
    /// When lost writes were acknowledged, and when indeterminate writes ended.
    public var lostAtNs: [Nanos] = []
    public var indeterminateAtNs: [Nanos] = []

    public init() {}

    public var count: Int { acked.count }

    /// The run's tally, with marks where lost writes were acknowledged and indeterminate ones
    /// ended (those are never folded: `WriteSpan`).
    public static func of(_ run: RunRecord, lostIds: [UInt32]) -> WriteSeries {
        var s = WriteSeries()
        let t = run.writeTally
        s.bucketNs = t.bucketNs
        s.acked = t.acked
        s.failed = Cause.allCases.map { _ in Array(repeating: 0, count: t.buckets) }
        for e in t.failed.indices {
            let cause = Cause.of(WriteError(rawValue: UInt8(e))!).rawValue
            for b in 0..<t.buckets { s.failed[cause][b] += t.failed[e][b] }
        }
        s.indeterminate = t.indeterminate
        s.blocked = t.blocked
        s.p50Us = t.p50Us
        s.maxUs = t.maxUs
        let lost = Set(lostIds)
        for w in run.keptWrites {
            switch w.outcome {
            case .ok:
                if lost.contains(w.id), s.lostAtNs.count < maxMarks { s.lostAtNs.append(w.doneNs) }
            case .failed: break
            case .indeterminate, .pending:
                if s.indeterminateAtNs.count < maxMarks { s.indeterminateAtNs.append(w.doneNs >= 0 ? w.doneNs : run.durationNs) }
            }
        }
        return s
    }

    public var document: JSON {
        func ints(_ a: [Int32]) -> JSON { .array(a.map { .int(Int64($0)) }) }
        return .object([
            ("bucket_ns", .int(bucketNs)),
            ("acked", ints(acked)),
            ("failed", .object(Cause.allCases.map { ($0.key, ints(failed[$0.rawValue])) })),
            ("indeterminate", ints(indeterminate)),
            ("blocked", ints(blocked)),
            ("p50_us", ints(p50Us)),
            ("max_us", ints(maxUs)),
            ("lost_at_ns", .array(lostAtNs.map { .int($0) })),
            ("indeterminate_at_ns", .array(indeterminateAtNs.map { .int($0) })),
        ])
    }

    public init(document d: JSON) {
        func ints(_ v: JSON?) -> [Int32] { (v?.arrayValue ?? []).map { Int32(clamping: $0.intValue ?? 0) } }
        bucketNs = d["bucket_ns"]?.intValue ?? Time.s
        acked = ints(d["acked"])
        failed = Cause.allCases.map { c in
            let a = ints(d["failed"]?[c.key])
            return a.isEmpty ? Array(repeating: 0, count: acked.count) : a
        }
        indeterminate = ints(d["indeterminate"])
        blocked = ints(d["blocked"])
        p50Us = ints(d["p50_us"])
        maxUs = ints(d["max_us"])
        lostAtNs = (d["lost_at_ns"]?.arrayValue ?? []).compactMap(\.intValue)
        indeterminateAtNs = (d["indeterminate_at_ns"]?.arrayValue ?? []).compactMap(\.intValue)
    }
}
