import SimCore
import Recording
import Scenario

/// What background noise cost a run: failovers and demotions with no injected fault in
/// force, and the write downtime and acknowledged writes they lost (issue 17).
public struct NoiseFindings: Sendable {
    /// What the outcomes of one stretch of the run add up to.
    public struct Outcome: Sendable, Equatable {
        /// The leader key changed hands (times).
        public var falseFailovers: [Nanos] = []
        /// A primary demoted (Patroni's `demote`), whether or not the key moved.
        public var demotions = 0
        /// The leader's cycle failed to update its lock ("failed to update leader lock",
        /// "DCS is not accessible"), counted per episode of failing cycles.
        public var leaderLockFailures = 0
        /// etcd leader elections.
        public var etcdElections = 0
        /// Write outages and their total length (first bad write to the first prompt
        /// acknowledgement after it).
        public var outages = 0
        public var downtimeNs: Nanos = 0
        /// Acknowledged writes lost at a false failover.
        public var lostWrites = 0
        public init() {}
    }
    /// Noise events in the run (including any past the record's limit).
    public var events: Int
    /// Per source name, in the scenario's order.
    public var byName: [(name: String, count: Int)]
    /// Simulated time with no injected fault in force (what direct rates are over).
    public var quietNs: Nanos
    /// Everything outside fault windows over the whole run.
    public var total: Outcome
    /// An episode's tagged event and what followed it until the next noise event started.
    public struct Episode: Sendable, Equatable {
        public var name: String
        public var target: String
        public var atNs: Nanos
        public var untilNs: Nanos
        /// Its length's importance weight (the estimate multiplies the outcome by it).
        public var weight: Double = 1
        public var outcome: Outcome
        /// Which source it came from (its stratum) and that source's rate over every target.
        public var source: Int = 0
        public var sourcePerYear: Double = 0
    }
    public var tagged: Episode?
    /// The configured noise rate over every source and target (events per year).
    public var eventsPerYear: Double
}

extension Analyzer {
    /// When each injected fault is in force: from its start to its end (or, without one, to
    /// the writes' recovery from it), plus one `ttl` for the leader key to settle and a minute
    /// for what an undone fault sets off (a host's 20 s boot, Patroni's start, a rewind and the
    /// old primary's demotion). Outcomes in these windows are the faults', not noise's.
    static func faultWindows(_ run: RunRecord, _ rto: [FaultRTO], ttlNs: Nanos) -> [(Nanos, Nanos)] {
        run.faults.map { f in
            let recovered = rto.first { $0.faultIndex == f.index }.flatMap { r in r.rtoNs.map { r.atNs + $0 } }
            var end = f.endNs ?? recovered ?? (f.disrupts ? run.durationNs : f.startNs)
            if let r = recovered { end = max(end, r) }
            return (f.startNs, end + ttlNs + Time.m)
        }
    }

    public static func noise(_ run: RunRecord, scenario: Scenario, findings f: Findings) -> NoiseFindings? {
        guard !scenario.noise.isEmpty else { return nil }
        let windows = faultWindows(run, f.rto, ttlNs: Nanos(scenario.patroni.ttl) * Time.s)
        func quiet(_ t: Nanos) -> Bool { !windows.contains { t >= $0.0 && t < $0.1 } }
        var inForce: Nanos = 0
        var last: Nanos = 0
        for (a, b) in windows.sorted(by: { $0.0 < $1.0 }) {
            let s = max(a, last), e = min(b, run.durationNs)
            if e > s { inForce += e - s }
            last = max(last, e)
        }
        let stamped = noiseOutcomes(run, f, quiet: quiet)
        func outcome(_ from: Nanos, _ to: Nanos) -> NoiseFindings.Outcome {
            var o = NoiseFindings.Outcome()
            for s in stamped where s.t >= from && s.t < to {
                switch s.what {
                case .failover(let lost):
                    o.falseFailovers.append(s.t)
                    o.lostWrites += lost
                case .demotion: o.demotions += 1
                case .lockFailure: o.leaderLockFailures += 1
                case .election: o.etcdElections += 1
                case .outage(let d):
                    o.outages += 1
                    o.downtimeNs += d
                }
            }
            return o
        }
        var tagged: NoiseFindings.Episode? = nil
        if let t = run.noise.first(where: \.tagged) {
            // Its outcome: what happens from its start until the next noise event starts
            // (that one's then), outside fault windows.
            let next = run.noise.first { !$0.tagged && $0.startNs > t.startNs }?.startNs ?? run.durationNs
            let perYear = t.source < scenario.noise.sources.count ? scenario.noise.sources[t.source].totalRatePerSecond * 365 * 86400 : 0
            tagged = NoiseFindings.Episode(name: t.name, target: t.target, atNs: t.startNs, untilNs: next, weight: t.weight,
                                           outcome: quiet(t.startNs) ? outcome(t.startNs, next) : NoiseFindings.Outcome(),
                                           source: t.source, sourcePerYear: perYear)
        }
        let names = scenario.noise.sources.map(\.name)
        var counts = Array(repeating: 0, count: names.count)
        for r in run.noise where r.source < counts.count { counts[r.source] += 1 }
        return NoiseFindings(events: run.noise.count + run.noiseDropped, byName: zip(names, counts).map { ($0, $1) },
                             quietNs: max(0, run.durationNs - inForce), total: outcome(0, Nanos.max), tagged: tagged,
                             eventsPerYear: scenario.noise.eventsPerYear)
    }

    enum NoiseEvent {
        case failover(lost: Int)
        case demotion, lockFailure, election
        case outage(Nanos)
    }

    /// Every noise-side outcome in the run, stamped with its time, outside fault windows.
    static func noiseOutcomes(_ run: RunRecord, _ f: Findings, quiet: (Nanos) -> Bool) -> [(t: Nanos, what: NoiseEvent)] {
        var out: [(t: Nanos, what: NoiseEvent)] = []
        let keys = leaderKeyHolders(run)
        // Leader-key changes of hands, and the acknowledged writes each one lost: a write
        // acknowledged by a primary that no longer held the key belongs to the change that took
        // it (the losing side of a split brain); any other to the first change after it.
        var changes: [Nanos] = []
        var holder: String? = nil
        for k in keys {
            guard let h = k.holder else { continue }
            if let old = holder, old != h { changes.append(k.t) }
            holder = h
        }
        var lostPer = Array(repeating: 0, count: changes.count)
        let final = finalHistory(run)
        if (f.rpo?.lostWrites ?? 0) > 0, !changes.isEmpty {
            for w in run.keptWrites where w.outcome == .ok {
                guard w.committedAt == .none || final.end == nil || !run.history(endingAt: final.end!, contains: w.committedAt) else { continue }
                let on = run.finalPg.indices.contains(Int(w.committedHost)) ? run.finalPg[Int(w.committedHost)].host : nil
                let held = keys.last { $0.t <= w.doneNs && $0.holder != nil }?.holder
                if let on, let held, on != held, let i = changes.lastIndex(where: { $0 <= w.doneNs }) {
                    lostPer[i] += 1
                } else if let i = changes.firstIndex(where: { $0 > w.doneNs }) {
                    lostPer[i] += 1
                }
            }
        }
        for (i, t) in changes.enumerated() where quiet(t) { out.append((t, .failover(lost: lostPer[i]))) }
        var firstElection = true
        var failing = false
        for e in run.timeline where e.kind == Kind.demote || e.kind == Kind.etcdLeader || e.kind == Kind.patroni {
            switch e.kind {
            case Kind.demote:
                guard quiet(e.timeNs) else { continue }
                out.append((e.timeNs, .demotion))
                // A primary that resumes after its key expired still believes it holds it: its
                // first cycle fails to update the lock and demotes (ha.py `update_lock`).
                if !failing, e.detail["why"]?.stringValue?.contains("failed to update leader lock") == true {
                    out.append((e.timeNs, .lockFailure))
                    failing = true
                }
            case Kind.etcdLeader:
                // The cluster's first election is its start, not a disturbance.
                if !firstElection && quiet(e.timeNs) { out.append((e.timeNs, .election)) }
                firstElection = false
            default:
                // The lock holder's cycle messages: a failing one after good ones starts an
                // episode of leader-lock failures.
                let held = keys.last { $0.t <= e.timeNs }?.holder
                guard e.host == held, let msg = e.detail["msg"]?.stringValue else { continue }
                let bad = msg.contains("failed to update leader lock") || msg.contains("DCS is not accessible")
                if bad && !failing && quiet(e.timeNs) { out.append((e.timeNs, .lockFailure)) }
                failing = bad
            }
        }
        for (start, length) in writeOutages(run) where quiet(start) { out.append((start, .outage(length))) }
        return out.sorted { $0.t < $1.t }
    }

    /// Write outages through the front: from the moment a write went bad to the first prompt
    /// acknowledgement of a write sent after the first bad one (the RTO rule, without a fault).
    static func writeOutages(_ run: RunRecord) -> [(Nanos, Nanos)] {
        let end = run.durationNs
        let bad = run.keptWrites.filter { $0.directHost < 0 && isBad($0, end: end) }.map { (sent: $0.sentNs, at: badTime($0, end: end)) }
            .sorted { $0.at < $1.at }
        guard !bad.isEmpty else { return [] }
        // Prompt acknowledgements, by when they were acknowledged.
        var good = run.keptWrites.filter { $0.directHost < 0 && $0.outcome == .ok && !isBad($0, end: end) }.map { (sent: $0.sentNs, done: $0.doneNs) }
        good += run.writeSpans.filter { $0.directHost < 0 }.map { (sent: $0.minSentNs, done: $0.minDoneNs) }
        good.sort { $0.done < $1.done }
        // The first prompt acknowledgement at or after `from` of a write sent at or after `sent`.
        func firstGood(sent: Nanos, from: Nanos) -> Nanos? {
            var lo = 0, hi = good.count
            while lo < hi { let m = (lo + hi) / 2; if good[m].done < from { lo = m + 1 } else { hi = m } }
            while lo < good.count { if good[lo].sent >= sent { return good[lo].done }; lo += 1 }
            return nil
        }
        var out: [(Nanos, Nanos)] = []
        var i = 0
        while i < bad.count {
            let start = bad[i].at
            var firstSent = bad[i].sent
            var recovery = firstGood(sent: firstSent, from: start)
            var j = i + 1
            // Writes that went bad before the recovery belong to this outage.
            while j < bad.count, let r = recovery, bad[j].at < r {
                firstSent = min(firstSent, bad[j].sent)
                recovery = firstGood(sent: firstSent, from: start)
                j += 1
            }
            out.append((start, (recovery ?? end) - start))
            if recovery == nil { break }
            i = j
        }
        return out
    }
}
