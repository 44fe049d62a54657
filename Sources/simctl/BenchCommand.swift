import ArgumentParser
import Foundation
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure simulation speed: kernel events/s, full-model events/s and the realtime factor.",
        discussion: "Build in release mode for meaningful numbers: swift build -c release && .build/release/simctl bench"
    )

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Events for the kernel benchmark.")
    var kernelEvents: UInt64 = 20_000_000

    @Option(help: "Scenario for the full-model benchmark.")
    var scenario: String = "Scenarios/partition.yml"

    @Option(help: "Repetitions (the best is reported).")
    var repeats: Int = 3

    @Option(help: "Scenario for the sweep-throughput benchmark (whole runs with analysis, one core).")
    var sweepScenario: String = "Scenarios/primary-crash.yml"

    @Option(help: "Runs (seeds) for the sweep-throughput benchmark.")
    var sweepRuns: Int = 40

    @Option(help: "Seeds per setting for the noise what-if sweep (ttl 20/30/45 on Scenarios/noise-cloud-vm.yml; 0: skip).")
    var noiseSeeds: Int = 2000

    @Option(help: ArgumentHelp("Write rates for the cost-growth table (the sweep scenario at each rate).", valueName: "r,r,..."))
    var costRates: String = "50,100,500,5000,10000"

    @Option(help: ArgumentHelp("Whole runs of the sweep scenario whose peak memory to measure, each in its own process (HORIZON@WRITES_PER_SECOND; empty: none).", valueName: "h@r,..."))
    var memoryRuns: String = "1h@5000,30d@10"

    @Option(help: .hidden)
    var sweepWorker: Int? = nil

    func run() throws {
        if let first = sweepWorker { return try sweepWorker(first: first) }
        let rates = try parsedCostRates()
        let memory = try parsedMemoryRuns()
        var best: KernelBench.Result? = nil
        for _ in 0..<max(1, repeats) {
            let r = KernelBench.run(events: kernelEvents, wallClock: wallSeconds)
            if best == nil || r.eventsPerSecond > best!.eventsPerSecond { best = r }
        }
        let k = best!
        var fields: [(String, JSON)] = [
            ("kernel_events", .int(Int64(k.events))),
            ("kernel_seconds", .double(k.seconds)),
            ("kernel_events_per_second", .double(k.eventsPerSecond.rounded())),
        ]
        var lines = ["kernel: \(k.events) events in \(String(fixed: k.seconds, decimals: 3)) s = \(String(fixed: k.eventsPerSecond / 1e6, decimals: 3)) M events/s (timers and messages, 64 processes on 8 hosts)"]
        lines += heapReference(&fields)
        if let path = resolveScenarioPath(scenario) {
            let (s, _, _) = try loadScenario(path, overrides: [])
            let r = fastestRun(s)
            let eps = r.wallSeconds > 0 ? Double(r.events) / r.wallSeconds : 0
            let factor = r.wallSeconds > 0 ? Time.seconds(r.durationNs) / r.wallSeconds : 0
            fields += [("model_scenario", .string(path)), ("model_events", .int(Int64(r.events))), ("model_seconds", .double(r.wallSeconds)),
                       ("model_events_per_second", .double(eps.rounded())), ("realtime_factor", .double(factor.rounded())),
                       ("model_sim_seconds", .double(Time.seconds(r.durationNs)))]
            lines.append("model:  \(path): \(r.events) events, \(DurationText.format(r.durationNs)) simulated in \(String(fixed: r.wallSeconds, decimals: 3)) s = \(String(fixed: eps / 1e6, decimals: 3)) M events/s, \(Int(factor.rounded()))× real time")
        } else {
            lines.append("model:  \(scenario) not found; full-model figures skipped")
        }
        var parallel: (runs: Int, seconds: Double)? = nil
        if let path = resolveScenarioPath(sweepScenario), sweepRuns > 0 {
            let (s, _, _) = try loadScenario(path, overrides: [])
            let t0 = wallSeconds()
            let events = sweepLoop(s, first: 0, count: sweepRuns)
            let dt = wallSeconds() - t0
            let perMin = dt > 0 ? Double(sweepRuns) / dt * 60 : 0
            fields += [("sweep_scenario", .string(path)), ("sweep_runs", .int(Int64(sweepRuns))), ("sweep_seconds", .double(dt)),
                       ("runs_per_minute_per_core", .double(perMin.rounded()))]
            lines.append("sweep:  \(path): \(sweepRuns) runs (\(DurationText.format(s.durationNs)) each, with analysis) in \(String(fixed: dt, decimals: 3)) s = \(Int(perMin.rounded())) runs/min on one core (\(events / UInt64(sweepRuns)) events per run)")
            // Two processes side by side, each with its own seeds: what 2 cores give a sweep.
            parallel = parallelSweep(path, processes: 2, runsEach: sweepRuns)
            if let p = parallel {
                let perMin2 = p.seconds > 0 ? Double(p.runs) / p.seconds * 60 : 0
                fields += [("runs_per_minute_2_processes", .double(perMin2.rounded()))]
                lines.append("        2 processes side by side: \(p.runs) runs in \(String(fixed: p.seconds, decimals: 3)) s = \(Int(perMin2.rounded())) runs/min (process start included)")
            }
        }
        lines += try costGrowth(rates, &fields)
        lines += memoryFootprint(memory, &fields)
        lines += noiseSweep(&fields)
        lines += targetReport(targets(fields, parallel: parallel), &fields)
        lines.append("events: " + EventLayout.report.map { "\($0.0) \($0.1) B\($0.2 ? "" : " (ref-counted)")" }.joined(separator: ", "))
        if json { print(JSON.object(fields).pretty) } else { lines.forEach { print($0) } }
    }

    /// The kernel against Benchmarks/heap4.c (a bare C 4-ary heap) on the same timer load, in
    /// the same minute: the ratio is what to compare across machines.
    func heapReference(_ fields: inout [(String, JSON)]) -> [String] {
        let source = "Benchmarks/heap4.c"
        guard FileManager.default.fileExists(atPath: source) else { return ["heap:   \(source) not found (run from the repository); C reference skipped"] }
        let bin = NSTemporaryDirectory() + "simctl-heap4-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: bin) }
        // cc, gcc or clang on PATH (the Swift toolchain brings its clang).
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        let found = ["cc", "gcc", "clang"].lazy.flatMap { name in dirs.map { $0 + "/" + name } }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let cc = found,
              runTool(cc, ["-O2", "-o", bin, source]) != nil else { return ["heap:   no C compiler (cc) to build \(source); C reference skipped"] }
        var bestC = 0.0, bestSwift: KernelBench.Result? = nil, cSum = ""
        for _ in 0..<max(1, repeats) {
            if let out = runTool(bin, [String(kernelEvents)]) {
                let f = out.split(whereSeparator: { $0 == " " || $0 == "\n" })
                if f.count >= 3, let e = Double(f[0]), let t = Double(f[1]), t > 0 { bestC = max(bestC, e / t); cSum = String(f[2]) }
            }
            let r = KernelBench.runTimers(events: kernelEvents, wallClock: wallSeconds)
            if bestSwift == nil || r.eventsPerSecond > bestSwift!.eventsPerSecond { bestSwift = r }
        }
        guard bestC > 0, let sw = bestSwift else { return ["heap:   \(source) did not run; C reference skipped"] }
        let ratio = sw.eventsPerSecond / bestC
        let same = cSum == String(sw.checksum, radix: 16)
        fields += [("heap_c_events_per_second", .double(bestC.rounded())), ("heap_kernel_events_per_second", .double(sw.eventsPerSecond.rounded())),
                   ("kernel_vs_c_heap", .double(ratio)), ("heap_same_events", .bool(same))]
        return ["heap:   timers only, 64 processes: kernel \(String(fixed: sw.eventsPerSecond / 1e6, decimals: 2)) M events/s, C 4-ary heap (\(source), cc -O2) \(String(fixed: bestC / 1e6, decimals: 2)) M events/s: the kernel runs at \(String(fixed: ratio, decimals: 2))× the C heap" + (same ? " (the same events: checksums agree)" : " (checksums differ: not the same events)")]
    }

    /// Enough clients to reach `rate` (one transaction at a time each, ~200/s per client at
    /// LAN latency), at least the library's 4.
    static func clients(forRate rate: Int) -> Int { max(4, (rate + 199) / 200) }

    /// The fastest of `repeats` runs of `s` (the same events each time: only the wall time varies).
    func fastestRun(_ s: Scenario) -> RunRecord {
        var best = Simulation(scenario: s).run(wallClock: wallSeconds)
        for _ in 1..<max(1, repeats) {
            let r = Simulation(scenario: s).run(wallClock: wallSeconds)
            if r.wallSeconds < best.wallSeconds { best = r }
        }
        return best
    }

    /// Runs a program, its standard output (nil when it fails).
    func runTool(_ path: String, _ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }

    /// How a run's cost grows with the client write rate: the sweep scenario at each rate, with
    /// enough clients to reach it (one transaction at a time each, ~200/s per client at LAN
    /// latency), as ms per run and its ratio to the first rate.
    /// `--cost-rates`, checked before anything runs.
    func parsedCostRates() throws -> [Int] {
        let parts = costRates.split(separator: ",", omittingEmptySubsequences: false)
        let rates = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 && $0 <= 1_000_000 }
        guard !rates.isEmpty, rates.count == parts.count else {
            throw InputError(message: "--cost-rates \(costRates): expected write rates from 1 to 1000000 per second, such as 50,500,5000")
        }
        return rates
    }

    func costGrowth(_ rates: [Int], _ fields: inout [(String, JSON)]) throws -> [String] {
        guard let path = resolveScenarioPath(sweepScenario) else { return [] }
        var lines = ["cost:   \(path) by client write rate (best of \(max(1, repeats)); clients = rate / 200, at least 4):",
                     "          writes/s   clients   achieved/s      events   ms per run   × the \(rates[0])/s run"]
        var base: Double? = nil
        var rows: [JSON] = []
        func pad(_ t: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - t.count)) + t }
        // The floor: the same run with no client writes (etcd, Patroni, the proxies' checks and
        // PostgreSQL's own timers), what the write path's cost is added to.
        let floor = fastestRun(try loadScenario(path, overrides: ["workload.rate=0/s"]).0)
        fields.append(("cost_floor", .object([("events", .int(Int64(floor.events))), ("ms", .double(floor.wallSeconds * 1000))])))
        lines.append("        " + pad("0", 10) + pad("-", 10) + pad("0", 13) + pad("\(floor.events)", 12)
                     + pad(String(fixed: floor.wallSeconds * 1000, decimals: 1), 13) + pad("-", 13) + "   (no writes: the cluster's own events)")
        for rate in rates {
            let clients = Self.clients(forRate: rate)
            let (s, _, _) = try loadScenario(path, overrides: ["workload.rate=\(rate)/s", "workload.clients=\(clients)"])
            let r = fastestRun(s)
            let ms = r.wallSeconds * 1000
            if base == nil { base = ms }
            let achieved = Double(r.writeCount) / Time.seconds(r.durationNs)
            let ratio = base! > 0 ? ms / base! : 0
            rows.append(.object([("rate", .int(Int64(rate))), ("clients", .int(Int64(clients))), ("achieved", .double(achieved.rounded())),
                                 ("events", .int(Int64(r.events))), ("ms", .double(ms)), ("ratio", .double(ratio))]))
            lines.append("        " + pad("\(rate)", 10) + pad("\(clients)", 10) + pad("\(Int(achieved.rounded()))", 13) + pad("\(r.events)", 12)
                         + pad(String(fixed: ms, decimals: 1), 13) + pad(String(fixed: ratio, decimals: 2) + "×", 13))
        }
        fields.append(("cost_growth", .array(rows)))
        return lines
    }
}
