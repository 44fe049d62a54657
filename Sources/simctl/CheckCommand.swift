import ArgumentParser
import Foundation
import SimCore
import Recording
import Scenario
import Store
import Experiments

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Regression-check scenarios: expectations on every seed, RTO percentiles and lost writes against a baseline.",
        discussion: """
        Fails (exit 1) when an expectation fails on any seed, or when a scenario's p50 or p95 RTO moved
        (either way) beyond the baseline's tolerance (default: 10% or 1 s, whichever is larger), or its
        lost writes grew. Update the baseline on purpose with --update-baseline and commit it.
        Example: simctl check Scenarios/ --junit Reports/check.xml
        """
    )

    @Argument(help: "Scenario files or folders (default: Scenarios/).")
    var paths: [String] = []

    @Option(help: "Seeds per scenario.")
    var seeds: Int = 30

    @Option(help: "The first seed.")
    var firstSeed: UInt64 = 1

    @Option(help: "The baseline file.")
    var baseline: String = "Reports/baseline.json"

    @Flag(help: "Write the measured figures as the new baseline (for the scenarios checked) instead of comparing.")
    var updateBaseline = false

    @Option(help: "Write JUnit XML here (one test case per scenario).")
    var junit: String?

    @Option(help: "Parallel runs (default: the number of cores).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Also record every run in this SQLite store.")
    var db: String?

    func run() throws {
        guard seeds >= 1 else { throw InputError(message: "--seeds \(seeds): need at least one seed") }
        let files = collectFiles(paths.isEmpty ? ["Scenarios"] : paths)
        if files.isEmpty { throw InputError(message: "no scenario files in \(paths.joined(separator: " "))") }
        var inputs: [Checker.Input] = []
        var bad = false
        for f in files {
            do {
                let (s, text, path) = try loadScenario(f, overrides: [])
                inputs.append(Checker.Input(path: path, text: text, scenario: s))
            } catch { bad = true }
        }
        if bad { throw ExitCode(2) }
        let names = inputs.map(\.name)
        if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw InputError(message: "two scenario files are named \(dup): the baseline keys scenarios by file name")
        }
        var base: Baseline? = nil
        if FileManager.default.fileExists(atPath: baseline) {
            do { base = try Baseline.read(path: baseline) } catch { throw InputError(message: error.description) }
        } else if !updateBaseline {
            printErr("warning: \(baseline) does not exist; checking expectations only (create it with --update-baseline)")
        }
        let store = try db.map(openStore)
        var bar = ProgressBar(label: "check")
        let t0 = wallSeconds()
        let results = try Checker.run(inputs, seeds: seeds, firstSeed: firstSeed, workers: max(1, workers),
                                      baseline: updateBaseline ? nil : base, store: store, simctlVersion: Simctl.version,
                                      wallClock: wallSeconds, shouldStop: interruptRequested) { done, total in bar.update(done, total) }
        bar.finish()
        if Signals.interrupted {
            printErr("interrupted (\(Signals.name)): the check did not finish; nothing was compared\(updateBaseline ? " and the baseline was not written" : "")")
            throw ExitCode(Signals.exitCode)
        }
        let elapsed = wallSeconds() - t0
        for r in results { print(line(r)) }
        let failed = results.filter { !$0.ok }
        print("\n\(results.count) scenario\(results.count == 1 ? "" : "s") × \(seeds) seeds in \(String(fixed: elapsed, decimals: 1)) s: "
              + (failed.isEmpty ? "all passed" : "\(failed.count) failed (\(failed.map(\.name).joined(separator: ", ")))"))
        if let junit {
            guard FileManager.default.createFile(atPath: junit, contents: Data(Checker.junit(results).utf8)) else {
                throw InputError(message: "--junit \(junit): cannot write this file")
            }
        }
        if updateBaseline {
            var b = base ?? Baseline()
            b.simctlVersion = Simctl.version
            for r in results {
                var e = r.entry
                e.tolerance = base?.entry(r.name)?.tolerance
                b.set(r.name, e)
            }
            let dir = (baseline as NSString).deletingLastPathComponent
            if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            guard FileManager.default.createFile(atPath: baseline, contents: Data((b.json.pretty + "\n").utf8)) else {
                throw InputError(message: "\(baseline): cannot write the baseline")
            }
            print("baseline written: \(baseline) (\(results.count) scenario\(results.count == 1 ? "" : "s"))")
            // Expectations still have to hold: a baseline does not excuse a broken promise.
            if results.contains(where: { !$0.failedExpectations.isEmpty }) { throw ExitCode(1) }
            return
        }
        if !failed.isEmpty { throw ExitCode(1) }
    }

    func line(_ r: CheckResult) -> String {
        let mark = r.ok ? "✔" : "✘"
        let rto = r.entry.faults.map { f in
            "fault \(f.index) \(f.kind) RTO p50 \(secondsText(f.p50)) p95 \(secondsText(f.p95))\(f.unrecovered > 0 ? " (\(f.unrecovered) never)" : "")"
        }.joined(separator: "; ")
        var s = "\(mark) \(r.name): \(rto.isEmpty ? "no outage measured" : rto); lost writes mean \(String(trimmed: r.entry.lostWritesMean, decimals: 2)) max \(r.entry.lostWritesMax)"
        if !r.inBaseline && !updateBaseline { s += " (not in the baseline)" }
        for m in r.moved { s += "\n    moved: \(m)" }
        for f in r.failedExpectations.prefix(10) { s += "\n    failed: \(f)" }
        if r.failedExpectations.count > 10 { s += "\n    … \(r.failedExpectations.count - 10) more failed expectations" }
        return s
    }

    /// Files as given, and the `.yml` files of folders (sorted).
    func collectFiles(_ items: [String]) -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for item in items {
            var isDir: ObjCBool = false
            let resolved = resolvePath(item) ?? item
            if fm.fileExists(atPath: resolved, isDirectory: &isDir), isDir.boolValue {
                let entries = (try? fm.contentsOfDirectory(atPath: resolved)) ?? []
                out += entries.filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted().map { (resolved as NSString).appendingPathComponent($0) }
            } else {
                out.append(item)
            }
        }
        return out
    }
}
