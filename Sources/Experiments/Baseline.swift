import Foundation
import SimCore
import Recording
import Analysis

/// `Reports/baseline.json`: per scenario, what `simctl check` measured when the baseline was
/// last updated on purpose. Human-readable, one entry per scenario.
public struct Baseline: Sendable, Equatable {
    public struct Tolerance: Sendable, Equatable {
        /// A p50 or p95 RTO may move by this fraction of the baseline...
        public var rtoRelative: Double = 0.10
        /// ...or by this many seconds, whichever is larger.
        public var rtoAbsoluteS: Double = 1.0
        /// Lost writes (mean over seeds) may grow by this many; any increase by default.
        public var lostWritesIncrease: Double = 0
        public init() {}
    }
    public struct FaultEntry: Sendable, Equatable {
        public var index: Int
        public var kind: String
        /// nil: never measured (no outage) — or `.infinity` written as null with `unrecovered`.
        public var p50: Double?
        public var p95: Double?
        public var unrecovered: Int
    }
    public struct Entry: Sendable, Equatable {
        public var file: String
        public var seeds: Int
        public var firstSeed: UInt64
        public var faults: [FaultEntry]
        public var lostWritesMean: Double
        public var lostWritesMax: Int
        public var tolerance: Tolerance?
    }
    public var simctlVersion = ""
    public var tolerance = Tolerance()
    /// By scenario name, kept sorted by name when written.
    public var scenarios: [(String, Entry)] = []

    public init() {}

    public static func == (a: Baseline, b: Baseline) -> Bool { a.json.text == b.json.text }

    public func entry(_ name: String) -> Entry? { scenarios.first { $0.0 == name }?.1 }

    public mutating func set(_ name: String, _ e: Entry) {
        if let i = scenarios.firstIndex(where: { $0.0 == name }) { scenarios[i].1 = e } else { scenarios.append((name, e)) }
        scenarios.sort { $0.0 < $1.0 }
    }

    // MARK: - File form

    static func num(_ v: Double?) -> JSON {
        guard let v, v.isFinite else { return .null }
        return .double(round3(v))
    }

    static func tolJSON(_ t: Tolerance) -> JSON {
        .object([("rto_relative", .double(t.rtoRelative)), ("rto_absolute_s", .double(t.rtoAbsoluteS)), ("lost_writes_increase", .double(t.lostWritesIncrease))])
    }

    public var json: JSON {
        .object([
            ("comment", .string("Written by `simctl check --update-baseline`. RTO percentiles in seconds over the seeds; null: never recovered in that share of runs.")),
            ("simctl_version", .string(simctlVersion)),
            ("tolerance", Self.tolJSON(tolerance)),
            ("scenarios", .object(scenarios.map { name, e in
                var fields: [(String, JSON)] = [
                    ("file", .string(e.file)), ("seeds", .int(Int64(e.seeds))), ("first_seed", .int(Int64(bitPattern: e.firstSeed))),
                    ("faults", .array(e.faults.map { f in
                        .object([("index", .int(Int64(f.index))), ("kind", .string(f.kind)), ("rto_p50_s", Self.num(f.p50)),
                                 ("rto_p95_s", Self.num(f.p95)), ("unrecovered_runs", .int(Int64(f.unrecovered)))])
                    })),
                    ("lost_writes_mean", Self.num(e.lostWritesMean)), ("lost_writes_max", .int(Int64(e.lostWritesMax))),
                ]
                if let t = e.tolerance { fields.append(("tolerance", Self.tolJSON(t))) }
                return (name, .object(fields))
            })),
        ])
    }

    public struct ReadError: Error, CustomStringConvertible { public var description: String }

    public static func read(path: String) throws(ReadError) -> Baseline {
        guard let data = FileManager.default.contents(atPath: path) else { throw ReadError(description: "\(path): cannot read the baseline") }
        guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ReadError(description: "\(path): not a JSON object (write it with simctl check --update-baseline)")
        }
        func tol(_ any: Any?) -> Tolerance? {
            guard let d = any as? [String: Any] else { return nil }
            var t = Tolerance()
            if let v = d["rto_relative"] as? Double { t.rtoRelative = v }
            if let v = d["rto_absolute_s"] as? Double { t.rtoAbsoluteS = v }
            if let v = d["lost_writes_increase"] as? Double { t.lostWritesIncrease = v }
            return t
        }
        var b = Baseline()
        b.simctlVersion = top["simctl_version"] as? String ?? ""
        b.tolerance = tol(top["tolerance"]) ?? Tolerance()
        guard let sc = top["scenarios"] as? [String: Any] else { throw ReadError(description: "\(path): no \"scenarios\" object") }
        for name in sc.keys.sorted() {
            guard let e = sc[name] as? [String: Any] else { throw ReadError(description: "\(path): scenarios.\(name): not an object") }
            let faults = (e["faults"] as? [[String: Any]] ?? []).map { f in
                FaultEntry(index: (f["index"] as? Int) ?? 0, kind: f["kind"] as? String ?? "", p50: f["rto_p50_s"] as? Double,
                           p95: f["rto_p95_s"] as? Double, unrecovered: f["unrecovered_runs"] as? Int ?? 0)
            }
            b.scenarios.append((name, Entry(file: e["file"] as? String ?? "", seeds: e["seeds"] as? Int ?? 0,
                                            firstSeed: UInt64(e["first_seed"] as? Int ?? 1), faults: faults,
                                            lostWritesMean: e["lost_writes_mean"] as? Double ?? 0, lostWritesMax: e["lost_writes_max"] as? Int ?? 0,
                                            tolerance: tol(e["tolerance"]))))
        }
        return b
    }

    // MARK: - Comparison

    /// One number that moved beyond its tolerance.
    public struct Moved: Sendable, Equatable, CustomStringConvertible {
        public var what: String
        public var baseline: Double?
        public var now: Double?
        public var allowed: Double
        public var description: String {
            if baseline == nil && now == nil { return what }
            let delta: String
            if let b = baseline, let n = now, b.isFinite, n.isFinite {
                let d = n - b
                delta = " (\(d >= 0 ? "+" : "")\(DurationText.seconds3(Time.fromSeconds(d))), allowed ±\(DurationText.seconds3(Time.fromSeconds(allowed))))"
            } else { delta = "" }
            return "\(what): \(Self.text(baseline)) → \(Self.text(now))\(delta)"
        }
        static func text(_ v: Double?) -> String {
            guard let v else { return "never recovered" }
            return v.isFinite ? DurationText.seconds3(Time.fromSeconds(v)) : "never recovered"
        }
    }

    /// What moved between the baseline entry and a fresh one, both directions: faster failover
    /// is a change in timing too, and is updated on purpose like a slower one.
    public func compare(_ name: String, _ now: Entry) -> [Moved] {
        guard let was = entry(name) else { return [] }
        let tol = was.tolerance ?? tolerance
        var out: [Moved] = []
        for f in now.faults {
            guard let b = was.faults.first(where: { $0.index == f.index }) else {
                out.append(Moved(what: "fault \(f.index) (\(f.kind)) RTO: not in the baseline (p95 now \(secondsText(f.p95)))", baseline: nil, now: nil, allowed: 0))
                continue
            }
            for (label, old, new) in [("p50", b.p50, f.p50), ("p95", b.p95, f.p95)] {
                let oldV = old ?? (b.unrecovered > 0 ? .infinity : 0)
                let newV = new ?? (f.unrecovered > 0 ? .infinity : 0)
                let allowed = max(tol.rtoRelative * (oldV.isFinite ? oldV : 0), tol.rtoAbsoluteS)
                if oldV.isFinite != newV.isFinite || (oldV.isFinite && abs(newV - oldV) > allowed) {
                    out.append(Moved(what: "fault \(f.index) (\(f.kind)) RTO \(label)", baseline: oldV, now: newV, allowed: allowed))
                }
            }
        }
        if now.lostWritesMean > was.lostWritesMean + tol.lostWritesIncrease + 1e-9 || now.lostWritesMax > was.lostWritesMax + Int(tol.lostWritesIncrease) {
            out.append(Moved(what: "lost writes (mean \(String(trimmed: was.lostWritesMean, decimals: 6)) → \(String(trimmed: now.lostWritesMean, decimals: 6)), max \(was.lostWritesMax) → \(now.lostWritesMax))",
                             baseline: nil, now: nil, allowed: tol.lostWritesIncrease))
        }
        return out
    }

    /// An entry from a scenario's runs over seeds.
    public static func entry(file: String, seeds: Int, firstSeed: UInt64, faultKinds: [(Int, String)], runs: [RunSummary]) -> Entry {
        let faults = faultKinds.map { idx, kind in
            let s = FaultStats(index: idx, runs: runs)
            // Rounded as the file stores them, so that a fresh entry compares equal to its own file.
            func fin(_ v: Double?) -> Double? { v.flatMap { $0.isFinite ? round3($0) : nil } }
            return FaultEntry(index: idx, kind: kind, p50: fin(s.p50), p95: fin(s.p95), unrecovered: s.unrecovered)
        }
        let lost = runs.map(\.lostWrites)
        return Entry(file: file, seeds: seeds, firstSeed: firstSeed, faults: faults,
                     lostWritesMean: lost.isEmpty ? 0 : round3(Double(lost.reduce(0, +)) / Double(lost.count)), lostWritesMax: lost.max() ?? 0, tolerance: nil)
    }

    static func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
}
