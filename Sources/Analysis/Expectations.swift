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
        }
    }
}
