import SimCore
import Settings
import Recording
import Analysis
import Scenario

/// The human summary `simctl run` prints: what happened and when, then RTO, RPO and split
/// brain, then the expectations. Deterministic text (golden-testable); colour only on a terminal.
public struct TextReport {
    public var color: Bool
    public var timelineLimit: Int

    public init(color: Bool = false, timelineLimit: Int = 60) {
        self.color = color
        self.timelineLimit = timelineLimit
    }

    func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    func bold(_ s: String) -> String { paint(s, "1") }
    func good(_ s: String) -> String { paint(s, "32") }
    func bad(_ s: String) -> String { paint(s, "31") }

    /// `2m03.250s`: minutes and seconds with milliseconds, so columns line up.
    public static func clock(_ ns: Nanos) -> String { TextClock.clock(ns) }

    static func secs(_ ns: Nanos) -> String { DurationText.seconds3(ns) + "s" }

    /// Timeline kinds worth a line in the summary (the store keeps everything).
    static let headline: Set<String> = [Kind.faultStart, Kind.faultEnd, Kind.noiseStart, Kind.etcdLeader, Kind.etcdStepDown, Kind.leaseExpired,
                                        Kind.leaderKey, Kind.promoteStarted, Kind.pgPromoted, Kind.demote, Kind.watchdogReset,
                                        Kind.pgWritable, Kind.serverState, Kind.vip, Kind.invariant, "host_down", "host_up",
                                        "switchover", "failover"]

    public func render(run: RunRecord, findings f: Findings, scenario: Scenario, runID: Int64?, store: String?) -> String {
        render(RunStory(run: run, findings: f, scenario: scenario, file: scenario.file, overrides: [], runID: runID), scenario: scenario, store: store)
    }

    /// The report of a run. `scenario`: the scenario as it was run (its description and
    /// Patroni's adjustments), nil when the store no longer has its text.
    public func render(_ run: RunStory, scenario: Scenario?, store: String?) -> String {
        let f = run.findings
        let runID = run.runID
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        let rate = run.wallSeconds > 0 ? Double(run.events) / run.wallSeconds : 0
        let factor = run.wallSeconds > 0 ? Time.seconds(run.durationNs) / run.wallSeconds : 0
        line(bold("\(run.scenario)") + " — seed \(run.seed), \(DurationText.format(run.durationNs)) simulated in \(String(fixed: run.wallSeconds, decimals: 3))s")
        line("  \(run.events) events (\(Self.millions(rate)) M events/s, \(Int(factor.rounded()))× real time), trace \(run.traceHash)")
        if let scenario {
            if !scenario.description.isEmpty { line("  " + scenario.description.split(separator: "\n").joined(separator: " ")) }
            let p = scenario.patroni
            if p.scope != PatroniConfig().scope || p.namespace != PatroniConfig().namespace || !scenario.importNotes.isEmpty {
                let notes = scenario.importNotes.count
                line("  Patroni cluster \(p.scope), keys under \(p.keyPrefix)"
                     + (notes == 0 ? "" : "; \(notes) setting\(notes == 1 ? "" : "s") of its files not modelled (simctl import lists them, with why)"))
            }
            for w in scenario.warnings {
                if w.path.hasPrefix("patroni") {
                    line("  " + paint("Patroni adjusted \(w.path): \(w.message)", "33"))
                } else {
                    line("  " + paint("warning: \(w.path): \(w.message)", "33"))
                }
            }
        }
        line()
        line(bold("What happened"))
        let events = run.timeline.filter { Self.headline.contains($0.kind) && !(($0.kind == Kind.serverState) && $0.detail["backend"]?.stringValue == "read") }
        for e in events.prefix(timelineLimit) { line("  \(Self.clock(e.timeNs))  \(Self.describe(e))") }
        if events.count > timelineLimit { line("  … \(events.count - timelineLimit) more (the timeline table has all \(run.timeline.count) entries)") }
        if events.isEmpty { line("  (no role changes, elections or faults recorded)") }
        line()
        line(bold("Findings"))
        if run.faults.isEmpty { line("  no faults in this scenario") }
        for fault in run.faults {
            var s = "  fault \(fault.index) \(fault.kind) \(fault.resolved.isEmpty ? fault.target : fault.resolved) at \(Self.clock(fault.startNs))"
            if let r = f.rto.first(where: { $0.faultIndex == fault.index }), let first = r.sameOutageAs {
                s += ": started with fault \(first), one outage (see there)"
                line(s)
                continue
            }
            if let r = f.rto.first(where: { $0.faultIndex == fault.index }) {
                if !r.outage { s += ": writes never stopped (RTO 0s)" } else if let v = r.rtoNs {
                    let parts = r.phases.compactMap { p in p.durationNs.map { "\(Self.secs($0)) \(p.name)" } }
                    s += ": RTO \(bold(Self.secs(v))) = " + parts.joined(separator: " + ")
                } else {
                    s += ": " + bad("writes had not recovered by the end of the run")
                }
            } else if fault.disrupts && f.writes == nil {
                s += " (no writes, so no RTO)"
            }
            line(s)
            if let r = f.rto.first(where: { $0.faultIndex == fault.index }), r.outage {
                for p in r.phases {
                    line("      \(p.name): \(p.atNs.map(Self.clock) ?? "—")  \(p.detail)")
                    if !p.cause.isEmpty { line("          why: \(p.cause)") }
                }
            }
        }
        if let r = f.rpo {
            let s = "  RPO: \(r.lostWrites) acknowledged write(s) lost (\(r.lostBytes) bytes, window \(Self.secs(r.windowNs)))"
            line(r.lostWrites == 0 ? s : bad(s))
            line("       final primary: \(r.finalPrimary ?? "none")")
            if r.lostWrites == 0, let n = r.measuredAgainst { line("       \(n)") }
            for c in r.causes { line("       \(c)") }
        } else {
            line("  RPO: not measured (no writes)")
        }
        if let sb = f.splitBrain {
            if sb.any {
                line(bad("  Split brain: \(Self.secs(sb.totalNs)), \(sb.losingAcks) acknowledged write(s) on the losing side"))
                for k in sb.kinds where !k.intervals.isEmpty {
                    for iv in k.intervals.prefix(5) { line("      \(k.name): \(Self.clock(iv.startNs))–\(Self.clock(iv.endNs)) \(iv.detail)") }
                }
            } else {
                line("  Split brain: none")
            }
        } else {
            line("  Split brain: not measured")
        }
        if let w = f.writes {
            let blocked = w.blocked > 0 ? " (\(w.blocked) of them blocked over \(DurationText.format(Analyzer.stallNs)) before it)" : ""
            line("  Writes: \(w.total) sent, \(w.ok) acknowledged\(blocked), \(w.failed) failed, \(w.indeterminate) indeterminate")
        }
        if let s = f.staleReads { line("  Reads: \(s.reads), \(s.stale) stale") }
        if let n = f.noise { noiseLines(n).forEach { line($0) } }
        if !f.violations.isEmpty {
            line(bad("  Invariant violations: \(f.violations.count)"))
            for v in f.violations.prefix(5) { line("      \(Self.clock(v.timeNs)) \(v.kind): \(v.detail)") }
        }
        if let a = run.aborted { line(bad("  Run aborted: \(a)")) }
        for n in f.notes { line(paint("  Note: \(n)", "33")) }
        line()
        if !f.expectations.isEmpty {
            line(bold("Expectations"))
            let width = f.expectations.map(\.name.count).max() ?? 0
            for e in f.expectations {
                let mark = e.ok ? good("✔") : bad("✘")
                line("  \(mark) \(e.name)\(String(repeating: " ", count: width - e.name.count))  \(e.detail)")
            }
            line()
        }
        let ok = run.ok
        var last = ok ? good("ok") : bad("FAILED")
        if let id = runID, let st = store { last += " — run \(id) stored in \(st)" }
        line(last)
        return out
    }

    static func millions(_ v: Double) -> String { String(fixed: v / 1e6, decimals: 3).dropLast(1).description }

    /// One line for a timeline entry.
    public static func describe(_ e: TimelineEntry) -> String {
        let d = e.detail
        let who = e.host.isEmpty ? "" : e.host + " "
        switch e.kind {
        case Kind.faultStart:
            return "fault \(d["index"]?.intValue ?? 0) \(d["kind"]?.stringValue ?? ""): \(d["resolved"]?.stringValue ?? "")"
        case Kind.faultEnd:
            return "fault \(d["index"]?.intValue ?? 0) \(d["kind"]?.stringValue ?? "") ends"
        case Kind.noiseStart:
            let size = d["kind"]?.stringValue.flatMap { NoiseKind(rawValue: $0)?.sizeKey }.flatMap { k in d[k]?.stringValue.map { ", \(k) \($0)" } } ?? ""
            let tag = d["tagged"]?.boolValue == true ? " (the episode's event)" : ""
            return "noise: \(d["name"]?.stringValue ?? "") on \(d["target"]?.stringValue ?? "") for \(d["duration"]?.stringValue ?? "")\(size)\(tag)"
        case Kind.leaderKey:
            if let h = d["holder"]?.stringValue { return "leader key → \(h) (\(d["cause"]?.stringValue ?? ""))" }
            return "leader key gone (\(d["cause"]?.stringValue ?? ""))"
        case Kind.pgWritable:
            let w = d["writable"]?.boolValue ?? false
            return "\(who)PostgreSQL \(w ? "accepts writes" : "stops accepting writes") (timeline \(d["timeline"]?.intValue ?? 0); \(d["why"]?.stringValue ?? ""))"
        case Kind.serverState:
            let up = d["up"]?.boolValue ?? false
            // In each balancer's own words: HAProxy logs "Server write/db1 is DOWN"; Envoy a
            // cluster's host health; a cloud load balancer a target group's target.
            let b = d["backend"]?.stringValue ?? "", srv = d["server"]?.stringValue ?? "", checks = d["checks"]?.stringValue ?? ""
            switch e.component {
            case "envoy": return "\(who)cluster \(b): host \(srv) is \(up ? "healthy" : "unhealthy") (\(checks))"
            case "lb": return "\(who)target group \(b): target \(srv) is \(up ? "healthy" : "unhealthy") (\(checks))"
            default: return "\(who)Server \(b)/\(srv) is \(up ? "UP" : "DOWN") (\(checks))"
            }
        default:
            var s = "\(who)\(e.component): \(e.kind)"
            if case .object(let kv) = d, !kv.isEmpty {
                s += " " + kv.map { k, v in "\(k)=\(v.stringValue ?? v.text)" }.joined(separator: " ")
            }
            return s
        }
    }

    /// The noise block: what the disturbances cost outside the injected faults.
    func noiseLines(_ n: NoiseFindings) -> [String] {
        var out: [String] = []
        let o = n.total
        let counts = n.byName.filter { $0.count > 0 }.map { "\($0.count) \($0.name)" }.joined(separator: ", ")
        out.append("  Noise: \(n.events) event(s)\(counts.isEmpty ? "" : " (" + counts + ")") over \(Self.secs(n.quietNs)) without an injected fault")
        let ff = n.perYear(o.falseFailovers.count)
        func rate(_ r: (rate: Double, lo: Double, hi: Double)) -> String { "\(Self.num(r.rate))/year (95 % CI \(Self.num(r.lo))–\(Self.num(r.hi)))" }
        // A rate over one run's horizon means something only for direct runs: an episode's
        // event was placed, not drawn (a sweep turns episodes into rates).
        let s = "      false failovers: \(o.falseFailovers.count)" + (o.falseFailovers.isEmpty ? "" : " at " + o.falseFailovers.prefix(5).map(Self.clock).joined(separator: ", "))
            + (n.tagged == nil ? " — " + rate(ff) : "")
        out.append(o.falseFailovers.isEmpty ? s : bad(s))
        out.append("      demotions: \(o.demotions), leader-lock update failures: \(o.leaderLockFailures), etcd elections: \(o.etcdElections)")
        out.append("      write downtime: \(Self.secs(o.downtimeNs)) in \(o.outages) outage(s); acknowledged writes lost at false failovers: \(o.lostWrites)")
        if let t = n.tagged {
            let e = t.outcome
            out.append("      episode: \(t.name) on \(t.target) at \(Self.clock(t.atNs)), until \(Self.clock(t.untilNs)): "
                       + "\(e.falseFailovers.count) false failover(s), \(e.demotions) demotion(s), \(Self.secs(e.downtimeNs)) write downtime, \(e.lostWrites) lost write(s)")
        }
        return out
    }

    static func num(_ v: Double) -> String {
        if v == 0 { return "0" }
        if v >= 100 { return String(Int(v.rounded())) }
        if v >= 1 { return String((v * 10).rounded() / 10) }
        return String((v * 1000).rounded() / 1000)
    }
}
