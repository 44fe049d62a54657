import SimCore
import Recording
import Scenario

/// Which history is authoritative at the end, which acknowledged writes it lacks, why, and
/// whether Patroni broke synchronous replication's promise on the way.
extension Analyzer {
    struct FinalHistory {
        var host: String?
        var end: WalPosition?
        /// Set when no instance runs as primary at the end: how the history was chosen.
        var note: String?
    }

    /// The instance whose history is authoritative at the end: the one running as primary (a
    /// frozen one does not count: it accepts nothing until it resumes, and then it is
    /// demoted); of several, the leader-key holder. With none running as primary: the last
    /// leader-key holder if its data survives, else the most advanced surviving copy (the
    /// highest timeline, then the most WAL): what an operator would promote.
    static func finalHistory(_ run: RunRecord) -> FinalHistory {
        let holder = leaderKeyHolders(run).last?.holder
        let primaries = run.finalPg.filter { $0.primary && $0.running }
        func end(_ h: String) -> WalPosition? { run.finalPg.first { $0.host == h }?.flushed }
        if primaries.count == 1 { return FinalHistory(host: primaries[0].host, end: primaries[0].flushed) }
        if let h = holder, primaries.contains(where: { $0.host == h }) { return FinalHistory(host: h, end: end(h)) }
        if let p = primaries.first { return FinalHistory(host: p.host, end: p.flushed) }
        let surviving = run.finalPg.filter { $0.flushed != .none }
        if let h = holder, let e = end(h), e != .none {
            return FinalHistory(host: h, end: e, note: "no primary at the end; measured against \(h)'s history (the last leader-key holder)")
        }
        guard let best = surviving.max(by: { ($0.timeline, $0.flushed.lsn) < ($1.timeline, $1.flushed.lsn) }) else {
            return FinalHistory(host: holder, end: nil, note: "no primary and no surviving data at the end")
        }
        return FinalHistory(host: best.host, end: best.flushed,
                            note: "no primary at the end\(holder.map { " and \($0)'s data is gone" } ?? ""); measured against \(best.host)'s history (the most advanced surviving copy)")
    }

    static func rpo(_ run: RunRecord, final: FinalHistory) -> RPO? {
        if !run.hasWrites { return nil }
        var lost: [WriteRecord] = []
        for w in run.keptWrites where w.outcome == .ok {
            if w.committedAt == .none || final.end == nil || !run.history(endingAt: final.end!, contains: w.committedAt) { lost.append(w) }
        }
        // Folded writes were durable on every server: only the loss of every copy loses them.
        let lostSpans = run.writeSpans.filter { sp in final.end.map { run.lostCount(sp, finalEnd: $0) > 0 } ?? true }
        let spanCount = lostSpans.reduce(0) { $0 + Int($1.count) }
        var ids = lost.prefix(20).map(\.id)
        for sp in lostSpans { ids += (sp.firstId..<(sp.firstId + min(sp.count, 20))) }
        var r = RPO(lostWrites: lost.count + spanCount, lostBytes: lost.reduce(0) { $0 + Int64($1.bytes) } + lostSpans.reduce(0) { $0 + $1.bytes },
                    windowNs: 0, lostIds: Array(ids.sorted().prefix(20)), finalPrimary: final.host)
        r.measuredAgainst = final.note
        r.lostLocalOnly = lost.filter { $0.error == .syncWaitCancelled }.count
        if let first = (lost.map(\.doneNs) + lostSpans.map(\.minDoneNs)).min(), let last = (lost.map(\.doneNs) + lostSpans.map(\.maxDoneNs)).max() {
            let nextFault = run.faults.filter { $0.disrupts && $0.startNs >= first }.map(\.startNs).min()
            r.windowNs = max(last, nextFault ?? last) - first
        }
        r.causes = lossCauses(run, lost, spans: lostSpans, final)
        return r
    }

    /// One line per way the lost writes were lost, with counts, from the WAL histories and the
    /// timeline: where the final history left the lost writes' history (a promotion, a
    /// crash that lost unflushed WAL), cancelled synchronous waits, destroyed data.
    static func lossCauses(_ run: RunRecord, _ lost: [WriteRecord], spans: [WriteSpan], _ final: FinalHistory) -> [String] {
        guard !lost.isEmpty || !spans.isEmpty else { return [] }
        let folded = spans.reduce(0) { $0 + Int($1.count) }
        var out: [String] = []
        if let n = final.note { out.append(n) }
        if let end = final.end {
            out += branchCauses(run, lost, end)
            if folded > 0 { out.append("\(folded) acknowledged write(s) were counted as safe before they were lost (a simctl defect: see the write_log violation)") }
        } else {
            out.append("\(lost.count + folded) acknowledged write(s) have no surviving copy")
        }
        out += destroyedData(run, since: (lost.map(\.sentNs) + spans.map(\.minSentNs)).min() ?? 0)
        return out
    }

    /// Folded writes are safe by construction (`WriteSpan`); one the final history holds only
    /// in part was folded too early: a defect in simctl, reported rather than hidden.
    static func writeLogViolations(_ run: RunRecord, final: FinalHistory) -> [Violation] {
        guard let end = final.end else { return [] }
        let bad = run.writeSpans.filter { run.contains($0, endingAt: end) != true }
        guard let first = bad.first else { return [] }
        return [Violation(timeNs: first.minDoneNs, kind: "write_log",
                          detail: "\(bad.count) span(s) of writes counted as durable everywhere are missing from the final history (the first acknowledged at \(TextClock.clock(first.minDoneNs)))")]
    }

    static func branchCauses(_ run: RunRecord, _ lost: [WriteRecord], _ end: WalPosition) -> [String] {
        var out: [String] = []
        let lineage = run.lineage(end)
        // Group by where the final history parted from the write's history.
        var groups: [String: (count: Int, local: Int, order: Nanos)] = [:]
        for w in lost where w.committedAt != .none {
            let key: (String, Nanos)
            if let i = lineage.firstIndex(where: { $0.fork == w.committedAt.fork }) {
                // The final history contains this fork only up to `limit`: the fork after it in
                // the lineage branched there.
                let limit = lineage[i].limit
                if i > 0, let child = run.forks.first(where: { Int($0.id) == Int(lineage[i - 1].fork) }) {
                    key = (branchText(run, child, at: limit), child.createdNs)
                } else {
                    key = ("committed after \(LSN.format(limit)) on timeline \(run.forks.first { $0.id == w.committedAt.fork }?.timeline ?? 0), where the final history ends", .max)
                }
            } else if let f = run.forks.first(where: { $0.id == w.committedAt.fork }) {
                key = ("committed on timeline \(f.timeline) of \(f.host) (from \(TextClock.clock(f.createdNs))), a history that was abandoned", f.createdNs)
            } else {
                key = ("their history is unknown", .max)
            }
            groups[key.0, default: (0, 0, key.1)].count += 1
            if w.error == .syncWaitCancelled { groups[key.0]!.local += 1 }
        }
        for (text, g) in groups.sorted(by: { ($0.value.order, $0.key) < ($1.value.order, $1.key) }) {
            var line = "\(g.count) \(text)"
            if g.local > 0 {
                line += "; \(g.local == g.count ? "all" : "\(g.local)") acknowledged with a WARNING after the client cancelled their synchronous-replication wait (committed locally only, never replicated: PostgreSQL's documented behaviour, syncrep.c)"
            }
            out.append(line)
        }
        return out
    }

    /// Data destroyed after `since`: lost disks, data directories removed for a base backup,
    /// WAL discarded by pg_rewind.
    static func destroyedData(_ run: RunRecord, since first: Nanos) -> [String] {
        var out: [String] = []
        var seen: Set<String> = []
        for e in run.timeline where e.timeNs >= first {
            let what: String
            if e.kind == Kind.pgState && e.detail["state"]?.stringValue == "data directory lost" {
                what = "\(e.host) lost its data directory"
            } else if e.kind == Kind.pgState && e.detail["state"]?.stringValue == "data directory removed" {
                what = "\(e.host)'s data directory was removed for a \(e.detail["why"]?.stringValue ?? "base backup")"
            } else if e.kind == "wal_discarded" {
                what = "pg_rewind discarded \(e.host)'s WAL after \(LSN.format(e.detail["from_lsn"]?.intValue ?? 0))"
            } else { continue }
            if seen.insert(what).inserted { out.append("\(what) at \(TextClock.clock(e.timeNs))") }
        }
        return out
    }

    /// How the history `child` branched off at `lsn`: a promotion or a crash.
    static func branchText(_ run: RunRecord, _ child: ForkInfo, at lsn: Int64) -> String {
        let parentTL = child.parent.flatMap { p in run.forks.first { $0.id == p } }?.timeline ?? 0
        if child.timeline > parentTL {
            let manual = run.timeline.last { $0.timeNs <= child.createdNs && $0.kind == "failover" && $0.detail["candidate"]?.stringValue == child.host }
            var s = "committed on timeline \(parentTL) after \(LSN.format(lsn)), where \(child.host) was promoted to timeline \(child.timeline) at \(TextClock.clock(child.createdNs))"
            if let m = manual, m.detail["async_candidate"]?.boolValue == true {
                s += " (the operator's failover to \(child.host), an asynchronous candidate: Patroni allows a failover, unlike a switchover, to a node that is not a synchronous standby)"
            }
            return s
        }
        return "acknowledged before they were flushed (synchronous_commit off) and lost when \(child.host) crashed at \(TextClock.clock(child.createdNs)) (its WAL after \(LSN.format(lsn)))"
    }

    /// Patroni's promise in synchronous mode: it never promotes a standby that lacks a commit
    /// the synchronous standbys confirmed as flushed (docs/replication_modes.rst). Checked at
    /// every promotion against every such commit acknowledged before the promotion began. An
    /// operator's failover to an asynchronous candidate is the one allowed exception.
    static func syncPromotionViolations(_ run: RunRecord) -> [Violation] {
        let confirmed = run.keptWrites.filter { $0.outcome == .ok && $0.syncConfirmed && $0.committedAt != .none }
        let confirmedSpans = run.writeSpans.filter(\.syncConfirmed)
        guard !confirmed.isEmpty || !confirmedSpans.isEmpty else { return [] }
        var out: [Violation] = []
        for child in run.forks {
            guard let pid = child.parent, let parent = run.forks.first(where: { $0.id == pid }), child.timeline > parent.timeline else { continue }
            let began = run.timeline.last { $0.timeNs <= child.createdNs && $0.host == child.host && $0.kind == Kind.pgState && $0.detail["state"]?.stringValue == "promoting" }?.timeNs ?? child.createdNs
            let manual = run.timeline.last { $0.timeNs <= child.createdNs && $0.kind == "failover" && $0.detail["candidate"]?.stringValue == child.host }
            if manual?.detail["async_candidate"]?.boolValue == true { continue }
            let base = WalPosition(fork: pid, lsn: child.switchLsn)
            let missing = confirmed.filter { $0.doneNs < began && !run.history(endingAt: base, contains: $0.committedAt) }
            // A span was durable on every server, the promoted one too, so it is in the base;
            // counted whole if not (the write_log violation says why).
            let missingSpans = confirmedSpans.filter { $0.minDoneNs < began && run.contains($0, endingAt: base) != true }
            let lastDone = (missing.map(\.doneNs) + missingSpans.map(\.maxDoneNs)).max()
            if let last = lastDone {
                let n = missing.count + missingSpans.reduce(0) { $0 + Int($1.count) }
                out.append(Violation(timeNs: child.createdNs, kind: "sync_commit_lost",
                                     detail: "\(child.host) was promoted to timeline \(child.timeline) without \(n) commit(s) that synchronous standbys had confirmed (the last acknowledged at \(TextClock.clock(last)))"))
            }
        }
        return out
    }

    /// Lost writes acknowledged during any split-brain interval.
    static func losingAcks(_ run: RunRecord, _ sb: SplitBrain, end: WalPosition) -> Int {
        let intervals = sb.kinds.flatMap(\.intervals).map { ($0.startNs, $0.endNs) }
        guard !intervals.isEmpty else { return 0 }
        var n = 0
        for w in run.keptWrites where w.outcome == .ok && intervals.contains(where: { w.doneNs >= $0.0 && w.doneNs <= $0.1 }) {
            if w.committedAt == .none || !run.history(endingAt: end, contains: w.committedAt) { n += 1 }
        }
        for sp in run.writeSpans where intervals.contains(where: { sp.maxDoneNs >= $0.0 && sp.minDoneNs <= $0.1 }) { n += run.lostCount(sp, finalEnd: end) }
        return n
    }
}

/// `2m03.250s`, as the report prints times.
public enum TextClock {
    public static func clock(_ ns: Nanos) -> String {
        let ms = ns / Time.ms
        let m = ms / 60_000, sec = (ms / 1000) % 60, milli = ms % 1000
        func pad(_ v: Int64, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(m)m\(pad(sec, 2)).\(pad(milli, 3))s"
    }

    /// `2m30s`, `45s`: for an axis.
    public static func short(_ ns: Nanos) -> String {
        let s = ns / Time.s
        let m = s / 60, r = s % 60
        return m == 0 ? "\(r)s" : r == 0 ? "\(m)m" : "\(m)m\(r)s"
    }
}

extension Analyzer {
    /// The clients run one transaction at a time each (a closed loop, as an application's
    /// connection does): a rate above clients ÷ transaction time cannot be reached, and the run
    /// then models less traffic than asked for. Measured before the first disruptive fault.
    static func workloadNote(_ run: RunRecord, _ s: Scenario) -> String? {
        let rate = s.workload.rate
        guard rate > 0, s.workload.clients > 0 else { return nil }
        let from = Time.s
        let to = min(run.durationNs, run.faults.filter(\.disrupts).map(\.startNs).min() ?? run.durationNs)
        guard to - from >= 10 * Time.s else { return nil }
        var sent = 0, okCount = 0
        var latency: Nanos = 0
        for w in run.keptWrites where w.directHost < 0 && w.sentNs >= from && w.sentNs < to {
            sent += 1
            if w.outcome == .ok { okCount += 1; latency += w.doneNs - w.sentNs }
        }
        // A span does not straddle `from` (a second in) or a fault's start.
        for sp in run.writeSpans where sp.directHost < 0 && sp.minSentNs >= from && sp.maxSentNs < to {
            sent += Int(sp.count)
            okCount += Int(sp.count)
            latency += sp.latencyNs
        }
        let achieved = Double(sent) / Time.seconds(to - from)
        guard achieved < 0.9 * rate, okCount > 0 else { return nil }
        let perTxn = Double(latency) / Double(okCount)
        let ceiling = Double(s.workload.clients) * 1e9 / perTxn
        return "workload: \(String(trimmed: rate, decimals: 1)) writes/s were asked for, \(String(trimmed: achieved, decimals: 1))/s were sent: "
            + "each of the \(s.workload.clients) clients runs one transaction at a time and one took \(String(trimmed: perTxn / 1e6, decimals: 2)) ms here, "
            + "so at most ~\(String(trimmed: ceiling, decimals: 0))/s; raise workload.clients to reach the rate"
    }
}
