import SimCore

/// Consecutive writes (by id) that every finding needs only as a count: acknowledged promptly,
/// committed on one history at positions every server with data had flushed when they were
/// folded, and no write near them went wrong and no fault started or ended near them. Such a
/// write can no longer be lost (any future history branches at or after a server's flushed
/// WAL), is no outage's first bad or first good write, and lies wholly on one side of every
/// instant the analysis compares write times with, so a span answers each question exactly.
public struct WriteSpan: Sendable, Equatable {
    public var firstId: UInt32
    public var count: UInt32
    public var directHost: Int16
    public var committedHost: Int16
    public var syncConfirmed: Bool
    public var fork: UInt32
    public var minLsn: Int64
    public var maxLsn: Int64
    public var minSentNs: Nanos
    public var maxSentNs: Nanos
    public var minDoneNs: Nanos
    public var maxDoneNs: Nanos
    public var bytes: Int64
    /// The sum of the writes' latencies (done − sent).
    public var latencyNs: Nanos

    init(_ w: WriteRecord) {
        firstId = w.id
        count = 1
        directHost = w.directHost
        committedHost = w.committedHost
        syncConfirmed = w.syncConfirmed
        fork = w.committedAt.fork
        minLsn = w.committedAt.lsn
        maxLsn = w.committedAt.lsn
        minSentNs = w.sentNs
        maxSentNs = w.sentNs
        minDoneNs = w.doneNs
        maxDoneNs = w.doneNs
        bytes = Int64(w.bytes)
        latencyNs = w.doneNs - w.sentNs
    }

    func continues(with w: WriteRecord) -> Bool {
        w.id == firstId + count && w.directHost == directHost && w.committedHost == committedHost
            && w.syncConfirmed == syncConfirmed && w.committedAt.fork == fork
    }

    mutating func add(_ w: WriteRecord) {
        count += 1
        minLsn = min(minLsn, w.committedAt.lsn)
        maxLsn = max(maxLsn, w.committedAt.lsn)
        maxSentNs = max(maxSentNs, w.sentNs)
        minDoneNs = min(minDoneNs, w.doneNs)
        maxDoneNs = max(maxDoneNs, w.doneNs)
        bytes += Int64(w.bytes)
        latencyNs += w.doneNs - w.sentNs
    }
}

/// Every write a run made, addressed by id: the recent ones in full (`chunks`), older ones either
/// kept in full (`kept`: whatever went wrong, its neighbours, and writes near a fault's start
/// or end) or folded into `spans`. Memory then grows with what the findings need, not with the
/// horizon (a quiet hour at 5,000 writes/s is one span). Folding is off unless the owner
/// supplies `durableLimit`; with it off, every write stays in full (the per-write reference).
public struct WriteLog {
    /// A write is considered for folding once it is this old: by then every write sent up to
    /// `marginNs` after it has either finished or waited longer than `stallNs` (so is bad).
    public static let lagNs: Nanos = 10 * Time.s
    /// Writes this close (sent or done) to a bad write's send, or to a fault's start or end,
    /// stay in full. At least `stallNs`, so that a span lies wholly before or after an outage's
    /// first bad write and the moment it went bad.
    public static let marginNs: Nanos = 5 * Time.s
    /// The analysis's outage threshold: a write slower than this is bad (`Analyzer.stallNs`).
    public static let stallNs: Nanos = Time.s
    /// While writes wait to become durable everywhere (a server is down or behind), at most
    /// this many stay live; older ones are then kept in full (nothing is folded that could
    /// still be lost).
    public static let liveLimit = 1 << 20

    public private(set) var kept: [WriteRecord] = []
    public private(set) var spans: [WriteSpan] = []
    /// The live writes, in chunks of `chunkSize` (so that neither growing nor consuming them
    /// copies them all: a minutes-long wait for durability holds a million): chunk 0 starts
    /// at id `liveStart`.
    var chunks: [[WriteRecord]] = []
    var liveStart = 0
    static let chunkShift = 16
    static let chunkSize = 1 << chunkShift
    /// The id of the first live write not yet settled, and of the first one past the end.
    var headId = 0
    var endId = 0
    /// How far (an id) the look-ahead for bad writes has classified the live writes.
    var scan = 0
    /// Sends of not-plain writes (bad, or pending long enough to be bad) near the fold point,
    /// in id order.
    var badSends: [Nanos] = []
    var badFirst = 0
    var open: WriteSpan? = nil

    public init() {}

    /// Every id ever given out.
    public var count: Int { endId }
    public var isEmpty: Bool { count == 0 }

    mutating func append(_ w: WriteRecord) {
        if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkSize {
            chunks.append([])
            chunks[chunks.count - 1].reserveCapacity(Self.chunkSize)
        }
        chunks[chunks.count - 1].append(w)
        endId += 1
    }

    func live(_ id: Int) -> WriteRecord {
        let i = id - liveStart
        return chunks[i >> Self.chunkShift][i & (Self.chunkSize - 1)]
    }

    public subscript(id: Int) -> WriteRecord {
        get {
            if id >= headId { return live(id) }
            if let k = keptIndex(id) { return kept[k] }
            // Folded: what it was, as its span knows it.
            let s = spans[spanIndex(id)]
            var w = WriteRecord(id: UInt32(id), client: 0, directHost: s.directHost, sentNs: s.minSentNs, bytes: 0)
            w.outcome = .ok
            w.doneNs = s.minDoneNs
            w.committedHost = s.committedHost
            w.committedAt = WalPosition(fork: s.fork, lsn: s.minLsn)
            w.syncConfirmed = s.syncConfirmed
            return w
        }
        set {
            if id >= headId {
                let i = id - liveStart
                chunks[i >> Self.chunkShift][i & (Self.chunkSize - 1)] = newValue
            } else if let k = keptIndex(id) { kept[k] = newValue }
            // A folded write is final: nothing changes it any more.
        }
    }

    func keptIndex(_ id: Int) -> Int? {
        var lo = 0, hi = kept.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(kept[mid].id) < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < kept.count && Int(kept[lo].id) == id ? lo : nil
    }

    func spanIndex(_ id: Int) -> Int {
        var lo = 0, hi = spans.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if Int(spans[mid].firstId) <= id { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// A write every finding needs only as a count, if nothing near it says otherwise.
    static func isPlain(_ w: WriteRecord) -> Bool {
        w.outcome == .ok && w.error == .none && w.committedAt != .none && w.committedHost >= 0 && w.doneNs - w.sentNs <= stallNs
    }

    /// Folds what can be folded at `now`. `edges` are the instants write times are compared
    /// with (faults' starts and ends); `durableLimit(fork)` is the last position of that
    /// history every server with data has flushed (-1: not all have it).
    mutating func fold(now: Nanos, edges: [Nanos], durableLimit: (UInt32) -> Int64) {
        var cached: (fork: UInt32, limit: Int64)? = nil
        func nearEdge(_ t: Nanos) -> Bool { edges.contains { abs($0 - t) <= Self.marginNs } }
        while headId < endId {
            let w = live(headId)
            if w.outcome == .pending || now - w.sentNs < Self.lagNs { break }
            // Look ahead: every write sent up to `marginNs` after this one has finished or is bad.
            if scan < headId { scan = headId }
            while scan < endId {
                let x = live(scan)
                if x.sentNs > w.sentNs + Self.marginNs { break }
                if !Self.isPlain(x) { badSends.append(x.sentNs) }
                scan += 1
            }
            while badFirst < badSends.count && badSends[badFirst] < w.sentNs - Self.marginNs { badFirst += 1 }
            let nearBad = badFirst < badSends.count && badSends[badFirst] <= w.sentNs + Self.marginNs
            if Self.isPlain(w) && !nearBad && !nearEdge(w.sentNs) && !nearEdge(w.doneNs) {
                let f = w.committedAt.fork
                if cached?.fork != f { cached = (f, durableLimit(f)) }
                if w.committedAt.lsn <= cached!.limit {
                    if var s = open, s.continues(with: w), !edges.contains(where: { $0 > s.maxSentNs && $0 <= w.sentNs }) {
                        s.add(w)
                        open = s
                    } else {
                        closeSpan()
                        open = WriteSpan(w)
                    }
                    advance()
                    continue
                }
                // Not yet durable everywhere: wait for it, unless too many are waiting.
                if endId - headId < Self.liveLimit { break }
            }
            closeSpan()
            kept.append(w)
            advance()
        }
        if badFirst > 4096 && badFirst * 2 > badSends.count {
            badSends.removeFirst(badFirst)
            badFirst = 0
        }
        while headId - liveStart >= Self.chunkSize {
            chunks.removeFirst()
            liveStart += Self.chunkSize
        }
    }

    mutating func advance() { headId += 1 }

    mutating func closeSpan() {
        if let s = open { spans.append(s) }
        open = nil
    }

    /// What stays in full at the end (kept, then every live write), and the spans.
    func finished() -> (writes: [WriteRecord], spans: [WriteSpan]) {
        (kept + (headId..<endId).map { live($0) }, spans + (open.map { [$0] } ?? []))
    }
}

/// The clients' writes per time bucket, counted as each write finishes (in time order), so
/// that the chart needs no per-write record: at most `maxBuckets` buckets of at least a second.
public struct WriteTally: Sendable, Equatable {
    public static let maxBuckets = 600

    public let bucketNs: Nanos
    public private(set) var acked: [Int32]
    /// Failed writes per bucket, by `WriteError.rawValue`.
    public private(set) var failed: [[Int32]]
    public private(set) var indeterminate: [Int32]
    public private(set) var blocked: [Int32]
    /// Median and maximum latency of the acknowledged writes per bucket, in microseconds.
    public private(set) var p50Us: [Int32]
    public private(set) var maxUs: [Int32]
    var openBucket = 0
    var latencies: [Int32] = []

    public init(durationNs: Nanos) {
        let dur = max(durationNs, 1)
        bucketNs = max(Time.s, (dur + Nanos(Self.maxBuckets) - 1) / Nanos(Self.maxBuckets) / Time.s * Time.s)
        let n = Int((dur + bucketNs - 1) / bucketNs)
        acked = Array(repeating: 0, count: n)
        failed = Array(repeating: Array(repeating: 0, count: n), count: WriteError.allCases.count)
        indeterminate = acked
        blocked = acked
        p50Us = acked
        maxUs = acked
    }

    public var buckets: Int { acked.count }

    public func bucket(_ t: Nanos) -> Int { min(acked.count - 1, max(0, Int(t / bucketNs))) }

    /// A write finished at `t` (its `doneNs`); writes finish in time order.
    mutating func add(_ w: WriteRecord, at t: Nanos) {
        let b = bucket(t)
        if b != openBucket { closeBucket(); openBucket = b }
        switch w.outcome {
        case .ok:
            acked[b] += 1
            latencies.append(Int32(clamping: (w.doneNs - w.sentNs) / Time.us))
            if w.doneNs - w.sentNs > WriteLog.stallNs { blocked[b] += 1 }
        case .failed: failed[Int(w.error.rawValue)][b] += 1
        case .indeterminate, .pending: indeterminate[b] += 1
        }
    }

    mutating func closeBucket() {
        guard !latencies.isEmpty else { return }
        latencies.sort()
        p50Us[openBucket] = latencies[latencies.count / 2]
        maxUs[openBucket] = latencies.last!
        latencies.removeAll(keepingCapacity: true)
    }

    /// The tally at the end: writes still pending count as indeterminate in the last bucket.
    func finished(pending: Int) -> WriteTally {
        var t = self
        t.closeBucket()
        if pending > 0 { t.indeterminate[t.acked.count - 1] += Int32(pending) }
        return t
    }
}
