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
            case .none, .syncWaitCancelled: .other
            }
        }
    }

    public static let maxBuckets = 600
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

    public static func of(_ run: RunRecord, lostIds: [UInt32]) -> WriteSeries {
        var s = WriteSeries()
        let dur = max(run.durationNs, 1)
        s.bucketNs = max(Time.s, (dur + Nanos(maxBuckets) - 1) / Nanos(maxBuckets) / Time.s * Time.s)
        let n = Int((dur + s.bucketNs - 1) / s.bucketNs)
        s.acked = Array(repeating: 0, count: n)
        s.failed = Cause.allCases.map { _ in Array(repeating: 0, count: n) }
        s.indeterminate = Array(repeating: 0, count: n)
        s.blocked = Array(repeating: 0, count: n)
        var lat = Array(repeating: [Int32](), count: n)
        func bucket(_ t: Nanos) -> Int { min(n - 1, max(0, Int(t / s.bucketNs))) }
        let lost = Set(lostIds)
        for w in run.writes {
            let end = w.doneNs >= 0 ? w.doneNs : run.durationNs
            let b = bucket(end)
            switch w.outcome {
            case .ok:
                s.acked[b] += 1
                let us = Int32(clamping: (w.doneNs - w.sentNs) / Time.us)
                lat[b].append(us)
                if w.doneNs - w.sentNs > Analyzer.stallNs { s.blocked[b] += 1 }
                if lost.contains(w.id), s.lostAtNs.count < maxMarks { s.lostAtNs.append(w.doneNs) }
            case .failed:
                s.failed[Cause.of(w.error).rawValue][b] += 1
            case .indeterminate, .pending:
                s.indeterminate[b] += 1
                if s.indeterminateAtNs.count < maxMarks { s.indeterminateAtNs.append(end) }
            }
        }
        s.p50Us = lat.map { l in l.isEmpty ? 0 : l.sorted()[l.count / 2] }
        s.maxUs = lat.map { $0.max() ?? 0 }
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
