import SimCore
import Recording

/// The `--json` summary of a run (its schema is documented in the README). A finding that was
/// not computed is absent from it, never a placeholder zero.
public enum Summary {
    static func s(_ ns: Nanos) -> JSON { .double((Double(ns) / 1e6).rounded() / 1e3) }

    public static func json(_ run: RunRecord, _ f: Findings, runID: Int64?) -> JSON {
        json(scenario: run.scenario, seed: run.seed, traceHash: run.traceHash, events: run.events, durationNs: run.durationNs,
             wallSeconds: run.wallSeconds, faults: run.faults, aborted: run.aborted, f, runID: runID)
    }

    public static func json(_ story: RunStory) -> JSON {
        json(scenario: story.scenario, seed: story.seed, traceHash: story.traceHash, events: story.events, durationNs: story.durationNs,
             wallSeconds: story.wallSeconds, faults: story.faults, aborted: story.aborted, story.findings, runID: story.runID)
    }

    struct Header {
        var scenario: String, seed: UInt64, traceHash: String, events: UInt64, durationNs: Nanos, wallSeconds: Double
        var faults: [FaultRecord], aborted: String?
    }

    static func json(scenario: String, seed: UInt64, traceHash: String, events: UInt64, durationNs: Nanos, wallSeconds: Double,
                     faults: [FaultRecord], aborted: String?, _ f: Findings, runID: Int64?) -> JSON {
        let run = Header(scenario: scenario, seed: seed, traceHash: traceHash, events: events, durationNs: durationNs, wallSeconds: wallSeconds,
                         faults: faults, aborted: aborted)
        var o: [(String, JSON)] = [
            ("scenario", .string(run.scenario)),
            ("seed", .int(Int64(bitPattern: run.seed))),
            ("run_id", runID.map { .int($0) } ?? .null),
            ("trace_hash", .string(run.traceHash)),
            ("events", .int(Int64(run.events))),
            ("sim_seconds", s(run.durationNs)),
            ("wall_seconds", .double((run.wallSeconds * 1000).rounded() / 1000)),
        ]
        o.append(("faults", .array(run.faults.map { fault in
            var fo: [(String, JSON)] = [("index", .int(Int64(fault.index))), ("kind", .string(fault.kind)),
                                        ("target", .string(fault.target)), ("resolved", .string(fault.resolved)),
                                        ("at_seconds", s(fault.startNs))]
            if let e = fault.endNs { fo.append(("end_seconds", s(e))) }
            if let r = f.rto.first(where: { $0.faultIndex == fault.index }) {
                if let v = r.rtoNs { fo.append(("rto_seconds", s(v))) } else { fo.append(("rto_seconds", .null)); fo.append(("recovered", false)) }
                fo.append(("rto_phases", .object(r.phases.compactMap { p in p.durationNs.map { (p.name, s($0)) } })))
            }
            return .object(fo)
        })))
        if let r = f.rpo {
            var ro: [(String, JSON)] = [("lost_writes", .int(Int64(r.lostWrites))), ("lost_bytes", .int(r.lostBytes)),
                                        ("window_seconds", s(r.windowNs)), ("final_primary", r.finalPrimary.map(JSON.string) ?? .null)]
            if r.lostLocalOnly > 0 { ro.append(("lost_local_only", .int(Int64(r.lostLocalOnly)))) }
            if let m = r.measuredAgainst { ro.append(("measured_against", .string(m))) }
            if !r.causes.isEmpty { ro.append(("causes", .array(r.causes.map(JSON.string)))) }
            o.append(("rpo", .object(ro)))
        }
        if let sb = f.splitBrain {
            var so: [(String, JSON)] = [("seconds", s(sb.totalNs)), ("acknowledged_writes_losing_side", .int(Int64(sb.losingAcks)))]
            so.append(("kinds", .object(sb.kinds.map { ($0.name, s($0.totalNs)) })))
            o.append(("split_brain", .object(so)))
        }
        if let w = f.writes {
            o.append(("writes", .object([("total", .int(Int64(w.total))), ("ok", .int(Int64(w.ok))), ("failed", .int(Int64(w.failed))),
                                         ("indeterminate", .int(Int64(w.indeterminate)))])))
        }
        if let n = f.noise { o.append(("noise", n.summary)) }
        if let sr = f.staleReads { o.append(("stale_reads", .object([("reads", .int(Int64(sr.reads))), ("stale", .int(Int64(sr.stale)))]))) }
        o.append(("invariant_violations", .array(f.violations.map {
            .object([("at_seconds", s($0.timeNs)), ("kind", .string($0.kind)), ("detail", .string($0.detail))])
        })))
        o.append(("expectations", .array(f.expectations.map {
            .object([("name", .string($0.name)), ("ok", .bool($0.ok)), ("detail", .string($0.detail))])
        })))
        if let a = run.aborted { o.append(("aborted", .string(a))) }
        if !f.notes.isEmpty { o.append(("notes", .array(f.notes.map(JSON.string)))) }
        o.append(("ok", .bool(f.ok && run.aborted == nil)))
        return .object(o)
    }

    public static func rtoJSON(_ r: FaultRTO) -> JSON {
        .object([
            ("kind", .string(r.kind)),
            ("outage", .bool(r.outage)),
            ("old_primary", r.oldPrimary.map(JSON.string) ?? .null),
            ("new_primary", r.newPrimary.map(JSON.string) ?? .null),
            ("phases", .array(r.phases.map { p in
                .object([("phase", .string(p.name)), ("seconds", p.durationNs.map(s) ?? .null), ("detail", .string(p.detail))])
            })),
        ])
    }
}
