import SimCore
import Recording
import Scenario

/// Evaluates a scenario's `expect:` block against the findings. An expectation on a finding that
/// could not be computed fails, saying why (it is never silently passed).
public enum Expectations {
    public static func evaluate(_ list: [Expectation], _ f: Findings, _ run: RunRecord) -> [ExpectationResult] {
        list.map { e in
            let (ok, detail) = check(e.check, f, run)
            return ExpectationResult(name: e.name, ok: ok, detail: detail, line: e.line)
        }
    }

    static func fmt(_ ns: Nanos) -> String { DurationText.seconds3(ns) + "s" }

    static func check(_ c: Expectation.Check, _ f: Findings, _ run: RunRecord) -> (Bool, String) {
        switch c {
        case .rtoMax(let max, let fault), .rtoMin(let max, let fault):
            let isMax: Bool = { if case .rtoMax = c { return true } else { return false } }()
            let rtos = f.rto.filter { fault == nil || $0.faultIndex == fault }
            if rtos.isEmpty {
                return (false, f.writes == nil ? "no RTO measured: the run made no writes" : "no RTO measured: no disruptive fault\(fault.map { " with index \($0)" } ?? "") fired")
            }
            var worst: String = ""
            for r in rtos {
                guard let v = r.rtoNs else {
                    if isMax { return (false, "fault \(r.faultIndex) (\(r.kind)): writes did not recover before the end of the run") }
                    continue
                }
                if isMax && v > max { return (false, "fault \(r.faultIndex) (\(r.kind)): RTO \(fmt(v)) > \(fmt(max))") }
                if !isMax && v < max { return (false, "fault \(r.faultIndex) (\(r.kind)): RTO \(fmt(v)) < \(fmt(max))") }
                worst += (worst.isEmpty ? "" : ", ") + "fault \(r.faultIndex): \(fmt(v))"
            }
            return (true, "RTO \(worst) \(isMax ? "<=" : ">=") \(fmt(max))")
        case .rpoMaxWrites(let n):
            guard let r = f.rpo else { return (false, "no RPO measured: the run made no writes") }
            return (r.lostWrites <= n, "\(r.lostWrites) acknowledged write(s) lost (max \(n))")
        case .rpoMaxBytes(let n):
            guard let r = f.rpo else { return (false, "no RPO measured: the run made no writes") }
            return (r.lostBytes <= n, "\(r.lostBytes) bytes of acknowledged writes lost (max \(n))")
        case .rpoMaxWindow(let w):
            guard let r = f.rpo else { return (false, "no RPO measured: the run made no writes") }
            return (r.windowNs <= w, "lost-write window \(fmt(r.windowNs)) (max \(fmt(w)))")
        case .splitBrainNone, .splitBrainMax, .splitBrainPresent:
            guard let sb = f.splitBrain else { return (false, "no split-brain finding: nothing was recorded to judge it") }
            let summary = sb.kinds.filter { $0.totalNs > 0 }.map { "\($0.name) \(fmt($0.totalNs))" }.joined(separator: ", ")
            switch c {
            case .splitBrainNone: return (!sb.any, sb.any ? "split brain: \(summary)" : "no split brain")
            case .splitBrainPresent: return (sb.any, sb.any ? "split brain as expected: \(summary)" : "no split brain, but one was expected")
            case .splitBrainMax(let m): return (sb.totalNs <= m, "longest split brain \(fmt(sb.totalNs)) (max \(fmt(m)))")
            default: return (false, "")
            }
        case .failover(let want):
            guard let got = f.failover else { return (false, "no leader key was ever held") }
            return (got == want, got ? "a new leader took over" : "no failover happened")
        case .finalPrimary(let h):
            return (f.finalPrimary == h, "final primary is \(f.finalPrimary ?? "none") (expected \(h))")
        case .invariantsHold:
            return (f.violations.isEmpty, f.violations.isEmpty ? "no invariant violated" : f.violations.prefix(3).map { "\($0.kind): \($0.detail)" }.joined(separator: "; "))
        case .staleReadsMax(let n):
            guard let s = f.staleReads else { return (false, "no reads were made") }
            return (s.stale <= n, "\(s.stale) stale read(s) of \(s.reads) (max \(n))")
        case .writesMin(let n):
            let ok = f.writes?.ok ?? 0
            return (ok >= n, "\(ok) acknowledged write(s) (min \(n))")
        case .logged(let m):
            let hits = run.timeline.filter { matches(m, $0) }
            let bound = m.max.map { m.min == $0 ? "exactly \($0)" : "\(m.min)..\($0)" } ?? "at least \(m.min)"
            let what = "\(m.kind)" + (m.host.map { " on \($0)" } ?? "") + (m.fields.isEmpty ? "" : " with " + zip(m.fields, m.values).map { "\($0)=\($1)" }.joined(separator: ", "))
            let ok = hits.count >= m.min && (m.max.map { hits.count <= $0 } ?? true)
            let first = hits.first.map { ", first at \(fmt($0.timeNs)) on \($0.host)" } ?? ""
            return (ok, "\(hits.count) \(what) event(s) (expected \(bound))\(first)")
        }
    }

    /// A detail field matches when its value, as the scenario would write it, is the same:
    /// strings as they are, numbers and booleans by their text.
    static func matches(_ m: LogMatch, _ e: TimelineEntry) -> Bool {
        guard e.kind == m.kind, m.host.map({ $0 == e.host }) ?? true else { return false }
        for (k, want) in zip(m.fields, m.values) {
            guard let v = e.detail[k] else { return false }
            switch v {
            case .string(let s): if s != want { return false }
            case .int(let i): if Int64(want) != i { return false }
            case .double(let d): if Double(want) != d { return false }
            case .bool(let b): if (want == "true") != b || !(want == "true" || want == "false") { return false }
            case .null: if want != "null" && want != "~" { return false }
            case .array, .object: if v.text != want { return false }
            }
        }
        return true
    }
}
