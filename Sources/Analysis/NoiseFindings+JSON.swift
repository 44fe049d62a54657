import SimCore
import Recording

extension NoiseFindings.Outcome {
    var document: JSON {
        .object([("false_failovers_ns", .array(falseFailovers.map { .int($0) })), ("demotions", .int(Int64(demotions))),
                 ("leader_lock_failures", .int(Int64(leaderLockFailures))), ("etcd_elections", .int(Int64(etcdElections))),
                 ("outages", .int(Int64(outages))), ("downtime_ns", .int(downtimeNs)), ("lost_writes", .int(Int64(lostWrites)))])
    }

    init(document d: JSON) {
        self.init()
        falseFailovers = (d["false_failovers_ns"]?.arrayValue ?? []).compactMap(\.intValue)
        demotions = Int(d["demotions"]?.intValue ?? 0)
        leaderLockFailures = Int(d["leader_lock_failures"]?.intValue ?? 0)
        etcdElections = Int(d["etcd_elections"]?.intValue ?? 0)
        outages = Int(d["outages"]?.intValue ?? 0)
        downtimeNs = d["downtime_ns"]?.intValue ?? 0
        lostWrites = Int(d["lost_writes"]?.intValue ?? 0)
    }

    /// The `--json` form (seconds).
    public var summary: JSON {
        .object([("false_failovers", .int(Int64(falseFailovers.count))), ("demotions", .int(Int64(demotions))),
                 ("leader_lock_failures", .int(Int64(leaderLockFailures))), ("etcd_elections", .int(Int64(etcdElections))),
                 ("outages", .int(Int64(outages))), ("downtime_seconds", .double(Double(downtimeNs / 1_000_000) / 1e3)),
                 ("lost_writes", .int(Int64(lostWrites)))])
    }
}

extension NoiseFindings {
    /// The stored form, exactly (nanoseconds).
    var document: JSON {
        var o: [(String, JSON)] = [("events", .int(Int64(events))), ("by_name", .array(byName.map { .object([("name", .string($0.name)), ("count", .int(Int64($0.count)))]) })),
                                   ("quiet_ns", .int(quietNs)), ("total", total.document), ("events_per_year", .double(eventsPerYear))]
        if let t = tagged {
            o.append(("tagged", .object([("name", .string(t.name)), ("target", .string(t.target)), ("at_ns", .int(t.atNs)), ("until_ns", .int(t.untilNs)),
                                         ("weight", .double(t.weight)), ("outcome", t.outcome.document), ("source", .int(Int64(t.source))),
                                         ("source_per_year", .double(t.sourcePerYear))])))
        }
        return .object(o)
    }

    init(document d: JSON) {
        events = Int(d["events"]?.intValue ?? 0)
        byName = (d["by_name"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", Int($0["count"]?.intValue ?? 0)) }
        quietNs = d["quiet_ns"]?.intValue ?? 0
        total = d["total"].map(Outcome.init(document:)) ?? Outcome()
        eventsPerYear = d["events_per_year"]?.doubleValue ?? 0
        if let t = d["tagged"], case .object = t {
            tagged = Episode(name: t["name"]?.stringValue ?? "", target: t["target"]?.stringValue ?? "", atNs: t["at_ns"]?.intValue ?? 0,
                             untilNs: t["until_ns"]?.intValue ?? 0, weight: t["weight"]?.doubleValue ?? 1, outcome: t["outcome"].map(Outcome.init(document:)) ?? Outcome(),
                             source: Int(t["source"]?.intValue ?? 0), sourcePerYear: t["source_per_year"]?.doubleValue ?? 0)
        }
    }

    /// Direct rates over the run's quiet time: per year, with a 95 % interval.
    public func perYear(_ count: Int) -> (rate: Double, lo: Double, hi: Double) {
        let years = Double(quietNs) / (365 * 86400e9)
        guard years > 0 else { return (0, 0, 0) }
        let (lo, hi) = PoissonInterval.ci95(count)
        return (Double(count) / years, lo / years, hi / years)
    }

    /// The `--json` form.
    public var summary: JSON {
        var o: [(String, JSON)] = [("events", .int(Int64(events))), ("events_per_year_configured", .double((eventsPerYear * 10).rounded() / 10)),
                                   ("quiet_seconds", .double(Double(quietNs / 1_000_000) / 1e3)), ("outside_faults", total.summary)]
        let ff = perYear(total.falseFailovers.count)
        o.append(("false_failovers_per_year", .object([("rate", .double(ff.rate)), ("ci95_low", .double(ff.lo)), ("ci95_high", .double(ff.hi))])))
        if let t = tagged {
            o.append(("episode", .object([("event", .string(t.name)), ("target", .string(t.target)), ("at_seconds", .double(Double(t.atNs / 1_000_000) / 1e3)),
                                          ("until_seconds", .double(Double(t.untilNs / 1_000_000) / 1e3)), ("weight", .double(t.weight)),
                                          ("source_events_per_year", .double(t.sourcePerYear)),
                                          ("outcome", t.outcome.summary)])))
        }
        return .object(o)
    }
}

/// Exact (Garwood) 95 % interval of a Poisson mean from one count, through the chi-square
/// quantiles (Wilson–Hilferty; within 1 % of the exact values from a count of one up).
public enum PoissonInterval {
    public static func ci95(_ k: Int) -> (Double, Double) {
        let lo = k == 0 ? 0 : chi2Quantile(0.025, dof: 2 * Double(k)) / 2
        let hi = chi2Quantile(0.975, dof: 2 * Double(k) + 2) / 2
        return (lo, hi)
    }

    /// The chi-square quantile (Wilson–Hilferty); exact for 2 degrees of freedom.
    static func chi2Quantile(_ p: Double, dof v: Double) -> Double {
        if v == 2 { return -2 * log1mExact(p) }
        let z = p < 0.5 ? -1.959_963_985 : 1.959_963_985
        let a = 2 / (9 * v)
        let t = 1 - a + z * a.squareRoot()
        return v * t * t * t
    }
}
