import ArgumentParser
import Foundation
import SimCore
import Experiments
import Scenario

/// `simctl self-check`: simctl checking itself at a larger budget than `swift test` affords.
struct SelfCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "self-check",
        abstract: "Check simctl itself: random valid scenarios (swarm) against the properties every run must have; mutated scenarios (fuzz) against crashes, hangs and messages without a position.",
        subcommands: [SwarmCommand.self, FuzzCommand.self]
    )
}

struct SwarmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm",
        abstract: "Run random valid scenarios (every fault kind, random topologies and settings) and check every run's properties.",
        discussion: """
        Properties: the run ends (virtual time advances), RTO and its phases are never negative and add up, no model invariant is violated (Raft safety, one leader-key holder, no synchronous commit lost), and lost-write counts agree between the findings, the JSON and the store's summary. Failing scenarios are written to --out as ordinary scenario files that `simctl run` replays.

        Example: simctl self-check swarm --runs 3000 --seed 1
        """
    )

    @Option(help: "Number of generated scenarios.")
    var runs: Int = 300

    @Option(help: "The swarm's seed.")
    var seed: UInt64 = 1

    @Option(help: "Index of the first scenario (to replay a slice).")
    var first: Int = 0

    @Option(help: "Parallel runs (default: the number of cores).")
    var workers: Int?

    @Option(help: "Folder for the failing scenarios.")
    var out: String = "Reports/swarm"

    func run() throws {
        guard runs >= 1 else { throw InputError(message: "--runs \(runs): need at least one run") }
        let workers = try workerCount(self.workers)
        guard first >= 0 else { throw InputError(message: "--first \(first): must not be negative") }
        var bar = ProgressBar(label: "swarm \(seed)")
        let t0 = wallSeconds()
        let report = try SwarmRunner.run(seed: seed, first: first, count: runs, workers: workers, wallClock: wallSeconds,
                                         shouldStop: interruptRequested) { d, t in bar.update(d, t) }
        bar.finish()
        if Signals.interrupted {
            printErr("interrupted (\(Signals.name)) after \(report.runs) runs")
            throw ExitCode(Signals.exitCode)
        }
        let elapsed = wallSeconds() - t0
        print("swarm \(seed): \(report.runs) runs in \(String(fixed: elapsed, decimals: 1)) s (\(String(fixed: Double(report.runs) / max(elapsed, 1e-9), decimals: 1)) runs/s, \(report.events) events)")
        for (i, e) in report.invalid { print("  generator produced an invalid scenario \(i): \(e)") }
        print("  fault kinds: " + report.kindCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        var byProperty: [String: Int] = [:]
        for f in report.failures { for p in Set(f.failures.map(\.property)) { byProperty[p, default: 0] += 1 } }
        if report.failures.isEmpty && report.invalid.isEmpty {
            print("  every property held")
            return
        }
        print("  failures by property: " + byProperty.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for f in report.failures {
            let path = "\(out)/\(f.name).yml"
            let text = f.failures.map { "# \($0.description)" }.joined(separator: "\n") + "\n" + f.yaml
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            print("  \(path): " + f.failures.map(\.description).joined(separator: "; "))
        }
        throw ExitCode(1)
    }
}

struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Feed mutated library scenarios to the loader and a short run: nothing may crash or hang, every message needs a position and a key path.",
        discussion: """
        Mutations: deleted, duplicated and swapped keys; values of the wrong type; huge, tiny, zero and negative numbers; anchors and aliases; tabs; control characters and junk. Each case that loads runs 60 s of simulated time with an event and wall budget. Failing cases are written to --out.

        Example: simctl self-check fuzz --cases 20000 --seed 1
        """
    )

    @Option(help: "Number of mutated scenarios.")
    var cases: Int = 2000

    @Option(help: "The fuzzer's seed.")
    var seed: UInt64 = 1

    @Option(help: "The scenarios to mutate.")
    var scenarios: String = "Scenarios"

    @Option(help: "Folder for the failing cases.")
    var out: String = "Reports/fuzz"

    func run() throws {
        guard cases > 0 else { throw InputError(message: "--cases \(cases): expected at least 1") }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: scenarios)) ?? []).filter { $0.hasSuffix(".yml") }.sorted()
        let library = names.compactMap { FileSource.disk.read(scenarios + "/" + $0) }
        guard !library.isEmpty else { throw InputError(message: "--scenarios \(scenarios): no .yml scenario files there") }
        var fuzzer = ScenarioFuzzer(seed: seed)
        var problems: [FuzzProblem] = []
        let started = wallSeconds()
        for k in 0..<cases {
            if interruptRequested() { break }
            let text = fuzzer.mutate(library[k % library.count])
            let t0 = wallSeconds()
            var found = FuzzCheck.check(text, index: k, wallClock: wallSeconds)
            if wallSeconds() - t0 > 10 { found.append(FuzzProblem(caseIndex: k, message: "took \(Int(wallSeconds() - t0)) s", text: text)) }
            for p in found {
                printErr(p.description)
                try? FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try? writeAtomically(p.text, to: "\(out)/case-\(seed)-\(k).yml", option: "--out")
            }
            problems += found
        }
        print("\(cases) mutated scenarios in \(Int(wallSeconds() - started)) s: \(problems.isEmpty ? "no problem" : "\(problems.count) problem(s), written to \(out)")")
        if !problems.isEmpty { throw ExitCode(1) }
    }
}
