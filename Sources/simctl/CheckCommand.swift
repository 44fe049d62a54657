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
        Fails (exit 1) when an expectation fails on any seed, or when a scenario's p50 or p95 RTO moved (either way) beyond the baseline's tolerance (default: 10% or 1 s, whichever is larger), or its lost writes grew. A scenario the baseline does not have is reported and passes, unless --strict. Update the baseline on purpose with --update-baseline and commit it.

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
    var workers: Int?

    @Option(help: "Also record every run in this SQLite store.")
    var db: String?

    @Flag(help: "Fail when a scenario has no baseline entry, or its entry was measured over other seeds.")
    var strict = false

    func run() throws {
        guard seeds >= 1 else { throw InputError(message: "--seeds \(seeds): need at least one seed") }
        let (files, missing) = collectFiles(paths.isEmpty ? ["Scenarios"] : paths)
        var inputs: [Checker.Input] = []
        // Bad input is reported (and, with --junit, written as error test cases): nothing runs.
        var problems: [(file: String, message: String)] = missing.map { ($0, "\($0): no such scenario file or folder") }
        for m in problems { printErr(m.message) }
        if files.isEmpty && missing.isEmpty { problems.append((paths.joined(separator: " "), "no scenario files in \(paths.joined(separator: " "))")); printErr(problems.last!.message) }
        for f in files {
            switch loadScenarioQuietly(f) {
            case .success(let (s, text, path)): inputs.append(Checker.Input(path: path, text: text, scenario: s))
            case .failure(let p):
                for l in p.lines { printErr(l) }
                problems.append((f, p.lines.joined(separator: "\n")))
            }
        }
        if !problems.isEmpty {
            if let junit { try writeJUnit(Checker.junitErrors(problems), to: junit) }
            printErr("\(problems.count) problem\(problems.count == 1 ? "" : "s") in the input; nothing was run")
            throw ExitCode(2)
        }
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
        if let base, !updateBaseline {
            for inp in inputs {
                guard let e = base.entry(inp.name) else { continue }
                if e.seeds != seeds || e.firstSeed != firstSeed {
                    printErr("warning: \(inp.name): the baseline was measured over \(e.seeds) seeds from \(e.firstSeed); this check runs \(seeds) from \(firstSeed): its percentiles are not comparable\(strict ? "" : " (compared anyway; --strict fails)")")
                }
            }
        }
        var results = try Checker.run(inputs, seeds: seeds, firstSeed: firstSeed, workers: try workerCount(workers),
                                      baseline: updateBaseline ? nil : base, store: store, simctlVersion: Simctl.version,
                                      wallClock: wallSeconds, shouldStop: interruptRequested) { done, total in bar.update(done, total) }
        bar.finish()
        if Signals.interrupted {
            printErr("interrupted (\(Signals.name)): the check did not finish; nothing was compared\(updateBaseline ? " and the baseline was not written" : "")")
            throw ExitCode(Signals.exitCode)
        }
        let elapsed = wallSeconds() - t0
        if strict && !updateBaseline {
            for i in results.indices {
                if !results[i].inBaseline { results[i].strictFailures.append("not in the baseline \(baseline) (--strict)") }
                if let e = base?.entry(results[i].name), e.seeds != seeds || e.firstSeed != firstSeed {
                    results[i].strictFailures.append("the baseline was measured over \(e.seeds) seeds from \(e.firstSeed), this check over \(seeds) from \(firstSeed) (--strict)")
                }
            }
        }
        for r in results { print(line(r)) }
        let failed = results.filter { !$0.ok }
        print("\n\(results.count) scenario\(results.count == 1 ? "" : "s") × \(seeds) seeds in \(String(fixed: elapsed, decimals: 1)) s: "
              + (failed.isEmpty ? "all passed" : "\(failed.count) failed (\(failed.map(\.name).joined(separator: ", ")))"))
        let unbased = results.filter { !$0.inBaseline }
        if !updateBaseline && !unbased.isEmpty && !strict {
            print("note: \(unbased.count) scenario\(unbased.count == 1 ? " is" : "s are") not in \(baseline) and \(unbased.count == 1 ? "was" : "were") not compared: \(unbased.map(\.name).joined(separator: ", ")) (add with --update-baseline; --strict fails on this)")
        }
        if let junit {
            try writeJUnit(Checker.junit(results), to: junit)
            print("JUnit written: \(junit)")
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
        for m in r.strictFailures { s += "\n    failed: \(m)" }
        for f in r.failedExpectations.prefix(10) { s += "\n    failed: \(f)" }
        if r.failedExpectations.count > 10 { s += "\n    … \(r.failedExpectations.count - 10) more failed expectations" }
        return s
    }

    func writeJUnit(_ xml: String, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        guard FileManager.default.createFile(atPath: path, contents: Data(xml.utf8)) else {
            throw InputError(message: "--junit \(path): cannot write this file")
        }
    }
}
