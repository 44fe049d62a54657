import ArgumentParser
import Foundation
import SimCore
import Recording
import Scenario
import Store
import Experiments
import Report

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a scenario over a grid of settings × many seeds and compare the settings.",
        discussion: """
        Every combination of the listed values runs with seeds first-seed … first-seed+seeds−1; seed k is the same in every setting (common random numbers). Each finished run is stored at once, so an interrupted sweep keeps its runs and --resume continues it. --shard i/n runs the i-th of n disjoint slices (for a batch system); `simctl merge` combines the stores, and the same sweep command with --resume on the merged store prints the combined table.

        Examples:
          simctl sweep Scenarios/primary-crash.yml --set patroni.ttl=20,30,45 --set patroni.loop_wait=5,10 --seeds 100
          simctl sweep Scenarios/lagging-replicas.yml --set patroni.maximum_lag_on_failover=0..16MB/4MB --seeds 200 \\
              --objective 'min rto.p99 where rpo.max_writes == 0'
        """
    )

    @Argument(help: "The scenario file.")
    var file: String

    @Option(name: .customLong("set"), help: ArgumentHelp("key=v1,v2,... or key=a..b/step (a sweep axis), or key=value (fixed). Repeatable.", valueName: "key=values"))
    var sets: [String] = []

    @Option(help: "Seeds per setting.")
    var seeds: Int = 100

    @Option(help: "The first seed.")
    var firstSeed: UInt64 = 1

    @Option(help: "Parallel runs (default: the number of cores).")
    var workers: Int?

    @Option(help: "The SQLite store.")
    var db: String = "Reports/simctl.sqlite"

    @Flag(help: "Continue the same sweep found in the store: run only what is missing.")
    var resume = false

    @Option(help: "Stop after this many runs (continue later with --resume).")
    var maxRuns: Int?

    @Option(help: ArgumentHelp("Run only the i-th of n disjoint slices (1 ≤ i ≤ n); 'auto' (or auto/N) reads i and n from the batch system: Kubernetes Indexed Jobs, Slurm arrays, AWS Batch array jobs, GitLab/CircleCI/Buildkite parallelism, or SIMCTL_SHARD_INDEX/SIMCTL_SHARD_COUNT.", valueName: "i/n"))
    var shard: String?

    @Option(help: ArgumentHelp("Pick the best setting: 'min|max METRIC [where METRIC OP NUMBER [and ...]]'.", valueName: "expr"))
    var objective: String?

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Option(help: "Also write the table as CSV to this file.")
    var csv: String?

    @Option(help: "Write an HTML page of the sweep here: RTO distributions, lost writes and split brain per setting, a heatmap for a 2-D grid.")
    var html: String?

    func run() throws {
        guard seeds >= 1 else { throw InputError(message: "--seeds \(seeds): need at least one seed") }
        let workers = try workerCount(self.workers)
        if let m = maxRuns, m < 0 { throw InputError(message: "--max-runs \(m): must not be negative") }
        let shardSpec = try parseShard(shard)
        let grid: Grid
        do { grid = try Grid.parse(sets) } catch { throw InputError(message: error.description) }
        let obj: Objective?
        do { obj = try objective.map { o throws(Objective.ParseError) in try Objective.parse(o) } } catch { throw InputError(message: error.description) }
        guard let path = resolveScenarioPath(file) else { throw InputError(message: "\(file): no such scenario file") }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw InputError(message: "\(path): cannot read the file as UTF-8 text")
        }
        let plan: SweepPlan
        switch SweepPlan.make(text: text, path: path, grid: grid, seeds: seeds, firstSeed: firstSeed) {
        case .success(let p): plan = p
        case .failure(let e):
            for d in e.diagnostics { printErr(d.description) }
            printErr("\(path): \(e.diagnostics.count) problem(s) in the sweep's settings; nothing was run or stored")
            throw ExitCode(2)
        }
        if let html { try checkWritable(html, option: "--html") }
        if let csv { try checkWritable(csv, option: "--csv") }
        let labels = shortLabels(plan)
        // Patroni's own adjustments (ttl 20 with loop_wait 10 runs as loop_wait 1...): say so,
        // or two settings that Patroni runs alike look like a finding.
        var seen: Set<String> = []
        for (i, s) in plan.scenarios.enumerated() {
            for w in s.warnings where seen.insert("\(i)|\(w.description)").inserted && plan.grid.pointCount > 1 {
                printErr("setting \(labels[plan.pointJSON(i)] ?? ""): \(w.description)")
            }
        }
        let store = try openStore(db)
        var bar = ProgressBar(label: plan.name)
        let t0 = wallSeconds()
        var ran = 0
        let row: SweepRow
        do {
            row = try Sweeper.run(plan, store: store, resume: resume, shard: shardSpec, workers: workers, simctlVersion: Simctl.version,
                                  maxRuns: maxRuns, timestamp: isoNow, wallClock: wallSeconds, shouldStop: interruptRequested) { done, total in
                ran = done
                bar.update(done, total)
            }
        } catch let e as Sweeper.AlreadyStored {
            throw InputError(message: "\(db): \(e.description)")
        }
        bar.finish()
        if Signals.interrupted {
            let stored = try store.doneRuns(sweep: row.id).count
            printErr("interrupted (\(Signals.name)): \(ran) run\(ran == 1 ? "" : "s") finished now, \(stored) of \(plan.runCount) stored in \(db) (sweep \(row.id)); the runs in flight were dropped.")
            printErr("continue with the same command and --resume:\n  simctl sweep \(CommandLine.arguments.dropFirst(2).filter { $0 != "--resume" }.map(shellQuote).joined(separator: " ")) --resume")
            throw ExitCode(Signals.exitCode)
        }
        let elapsed = wallSeconds() - t0
        let order = plan.points.indices.map(plan.pointJSON)
        let stats = try Sweeper.table(store: store, sweep: row.id, order: order)
        let pick = obj.map { Sweeper.recommend($0, stats, plan) }
        let best = pick?.setting
        if let csv {
            guard FileManager.default.createFile(atPath: csv, contents: Data(csvText(plan, stats).utf8)) else {
                throw InputError(message: "--csv \(csv): cannot write this file")
            }
        }
        if let html {
            let page = SweepHTML.render(htmlInput(plan, stats, labels: labels, objective: obj?.text, best: best))
            guard FileManager.default.createFile(atPath: html, contents: Data(page.utf8)) else { throw InputError(message: "--html \(html): cannot write this file") }
        }
        if json {
            print(jsonSummary(plan, row, stats, pick, obj, ran: ran, elapsed: elapsed).pretty)
            return
        }
        let stored = stats.reduce(0) { $0 + $1.runs }
        print("\(plan.name): \(plan.points.count) setting\(plan.points.count == 1 ? "" : "s") × \(plan.seeds) seeds = \(plan.runCount) runs"
              + " (sweep \(row.id) in \(db); ran \(ran) now in \(String(fixed: elapsed, decimals: 1)) s\(ran > 0 && elapsed > 0 ? ", \(String(fixed: Double(ran) / elapsed, decimals: 1)) runs/s" : ""); \(stored) stored)")
        if let s = shardSpec { print("shard \(s.0)/\(s.1): the table shows the runs in this store") }
        print()
        print(table(stats, labels: labels))
        print(worstRuns(plan, stats, labels: labels))
        if let obj, let pick {
            if let b = pick.setting {
                let v = b.metric(obj.metric)
                let shown = obj.metric.hasPrefix("rto.p") || obj.metric == "rto.max" ? secondsText(v) : v.map { String(trimmed: $0, decimals: 6) } ?? "—"
                print("\nbest (\(obj.text)): \(labels[b.point] ?? b.point) — \(obj.metric) \(shown)")
                if let note = pick.note { print("  \(note)") }
            } else {
                print("\nbest (\(obj.text)): no setting meets the conditions")
            }
        }
        if let html { print("\nHTML written: \(html)") }
    }

    /// The command that replays a run: the setting, and an episode's source as the sweep fixed it.
    func replay(_ plan: SweepPlan, _ i: Int, seed: UInt64, episodeSource: Int? = nil) -> String {
        let source = plan.episodic ? episodeSource.map { plan.sourceOverride(i, $0) }.map { ["\($0.key)=\($0.value)"] } ?? [] : []
        let sets = (plan.grid.fixed + plan.points[i].map { "\($0.key)=\($0.value)" } + source).map { "--set " + shellQuote($0) }.joined(separator: " ")
        return "simctl run \(shellQuote(plan.scenarioPath)) --seed \(seed)\(sets.isEmpty ? "" : " " + sets)"
    }

    func worstText(_ w: SettingStats.RunPoint) -> String {
        var what: [String] = []
        if let r = w.rto { what.append(r.isInfinite ? "never recovered" : "RTO \(secondsText(r))") }
        if w.lostWrites > 0 { what.append("\(w.lostWrites) lost") }
        if w.splitBrain { what.append("split brain") }
        if w.falseFailovers > 0 { what.append("\(w.falseFailovers) false failover\(w.falseFailovers == 1 ? "" : "s")") }
        return "seed \(w.seed), \(what.isEmpty ? "no outage" : what.joined(separator: ", "))" + (w.runID.map { " (run \($0))" } ?? "")
    }

    func htmlInput(_ plan: SweepPlan, _ stats: [SettingStats], labels: [String: String], objective: String?, best: SettingStats?) -> SweepHTML.Input {
        let rows: [SweepHTML.Row] = stats.compactMap { s in
            guard let i = plan.points.indices.first(where: { plan.pointJSON($0) == s.point }) else { return nil }
            return SweepHTML.Row(label: labels[s.point] ?? s.point, adjusted: plan.adjusted(i), rtos: s.rtos, runs: s.runs, lostMean: s.lostWritesMean,
                                 lostMax: s.lostWritesMax, runsWithLoss: s.runsWithLoss, splitBrainRuns: s.splitBrainRuns, failedRuns: s.failedRuns,
                                 worst: s.worst.map { (worstText($0), replay(plan, i, seed: $0.seed, episodeSource: $0.episodeSource)) }, values: plan.points[i].map(\.value))
        }
        return SweepHTML.Input(title: plan.name, file: plan.scenarioPath, seeds: plan.seeds, axes: plan.grid.axes.map { ($0.key, $0.values) }, rows: rows,
                               objective: objective, best: best.flatMap { labels[$0.point] })
    }

    /// Each setting's worst runs, each with the command that replays it.
    func worstRuns(_ plan: SweepPlan, _ stats: [SettingStats], labels: [String: String]) -> String {
        var lines = ["", "worst runs (replay one with the command shown; simctl show RUN prints its report):"]
        for s in stats {
            guard let i = plan.points.indices.first(where: { plan.pointJSON($0) == s.point }) else { continue }
            for w in s.worst {
                lines.append("  \(labels[s.point] ?? s.point): \(worstText(w))")
                lines.append("      " + replay(plan, i, seed: w.seed, episodeSource: w.episodeSource))
            }
        }
        return lines.joined(separator: "\n")
    }

    func parseShard(_ s: String?) throws -> (Int, Int)? {
        guard let s else { return nil }
        if s.hasPrefix("auto") {
            do {
                let r = try ShardSource.resolve(s, environment: ProcessInfo.processInfo.environment)
                FileHandle.standardError.write(Data("shard \(r.index)/\(r.count) (from \(r.source))\n".utf8))
                return (r.index, r.count)
            } catch { throw InputError(message: error.description) }
        }
        let parts = s.split(separator: "/").map { Int($0) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, i >= 1, i <= n else {
            throw InputError(message: "--shard \(s): expected i/n with 1 ≤ i ≤ n, e.g. --shard 2/4")
        }
        return (i, n)
    }

    /// `ttl=20 loop_wait=5`: each key by its last component unless two share it.
    func shortLabels(_ plan: SweepPlan) -> [String: String] {
        let keys = plan.grid.axes.map(\.key)
        let last = keys.map { String($0.split(separator: ".").last ?? Substring($0)) }
        let short = Set(last).count == last.count
        var out: [String: String] = [:]
        for (i, p) in plan.points.enumerated() {
            let eff = plan.effective(i)
            out[plan.pointJSON(i)] = p.isEmpty ? "(as written)" : p.enumerated().map { j, kv in
                let name = short ? last[j] : kv.key
                return eff[j].value == kv.value ? "\(name)=\(kv.value)" : "\(name)=\(kv.value)→\(eff[j].value)"
            }.joined(separator: " ")
        }
        return out
    }

    func table(_ stats: [SettingStats], labels: [String: String]) -> String {
        var rows: [[String]] = [["setting", "runs", "RTO p50", "p95", "p99", "max", "never", "lost writes mean", "max", "runs", "split brain", "failed"]]
        for s in stats {
            rows.append([labels[s.point] ?? s.point, "\(s.runs)", secondsText(s.p50), secondsText(s.p95), secondsText(s.p99), secondsText(s.max),
                         "\(s.unrecovered)", String(trimmed: s.lostWritesMean, decimals: 2), "\(s.lostWritesMax)", "\(s.runsWithLoss)",
                         "\(s.splitBrainRuns)", "\(s.failedRuns)"])
        }
        var text = aligned(rows)
        if stats.contains(where: { $0.noise != nil }) {
            // The cost side: what the scenario's noise does to each setting, per year.
            var n: [[String]] = [["setting", "runs", "method", "false failovers/yr", "95 % CI", "demotions/yr", "lock failures/yr", "etcd elections/yr",
                                  "downtime/yr", "availability", "lost writes/yr"]]
            for s in stats {
                guard let r = s.noise else { continue }
                n.append([labels[s.point] ?? s.point, "\(r.runs)", r.episodes ? "episodes" : "direct", rateText(r.falseFailovers.rate),
                          "\(rateText(r.falseFailovers.lo))–\(rateText(r.falseFailovers.hi))", rateText(r.demotions.rate), rateText(r.leaderLockFailures.rate),
                          rateText(r.etcdElections.rate), DurationText.format(Time.fromSeconds(r.downtime.rate.rounded())),
                          String(trimmed: r.availability * 100, decimals: 5) + " %", rateText(r.lostWrites.rate)])
            }
            text += "\n\n  Under the scenario's noise (per year; rates outside injected faults):\n" + aligned(n)
        }
        return text
    }

    func rateText(_ v: Double) -> String {
        if v == 0 { return "0" }
        if v >= 100 { return String(Int(v.rounded())) }
        return String(trimmed: v, decimals: v >= 1 ? 1 : 3)
    }

    func aligned(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        var lines: [String] = []
        for r in rows {
            var cells: [String] = []
            for (c, v) in r.enumerated() {
                let pad = String(repeating: " ", count: widths[c] - v.count)
                cells.append(c == 0 ? v + pad : pad + v)
            }
            lines.append("  " + cells.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }

    func csvText(_ plan: SweepPlan, _ stats: [SettingStats]) -> String {
        let keys = plan.grid.axes.map(\.key)
        var lines = [(keys + keys.map { "\($0) (effective)" } + SettingStats.metricNames).joined(separator: ",")]
        for s in stats {
            let i = plan.points.indices.first { plan.pointJSON($0) == s.point }
            let values = (i.map { plan.points[$0].map(\.value) } ?? Array(repeating: "", count: keys.count))
                + (i.map { plan.effective($0).map(\.value) } ?? Array(repeating: "", count: keys.count))
            let metrics = SettingStats.metricNames.map { m in s.metric(m).map { $0.isInfinite ? "inf" : String(trimmed: $0, decimals: 6) } ?? "" }
            lines.append((values.map(csvField) + metrics).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func csvField(_ v: String) -> String {
        v.contains(",") || v.contains("\"") ? "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : v
    }

    func jsonSummary(_ plan: SweepPlan, _ row: SweepRow, _ stats: [SettingStats], _ pick: Sweeper.Recommendation?, _ obj: Objective?, ran: Int, elapsed: Double) -> JSON {
        func num(_ v: Double?) -> JSON { v.map { $0.isFinite ? .double($0) : .string("never") } ?? .null }
        func setting(_ s: SettingStats) -> JSON {
            let i = plan.points.indices.first { plan.pointJSON($0) == s.point }
            return .object([
                ("setting", .object((i.map { plan.points[$0] } ?? []).map { ($0.key, .string($0.value)) })),
                ("effective", .object((i.map { plan.effective($0) } ?? []).map { ($0.key, .string($0.value)) })),
                ("worst", .array(s.worst.map { w in
                    .object([("seed", .int(Int64(bitPattern: w.seed))), ("run_id", w.runID.map { .int($0) } ?? .null), ("rto_seconds", num(w.rto)),
                             ("lost_writes", .int(Int64(w.lostWrites))), ("split_brain", .bool(w.splitBrain))])
                })),
                ("runs", .int(Int64(s.runs))),
                ("rto_seconds", .object([("p50", num(s.p50)), ("p95", num(s.p95)), ("p99", num(s.p99)), ("max", num(s.max)),
                                         ("never_recovered", .int(Int64(s.unrecovered)))])),
                ("lost_writes", .object([("mean", .double(s.lostWritesMean)), ("max", .int(Int64(s.lostWritesMax))), ("runs_with_loss", .int(Int64(s.runsWithLoss)))])),
                ("split_brain_runs", .int(Int64(s.splitBrainRuns))),
                ("failed_expectation_runs", .int(Int64(s.failedRuns))),
                ("noise", s.noise.map { r in
                    func est(_ e: NoiseRates.Estimate) -> JSON { .object([("rate", .double(e.rate)), ("ci95_low", .double(e.lo)), ("ci95_high", .double(e.hi))]) }
                    return .object([("runs", .int(Int64(r.runs))), ("method", .string(r.episodes ? "episodes" : "direct")),
                                    ("false_failovers_per_year", est(r.falseFailovers)), ("demotions_per_year", est(r.demotions)),
                                    ("leader_lock_failures_per_year", est(r.leaderLockFailures)), ("etcd_elections_per_year", est(r.etcdElections)),
                                    ("lost_writes_per_year", est(r.lostWrites)), ("downtime_seconds_per_year", est(r.downtime)),
                                    ("availability", .double(r.availability)), ("nines", .double(r.nines))])
                } ?? .null),
            ])
        }
        return .object([
            ("scenario", .string(plan.name)), ("file", .string(plan.scenarioPath)), ("sweep_id", .int(row.id)),
            ("grid", plan.grid.json), ("fixed", .array(plan.grid.fixed.map(JSON.string))),
            ("seeds", .int(Int64(plan.seeds))), ("first_seed", .int(Int64(bitPattern: plan.firstSeed))),
            ("runs_now", .int(Int64(ran))), ("wall_seconds", .double(elapsed)),
            ("settings", .array(stats.map(setting))),
            ("objective", obj.map { .string($0.text) } ?? .null), ("best", pick?.setting.map(setting) ?? .null),
            ("best_note", pick?.note.map(JSON.string) ?? .null),
        ])
    }
}

/// A shell word as typed: quoted when it holds anything a shell would split or expand.
func shellQuote(_ s: String) -> String {
    let plain = s.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,:@%+".contains($0) }
    return plain && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// The wall-clock time for the sweeps table (never read by a simulation).
func isoNow() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date())
}
