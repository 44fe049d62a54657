import SimCore
import Recording
import Scenario

/// Computes findings from a run's recorded history.
public enum Analyzer {
    /// A write through the front that took longer than this counts as part of an outage (a
    /// commit stuck waiting for a synchronous standby, a connection hanging on a dead primary).
    public static let stallNs: Nanos = WriteLog.stallNs

    public static func analyze(_ run: RunRecord, scenario: Scenario) -> Findings {
        var f = Findings()
        f.violations = run.violations
        f.writes = writeStats(run)
        let final = finalHistory(run)
        f.finalPrimary = final.host
        f.rto = rto(run)
        for i in f.rto.indices { explain(&f.rto[i], run, scenario) }
        f.rpo = rpo(run, final: final)
        f.splitBrain = splitBrain(run, finalPrimary: f.finalPrimary)
        if var sb = f.splitBrain, let fp = final.end {
            sb.losingAcks = losingAcks(run, sb, end: fp)
            f.splitBrain = sb
        }
        f.staleReads = staleReads(run)
        f.failover = failover(run)
        f.violations += syncPromotionViolations(run)
        f.violations += writeLogViolations(run, final: final)
        if let n = workloadNote(run, scenario) { f.notes.append(n) }
        f.noise = noise(run, scenario: scenario, findings: f)
        f.expectations = Expectations.evaluate(scenario.expectations, f, run)
        return f
    }

    static func writeStats(_ run: RunRecord) -> WriteStats? {
        if !run.hasWrites { return nil }
        // Folded writes are acknowledged promptly (see `WriteSpan`).
        var s = WriteStats(total: run.writeCount, ok: run.writeSpans.reduce(0) { $0 + Int($1.count) }, failed: 0, indeterminate: 0)
        for w in run.keptWrites {
            switch w.outcome {
            case .ok:
                s.ok += 1
                if w.doneNs - w.sentNs > stallNs { s.blocked += 1 }
            case .failed: s.failed += 1
            case .indeterminate, .pending: s.indeterminate += 1
            }
        }
        return s
    }

    struct KeyChange { var t: Nanos; var holder: String?; var cause: String }

    static func leaderKeyHolders(_ run: RunRecord) -> [KeyChange] {
        run.timeline.filter { $0.kind == Kind.leaderKey }.map {
            KeyChange(t: $0.timeNs, holder: $0.detail["holder"]?.stringValue, cause: $0.detail["cause"]?.stringValue ?? "")
        }
    }

    static func failover(_ run: RunRecord) -> Bool? {
        let holders = leaderKeyHolders(run).compactMap(\.holder)
        guard let first = holders.first else { return nil }
        return holders.contains { $0 != first }
    }

    // MARK: - RTO

    static func rto(_ run: RunRecord) -> [FaultRTO] {
        if !run.keptWrites.contains(where: { $0.directHost < 0 }) && !run.writeSpans.contains(where: { $0.directHost < 0 }) { return [] }
        let faults = run.faults.filter(\.disrupts).sorted { ($0.startNs, $0.index) < ($1.startNs, $1.index) }
        let keys = leaderKeyHolders(run)
        var out: [FaultRTO] = []
        for fault in faults {
            let t0 = fault.startNs
            // Faults that start at one instant share one outage: each gets it whole (the next
            // fault is the next one that starts later).
            let tNext = faults.first { $0.startNs > t0 }?.startNs ?? Nanos.max
            let firstAtInstant = faults.first { $0.startNs == t0 }!.index
            // A bad write belongs to the fault in force when it went bad (it failed, or had
            // waited `stallNs`): a write sent just before a crash and failed by it is the
            // crash's. No copies: runs hold hundreds of thousands of writes.
            let end = run.durationNs
            var firstBad: Nanos? = nil
            var wentBadAt = Nanos.max
            for w in run.keptWrites where w.directHost < 0 && w.sentNs < tNext && isBad(w, end: end) {
                let t = badTime(w, end: end)
                if t >= t0 && t < tNext {
                    firstBad = min(firstBad ?? w.sentNs, w.sentNs)
                    wentBadAt = min(wentBadAt, t)
                }
            }
            let oldPrimary = keys.last { $0.t <= t0 }?.holder
            var r = FaultRTO(faultIndex: fault.index, kind: fault.kind, atNs: t0, rtoNs: 0, outage: firstBad != nil,
                             phases: [], oldPrimary: oldPrimary, newPrimary: nil)
            r.outageStartNs = firstBad == nil ? nil : wentBadAt
            r.outageFirstSentNs = firstBad
            if firstAtInstant != fault.index { r.sameOutageAs = firstAtInstant }
            if let fb = firstBad {
                // Recovery: the first acknowledged write sent after the outage began and
                // acknowledged after writes went bad, even if a later fault has started by then
                // (the outage is still this fault's). A write sent just before the first bad one
                // and acknowledged before the fault is not a recovery from it: without the
                // second condition it made RTOs negative.
                var recovery: Nanos? = nil
                for w in run.keptWrites where w.directHost < 0 && w.outcome == .ok && w.sentNs >= fb && w.doneNs >= wentBadAt && !isBad(w, end: end) {
                    recovery = min(recovery ?? w.doneNs, w.doneNs)
                }
                // A span lies wholly before or after the first bad write (it is at least
                // `WriteLog.marginNs` from it): after, its first acknowledgement counts.
                for sp in run.writeSpans where sp.directHost < 0 && sp.minSentNs >= fb && sp.minDoneNs >= wentBadAt {
                    recovery = min(recovery ?? sp.minDoneNs, sp.minDoneNs)
                }
                r.rtoNs = recovery.map { $0 - t0 }
                r.phases = phases(run, t0: t0, end: recovery ?? end, recovered: recovery != nil, oldPrimary: oldPrimary, keys: keys, newPrimary: &r.newPrimary)
            }
            out.append(r)
        }
        return out
    }

    /// When a bad write went bad: its failure, or the moment it had waited `stallNs`,
    /// whichever came first (a commit that blocks and times out 30 s later was already part of
    /// the outage after a second).
    static func badTime(_ w: WriteRecord, end: Nanos) -> Nanos {
        switch w.outcome {
        case .ok, .pending: return w.sentNs + stallNs
        case .failed, .indeterminate: return min(w.doneNs >= 0 ? w.doneNs : end, w.sentNs + stallNs)
        }
    }

    /// A write that failed, or took longer than `stallNs`; one still pending at the end of the
    /// run counts only once it has waited that long (the run's end is not an outage).
    static func isBad(_ w: WriteRecord, end: Nanos) -> Bool {
        if w.outcome == .pending { return end - w.sentNs > stallNs }
        return w.outcome != .ok || w.doneNs - w.sentNs > stallNs
    }

    /// detection → election → promotion → traffic → clients, each ending at the first event of
    /// its kind after the previous one.
    static func phases(_ run: RunRecord, t0: Nanos, end: Nanos, recovered: Bool, oldPrimary: String?, keys: [KeyChange], newPrimary: inout String?) -> [FaultRTO.Phase] {
        var out: [FaultRTO.Phase] = []
        var last = t0
        func add(_ name: String, _ at: Nanos?, _ detail: String) {
            if let at, at >= last, at <= end {
                out.append(.init(name: name, atNs: at, durationNs: at - last, detail: detail))
                last = at
            } else {
                out.append(.init(name: name, atNs: nil, durationNs: nil, detail: detail))
            }
        }
        // Detection: the old primary's key is gone (expired or released), or its Patroni
        // demoted it (a crash taking PostgreSQL down is the fault, not its detection).
        let keyGone = keys.first { $0.t >= t0 && $0.holder != oldPrimary }
        let demoted = run.timeline.first { $0.timeNs >= t0 && $0.kind == Kind.demote && $0.host == oldPrimary }
        let detection = [keyGone?.t, demoted?.timeNs].compactMap { $0 }.min()
        let detDetail: String
        if let kg = keyGone, kg.t == detection { detDetail = "leader key of \(oldPrimary ?? "?") \(kg.holder == nil ? kg.cause : "taken over")" } else { detDetail = "\(oldPrimary ?? "?") demoted" }
        add("detection", detection, detection == nil ? "old primary's key not lost" : detDetail)
        // Election: a new holder takes the key.
        let elected = keys.first { $0.t >= (detection ?? t0) && $0.holder != nil && $0.holder != oldPrimary }
            ?? keys.first { $0.t >= (detection ?? t0) && $0.holder != nil }
        newPrimary = elected?.holder
        add("election", elected?.t, elected.map { "\($0.holder!) took the leader key" } ?? "no new leader")
        // Promotion finished on the new holder.
        let promoted = newPrimary.flatMap { np in
            run.timeline.first { $0.timeNs >= (elected?.t ?? t0) && $0.host == np && $0.kind == Kind.pgWritable && $0.detail["writable"]?.boolValue == true }
        }
        add("promotion", promoted?.timeNs, promoted == nil ? "no promotion" : "\(newPrimary!) accepts writes")
        // Traffic: the front routes to the new primary.
        let routed = newPrimary.flatMap { np in
            run.timeline.first { $0.timeNs >= (promoted?.timeNs ?? elected?.timeNsOrZero ?? t0) && $0.kind == Kind.serverState
                && $0.detail["backend"]?.stringValue == "write" && $0.detail["server"]?.stringValue == np && $0.detail["up"]?.boolValue == true }
                ?? run.timeline.first { $0.timeNs >= t0 && $0.kind == Kind.serverState && $0.detail["backend"]?.stringValue == "write"
                    && $0.detail["server"]?.stringValue == np && $0.detail["up"]?.boolValue == true }
        }
        add("traffic", routed?.timeNs, routed.map { "\($0.host) routes writes to \(newPrimary!)" } ?? "front not switched")
        if recovered {
            add("clients", end, "first acknowledged write")
        } else {
            add("clients", nil, "no acknowledged write by the end of the run")
        }
        return out
    }

    // MARK: - Split brain

    static func splitBrain(_ run: RunRecord, finalPrimary: String?) -> SplitBrain? {
        var kinds: [SplitBrain.Kind] = []
        let writable = run.timeline.filter { $0.kind == Kind.pgWritable }
        if !writable.isEmpty || !run.finalPg.isEmpty {
            let toggles = writable.map { ($0.timeNs, $0.host, $0.detail["writable"]?.boolValue ?? false) }
            kinds.append(overlap(name: "writable", toggles: toggles, end: run.durationNs, what: "PostgreSQL instances writable"))
        }
        let servers = run.timeline.filter { $0.kind == Kind.serverState && $0.detail["backend"]?.stringValue == "write" }
        if !servers.isEmpty {
            // Per load balancer: two servers UP in its write backend at once.
            var merged = SplitBrain.Kind(name: "backend", totalNs: 0, intervals: [], losingAcks: nil)
            for inst in Set(servers.map(\.host)).sorted() {
                let toggles = servers.filter { $0.host == inst }.map { ($0.timeNs, $0.detail["server"]?.stringValue ?? "", $0.detail["up"]?.boolValue ?? false) }
                let k = overlap(name: "backend", toggles: toggles, end: run.durationNs, what: "servers UP in \(inst)'s write backend")
                merged.totalNs = max(merged.totalNs, k.totalNs)
                merged.intervals += k.intervals
            }
            kinds.append(merged)
        }
        if run.hasWrites { kinds.append(timelineOverlap(run, finalPrimary: finalPrimary)) }
        return kinds.isEmpty ? nil : SplitBrain(kinds: kinds)
    }

    /// Intervals in which two or more keys are "on", from a list of on/off toggles.
    static func overlap(name: String, toggles: [(Nanos, String, Bool)], end: Nanos, what: String) -> SplitBrain.Kind {
        var on: [String: Bool] = [:]
        var k = SplitBrain.Kind(name: name, totalNs: 0, intervals: [], losingAcks: nil)
        var start: Nanos? = nil
        var members = ""
        let sorted = toggles.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element)
        var i = 0
        while i < sorted.count {
            let t = sorted[i].0
            // Apply every toggle at this instant before judging (a hand-over at one instant is
            // not an overlap).
            while i < sorted.count && sorted[i].0 == t {
                on[sorted[i].1] = sorted[i].2
                i += 1
            }
            let active = on.filter(\.value).map(\.key).sorted()
            if active.count >= 2 && start == nil { start = t; members = active.joined(separator: "+") }
            if active.count < 2, let s = start {
                k.intervals.append((s, t, "\(members): \(what)"))
                k.totalNs += t - s
                start = nil
            }
        }
        if let s = start {
            k.intervals.append((s, end, "\(members): \(what) (until the end)"))
            k.totalNs += end - s
        }
        return k
    }

    /// Two histories acknowledging client writes at once: per fork, the span from its first to
    /// its last acknowledged write; overlapping spans of different forks are split brain, and the
    /// acknowledged writes of the fork that is not in the final history are the losing side.
    static func timelineOverlap(_ run: RunRecord, finalPrimary: String?) -> SplitBrain.Kind {
        var k = SplitBrain.Kind(name: "timelines", totalNs: 0, intervals: [], losingAcks: 0)
        var spans: [UInt32: (Nanos, Nanos)] = [:]
        func add(_ f: UInt32, _ first: Nanos, _ last: Nanos) {
            if let s = spans[f] { spans[f] = (min(s.0, first), max(s.1, last)) } else { spans[f] = (first, last) }
        }
        for w in run.keptWrites where w.outcome == .ok && w.committedAt != .none { add(w.committedAt.fork, w.doneNs, w.doneNs) }
        for sp in run.writeSpans { add(sp.fork, sp.minDoneNs, sp.maxDoneNs) }
        let end = finalPrimary.flatMap { fp in run.finalPg.first { $0.host == fp }?.flushed }
        let forks = spans.keys.sorted()
        var losing = 0
        for (i, a) in forks.enumerated() {
            for b in forks[(i + 1)...] {
                let sa = spans[a]!, sb = spans[b]!
                let s = max(sa.0, sb.0), e = min(sa.1, sb.1)
                guard s < e else { continue }
                // The losing side: acknowledged writes inside the overlap that the final
                // history does not contain.
                let inside = run.keptWrites.filter { $0.outcome == .ok && ($0.committedAt.fork == a || $0.committedAt.fork == b) && $0.doneNs >= s && $0.doneNs <= e }
                var lost = end.map { en in inside.filter { !run.history(endingAt: en, contains: $0.committedAt) }.count } ?? 0
                if let en = end {
                    for sp in run.writeSpans where (sp.fork == a || sp.fork == b) && sp.maxDoneNs >= s && sp.minDoneNs <= e { lost += run.lostCount(sp, finalEnd: en) }
                }
                losing += lost
                let tla = run.forks.indices.contains(Int(a)) ? run.forks[Int(a)].timeline : 0
                let tlb = run.forks.indices.contains(Int(b)) ? run.forks[Int(b)].timeline : 0
                k.intervals.append((s, e, "timelines \(tla) and \(tlb) both acknowledged writes; \(lost) on the losing side"))
                k.totalNs += e - s
            }
        }
        k.losingAcks = losing
        return k
    }

    // MARK: - Stale reads

    static func staleReads(_ run: RunRecord) -> StaleReads? {
        if run.reads.isEmpty { return nil }
        // Each read carries the latest write acknowledged before it was sent.
        let stale = run.reads.filter { $0.ok && $0.mustSee != .none && !run.history(endingAt: $0.servedAt, contains: $0.mustSee) }.count
        return StaleReads(reads: run.reads.count, stale: stale)
    }
}

extension Analyzer.KeyChange {
    var timeNsOrZero: Nanos { t }
}
