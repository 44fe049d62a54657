import SimCore
import Recording

/// The findings as one JSON document and back, exactly (times in integer nanoseconds): the store
/// keeps it so that `simctl show` prints the report the run printed.
extension Findings {
    public var document: JSON {
        func ns(_ v: Nanos?) -> JSON { v.map { .int($0) } ?? .null }
        func str(_ v: String?) -> JSON { v.map(JSON.string) ?? .null }
        var o: [(String, JSON)] = []
        o.append(("rto", .array(rto.map { r in
            .object([
                ("fault", .int(Int64(r.faultIndex))), ("kind", .string(r.kind)), ("at_ns", .int(r.atNs)), ("rto_ns", ns(r.rtoNs)),
                ("outage", .bool(r.outage)), ("outage_start_ns", ns(r.outageStartNs)), ("outage_first_sent_ns", ns(r.outageFirstSentNs)),
                ("old_primary", str(r.oldPrimary)), ("new_primary", str(r.newPrimary)),
                ("same_outage_as", r.sameOutageAs.map { .int(Int64($0)) } ?? .null),
                ("phases", .array(r.phases.map { p in
                    .object([("name", .string(p.name)), ("at_ns", ns(p.atNs)), ("duration_ns", ns(p.durationNs)), ("detail", .string(p.detail)),
                             ("cause", .string(p.cause))])
                })),
            ])
        })))
        if let r = rpo {
            o.append(("rpo", .object([
                ("lost_writes", .int(Int64(r.lostWrites))), ("lost_bytes", .int(r.lostBytes)), ("window_ns", .int(r.windowNs)),
                ("lost_ids", .array(r.lostIds.map { .int(Int64($0)) })), ("lost_local_only", .int(Int64(r.lostLocalOnly))),
                ("final_primary", str(r.finalPrimary)), ("measured_against", str(r.measuredAgainst)),
                ("causes", .array(r.causes.map(JSON.string))),
            ])))
        }
        if let sb = splitBrain {
            o.append(("split_brain", .object([
                ("losing_acks", .int(Int64(sb.losingAcks))),
                ("kinds", .array(sb.kinds.map { k in
                    .object([("name", .string(k.name)), ("total_ns", .int(k.totalNs)), ("losing_acks", k.losingAcks.map { .int(Int64($0)) } ?? .null),
                             ("intervals", .array(k.intervals.map { .object([("start_ns", .int($0.startNs)), ("end_ns", .int($0.endNs)), ("detail", .string($0.detail))]) }))])
                })),
            ])))
        }
        o.append(("violations", .array(violations.map { .object([("at_ns", .int($0.timeNs)), ("kind", .string($0.kind)), ("detail", .string($0.detail))]) })))
        if let s = staleReads { o.append(("stale_reads", .object([("reads", .int(Int64(s.reads))), ("stale", .int(Int64(s.stale)))]))) }
        if let w = writes {
            o.append(("writes", .object([("total", .int(Int64(w.total))), ("ok", .int(Int64(w.ok))), ("failed", .int(Int64(w.failed))),
                                         ("indeterminate", .int(Int64(w.indeterminate))), ("blocked", .int(Int64(w.blocked)))])))
        }
        o.append(("failover", failover.map(JSON.bool) ?? .null))
        o.append(("final_primary", str(finalPrimary)))
        o.append(("expectations", .array(expectations.map {
            .object([("name", .string($0.name)), ("ok", .bool($0.ok)), ("detail", .string($0.detail)), ("line", .int(Int64($0.line)))])
        })))
        o.append(("notes", .array(notes.map(JSON.string))))
        if let n = noise { o.append(("noise", n.document)) }
        return .object(o)
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The findings of a stored document (nil fields where the document has none).
    public init(document d: JSON) throws(DecodeError) {
        func fail(_ what: String) -> DecodeError { DecodeError(description: "findings document: \(what)") }
        func ns(_ v: JSON?) -> Nanos? { v?.intValue }
        func str(_ v: JSON?) -> String? { v?.stringValue }
        self.init()
        guard case .object = d else { throw fail("not an object") }
        for r in d["rto"]?.arrayValue ?? [] {
            guard let fault = r["fault"]?.intValue, let at = r["at_ns"]?.intValue else { throw fail("an rto entry without fault or at_ns") }
            var x = FaultRTO(faultIndex: Int(fault), kind: str(r["kind"]) ?? "", atNs: at, rtoNs: ns(r["rto_ns"]), outage: r["outage"]?.boolValue ?? false,
                             phases: [], oldPrimary: str(r["old_primary"]), newPrimary: str(r["new_primary"]))
            x.outageStartNs = ns(r["outage_start_ns"])
            x.outageFirstSentNs = ns(r["outage_first_sent_ns"])
            x.sameOutageAs = r["same_outage_as"]?.intValue.map(Int.init)
            x.phases = (r["phases"]?.arrayValue ?? []).map { p in
                FaultRTO.Phase(name: str(p["name"]) ?? "", atNs: ns(p["at_ns"]), durationNs: ns(p["duration_ns"]), detail: str(p["detail"]) ?? "",
                               cause: str(p["cause"]) ?? "")
            }
            rto.append(x)
        }
        if let r = d["rpo"], case .object = r {
            var x = RPO(lostWrites: Int(r["lost_writes"]?.intValue ?? 0), lostBytes: r["lost_bytes"]?.intValue ?? 0, windowNs: r["window_ns"]?.intValue ?? 0,
                        lostIds: (r["lost_ids"]?.arrayValue ?? []).compactMap { $0.intValue.map { UInt32(truncatingIfNeeded: $0) } })
            x.lostLocalOnly = Int(r["lost_local_only"]?.intValue ?? 0)
            x.finalPrimary = str(r["final_primary"])
            x.measuredAgainst = str(r["measured_against"])
            x.causes = (r["causes"]?.arrayValue ?? []).compactMap(\.stringValue)
            rpo = x
        }
        if let sb = d["split_brain"], case .object = sb {
            var x = SplitBrain(kinds: (sb["kinds"]?.arrayValue ?? []).map { k in
                SplitBrain.Kind(name: str(k["name"]) ?? "", totalNs: k["total_ns"]?.intValue ?? 0,
                                intervals: (k["intervals"]?.arrayValue ?? []).map { ($0["start_ns"]?.intValue ?? 0, $0["end_ns"]?.intValue ?? 0, str($0["detail"]) ?? "") },
                                losingAcks: k["losing_acks"]?.intValue.map(Int.init))
            })
            x.losingAcks = Int(sb["losing_acks"]?.intValue ?? 0)
            splitBrain = x
        }
        violations = (d["violations"]?.arrayValue ?? []).map { Violation(timeNs: $0["at_ns"]?.intValue ?? 0, kind: str($0["kind"]) ?? "", detail: str($0["detail"]) ?? "") }
        if let s = d["stale_reads"], case .object = s {
            staleReads = StaleReads(reads: Int(s["reads"]?.intValue ?? 0), stale: Int(s["stale"]?.intValue ?? 0))
        }
        if let w = d["writes"], case .object = w {
            writes = WriteStats(total: Int(w["total"]?.intValue ?? 0), ok: Int(w["ok"]?.intValue ?? 0), failed: Int(w["failed"]?.intValue ?? 0),
                                indeterminate: Int(w["indeterminate"]?.intValue ?? 0), blocked: Int(w["blocked"]?.intValue ?? 0))
        }
        failover = d["failover"]?.boolValue
        finalPrimary = str(d["final_primary"])
        expectations = (d["expectations"]?.arrayValue ?? []).map {
            ExpectationResult(name: str($0["name"]) ?? "", ok: $0["ok"]?.boolValue ?? false, detail: str($0["detail"]) ?? "", line: Int($0["line"]?.intValue ?? 0))
        }
        notes = (d["notes"]?.arrayValue ?? []).compactMap(\.stringValue)
        if let n = d["noise"], case .object = n { noise = NoiseFindings(document: n) }
    }
}
