import ArgumentParser
import Foundation
import SimCore
import Experiments

/// `simctl self-check`: simctl checking itself at a larger budget than `swift test` affords.
struct SelfCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "self-check",
        abstract: "Check simctl itself: random valid scenarios (swarm) against the properties every run must have.",
        subcommands: [SwarmCommand.self]
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
