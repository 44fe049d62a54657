import ArgumentParser
import Foundation
import SimCore
import Recording
import Scenario
import Store
import Experiments
import Analysis

struct ExploreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explore",
        abstract: "Generate random fault schedules against a scenario's cluster, check safety and liveness properties on every run, and shrink each failure to a minimal scenario that replays it.",
        discussion: """
        Each file is the cluster under test: its topology, settings, workload, noise and expectations (its own faults are dropped, or kept as a prefix with --keep-faults). Every run draws a swarm — which fault kinds are enabled, how many faults (1–6), when (a third of them during or just after the previous one) and on what (roles resolve when they fire) — then heals everything (`heal: all`, resume_cluster) and gives the cluster a bound derived from its settings to converge. Properties: run.ends, rto.*, findings.consistent, every model invariant (invariant.*: Raft safety, no synchronous commit lost, ...), safety.acknowledged_writes (when the settings promise no loss), safety.split_brain_with_watchdog, safety.leader_key_handover, safety.timeline_reused, liveness.converged, and the scenario's expectations (expect.*; --ignore-expect drops them). The first failing run of each property and file is shrunk (fewer faults, earlier and rounder times, shorter durations, simpler targets, fewer nodes; each step re-run) and written to --out as <property>-<seed>.yml, an ordinary scenario file. Exit status 1 when anything failed.

        Examples:
          simctl explore Scenarios/partition.yml --runs 500 --seed 1
          simctl explore Scenarios/ --time 10m --ignore-expect
        """
    )

    @Argument(help: "Scenario files or folders (default: Scenarios/).")
    var paths: [String] = []

    @Option(help: "Runs in all, spread over the files (default: 200 without --time).")
    var runs: Int?

    @Option(help: ArgumentHelp("Explore for this long (wall clock) instead of a number of runs, e.g. 10m.", valueName: "duration"))
    var time: String?

    @Option(help: "The exploration's seed: the same seed explores the same schedules.")
    var seed: UInt64 = 1

    @Flag(help: "Keep the scenario's own faults as a prefix of every schedule.")
    var keepFaults = false

    @Flag(help: "Do not check the scenario's expect section (its RTO bounds were written for its own faults).")
    var ignoreExpect = false

    @Option(help: ArgumentHelp("A property whose failures are reported (and shrunk) but do not fail the exploration: a weakness you know of and keep as a scenario. Repeatable.", valueName: "property"))
    var allow: [String] = []

    @Option(help: "Runs each shrink may spend.")
    var shrinkBudget: Int = 300

    @Option(help: "Folder for the shrunk reproducers.")
    var out: String = "Reports/explore"

    @Option(help: "Parallel runs (default: the number of cores).")
    var workers: Int?

    @Option(help: "The SQLite store (default: Reports/simctl.sqlite).")
    var db: String = defaultStore

    @Flag(help: "Do not record anything in a store.")
    var noStore = false

    func run() throws {
        let workers = try workerCount(self.workers)
        if let r = runs, r < 1 { throw InputError(message: "--runs \(r): need at least one run") }
        guard shrinkBudget >= 0 else { throw InputError(message: "--shrink-budget \(shrinkBudget): must not be negative") }
        var seconds: Double? = nil
        if let t = time {
            guard let ns = try? DurationText.parse(t, bareUnit: Time.s), ns > 0 else {
                throw InputError(message: "--time \(t): expected a duration such as 90s or 10m")
            }
            seconds = Double(ns) / 1e9
        }
        if time != nil && runs != nil { throw InputError(message: "--runs and --time: give one budget, not both") }
        for a in allow where !ExploreProperties.names.contains(a) && !ExploreProperties.names.contains(where: { $0.hasSuffix(".*") && a.hasPrefix($0.dropLast()) }) {
            throw InputError(message: "--allow \(a): not a property; expected one of \(ExploreProperties.names.joined(separator: ", "))")
        }
        let (files, missing) = collectFiles(paths.isEmpty ? ["Scenarios"] : paths)
        for m in missing { printErr("\(m): no such scenario file or folder") }
        if !missing.isEmpty { throw ExitCode(2) }
        if files.isEmpty { throw InputError(message: "no scenario files in \(paths.joined(separator: " "))") }
        var targets: [ExploreTarget] = []
        var bad = false
        for f in files {
            guard let path = resolveScenarioPath(f), let data = FileManager.default.contents(atPath: path) else {
                printErr("\(f): cannot read this file")
                bad = true
                continue
            }
            switch ExploreTarget.make(file: f, text: String(decoding: data, as: UTF8.self), keepFaults: keepFaults) {
            case .success(let t): targets.append(t)
            case .failure(let e):
                for d in e.diagnostics { printErr(d.description) }
                bad = true
            }
        }
        if bad { throw ExitCode(2) }
        let store = noStore ? nil : try openStore(db)
        let started = isoNow()
        let explorations = try store.map { s in
            try targets.indices.map { k in
                try s.insertExploration(file: targets[k].file, sha256: SHA256.hex(Array(targets[k].text.utf8)), seed: seed &+ UInt64(k),
                                        simctlVersion: Simctl.version, started: started)
            }
        }
        let budget = runs ?? (seconds == nil ? 200 : nil)
        let t0 = wallSeconds()
        let deadline = seconds.map { t0 + $0 }
        var bar = ProgressBar(label: "explore \(seed)")
        var failedRunIDs: [String: Int64] = [:]
        let report = try Explorer.run(targets, seed: seed, runs: budget, workers: workers, checkExpect: !ignoreExpect, shrinkBudget: shrinkBudget,
                                      timeUp: { interruptRequested() || deadline.map { wallSeconds() >= $0 } ?? false }, wallClock: wallSeconds,
                                      onRun: { d in
            guard let store, let ex = explorations else { return }
            var runID: Int64? = nil
            if !d.failures.isEmpty {
                let meta = RunMeta(scenarioFile: targets[d.target].file, scenarioSHA256: SHA256.hex(Array(d.text.utf8)), overrides: [],
                                   simctlVersion: Simctl.version, scenarioText: d.text, hosts: RunStory.hosts(d.scenario))
                runID = try store.save(d.run, d.findings, meta: meta)
                failedRunIDs["\(d.target) \(d.index)"] = runID
            }
            try store.insertExploreRun(ex[d.target], index: d.index, seed: d.schedule.seed, kinds: d.schedule.kinds, faults: d.schedule.faults.map(\.yaml),
                                       events: d.run.events, traceHash: d.run.traceHash, failed: Array(Set(d.failures.map(\.property))).sorted(), runID: runID)
        }, progress: { done, total in
            if let total { bar.update(done, total) } else if let s = seconds { bar.update(Int(wallSeconds() - t0), Int(s), unit: "s") }
        }, shrinking: { p, f in
            bar.finish()
            if isTerminal(2) { printErrNoNewline("shrinking \(p) (\(f))…\r") }
        })
        bar.finish()
        let elapsed = wallSeconds() - t0
        if Signals.interrupted {
            printErr("interrupted (\(Signals.name)) after \(report.runs) runs")
            throw ExitCode(Signals.exitCode)
        }
        // Reproducers: the shrunk schedules as scenario files.
        var written: [(Explorer.Failure, String, String)] = []
        if report.failures.contains(where: { $0.shrunk != nil }) {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        }
        for f in report.failures where f.shrunk != nil {
            let s = f.shrunk!
            var path = (out as NSString).appendingPathComponent("\(f.property)-\(s.seed).yml")
            if written.contains(where: { $0.1 == path }) { path = (out as NSString).appendingPathComponent("\(f.property)-\(Explorer.baseName(targets[f.target].file))-\(s.seed).yml") }
            let text = Explorer.reproducer(targets[f.target], f, path: path, checkExpect: !ignoreExpect)
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { throw InputError(message: "--out \(out): cannot write \(path)") }
            written.append((f, path, "simctl run \(shellQuote(path)) --seed \(s.seed)"))
        }
        if let store, let ex = explorations {
            for f in report.failures {
                let w = written.first { $0.0.target == f.target && $0.0.index == f.index }
                for p in f.failures {
                    let first = p.property == f.property
                    let shrunkFaults: Int? = first ? f.shrunk?.faults.count : nil
                    let shrinkRuns: Int? = first && f.shrunk != nil ? f.shrinkRuns : nil
                    try store.insertExploreFailure(ex[f.target], index: f.index, property: p.property, detail: p.detail, faults: f.schedule.faults.count,
                                                   shrunkFaults: shrunkFaults, shrinkRuns: shrinkRuns, reproducer: first ? w?.1 : nil,
                                                   replay: first ? w?.2 : nil)
                }
            }
            for k in targets.indices {
                let mine = report.failures.filter { $0.target == k }.count
                try store.finishExploration(ex[k], runs: report.runsPerTarget[k], failedRuns: mine, at: isoNow())
            }
        }
        print(summary(report, targets: targets, elapsed: elapsed, written: written))
        let failing = report.failures.filter { f in f.failures.contains { !allow.contains($0.property) } }
        if !report.invalid.isEmpty || !failing.isEmpty { throw ExitCode(1) }
    }

    func summary(_ r: Explorer.Report, targets: [ExploreTarget], elapsed: Double, written: [(Explorer.Failure, String, String)]) -> String {
        var lines = ["explore \(seed): \(r.runs) runs of \(targets.count) scenario\(targets.count == 1 ? "" : "s") in \(String(fixed: elapsed, decimals: 1)) s "
                     + "(\(String(fixed: Double(r.runs) / max(elapsed, 1e-9), decimals: 1)) runs/s, \(r.events) events)" + (noStore ? "" : "; stored in \(db)")]
        lines.append("  properties: " + ExploreProperties.names.joined(separator: ", "))
        lines.append("  fault kinds: " + r.kindCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        for (k, i, e) in r.invalid.prefix(5) { lines.append("  generator produced a scenario that does not load (\(targets[k].file), run \(i)): \(e)") }
        if r.failures.isEmpty {
            lines.append("  no property failed")
            return lines.joined(separator: "\n")
        }
        lines.append("  failed runs by property:")
        for (p, n) in r.byProperty.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) { lines.append("    \(p): \(n)" + (allow.contains(p) ? " (allowed)" : "")) }
        lines.append("  reproducers (each shrunk from the property's first failing run):")
        for (f, path, replay) in written {
            let s = f.shrunk!
            lines.append("    \(f.property) on \(targets[f.target].file), run \(f.index): \(f.schedule.faults.count) → \(s.faults.count) fault(s) in \(f.shrinkRuns) shrinking runs")
            lines.append("      \(path)")
            lines.append("      \(replay)")
        }
        return lines.joined(separator: "\n")
    }
}
