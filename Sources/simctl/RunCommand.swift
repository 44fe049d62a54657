import ArgumentParser
import SimCore
import Recording
import Scenario
import Cluster
import Analysis
import Store
import Report

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one scenario, print what happened, and record it in the store.",
        discussion: """
        Exit status: 0 when every expectation held, 1 when one failed, 2 on bad input.

        Example: simctl run scenarios/partition.yml --seed 7 --set patroni.ttl=20
        """
    )

    @Argument(help: "The scenario file (e.g. Scenarios/partition.yml; the folder's case is forgiven).")
    var file: String

    @Option(help: "Seed for every random stream (default: the scenario's seed).")
    var seed: UInt64?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a scenario value: key.path=value (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(name: .customLong("max-events"), help: "End the run, reported as aborted, after this many events.")
    var maxEvents: UInt64 = 2_000_000_000

    @Option(name: .customLong("max-wall"), help: "End the run, reported as aborted, after this many seconds of wall time.")
    var maxWall: Double = 600

    @Option(help: "The SQLite store to record the run in (default: Reports/simctl.sqlite).")
    var db: String?

    @Flag(help: "Do not record the run in the store.")
    var noStore = false

    @Flag(help: "Print one JSON object instead of the human summary.")
    var json = false

    @Option(help: "Write every processed event as JSON lines to this file (time, host, component, event, its fields).")
    var trace: String?

    @Option(help: ArgumentHelp("Keep only matching events in --trace: host=H, component=C, event=PREFIX, comma-separated (one key repeated: either value).", valueName: "filter"))
    var traceFilter: String?

    @Option(help: "Write every client write (sent, done, outcome, error, where it committed) as CSV to this file.")
    var writes: String?

    @Option(help: "Write the run's HTML report (one self-contained file: timeline, findings) here.")
    var html: String?

    /// For `simctl bench --memory-runs`: where to write this process's peak RSS at its end.
    @Option(help: .hidden)
    var peakMemoryFile: String?

    func run() throws {
        // Written however the run ends (exit 1 included).
        defer { if let f = peakMemoryFile { try? (peakResidentKB().map(String.init) ?? "").write(toFile: f, atomically: true, encoding: .utf8) } }
        if noStore, let db { throw InputError(message: "--db \(db) with --no-store: --no-store records nothing; give one or the other") }
        let db = self.db ?? defaultStore
        var (scenario, text, path) = try loadScenario(file, overrides: overrides)
        if let seed { scenario.seed = seed }
        var writer: LineWriter? = nil
        let filter: TraceFilter?
        do { filter = try traceFilter.map { f throws(TraceFilter.ParseError) in try TraceFilter.parse(f) } } catch { throw InputError(message: error.description) }
        if traceFilter != nil && trace == nil { throw InputError(message: "--trace-filter needs --trace FILE") }
        if let trace {
            guard let w = LineWriter(path: trace) else { throw InputError(message: "--trace \(trace): cannot write this file") }
            writer = w
        }
        if let html { try checkWritable(html, option: "--html") }
        // Open the store before running, so that an unusable --db fails fast; write after.
        let store = noStore ? nil : try openStore(db)
        guard maxWall > 0, maxEvents > 0 else { throw InputError(message: "--max-wall and --max-events must be greater than zero") }
        let sim = Simulation(scenario: scenario)
        // `--writes` lists every write: none is folded into counts.
        sim.keepEveryWrite = writes != nil
        sim.shouldStop = interruptRequested
        sim.maxEvents = maxEvents
        sim.maxWallSeconds = maxWall
        if let w = writer {
            sim.traceSink = { [unowned sim] t, target, event in
                sim.appendTraceLine(t, target: target, event, filter: filter, to: &w.bytes)
                w.flushIfFull()
            }
        }
        let record = sim.run(wallClock: wallSeconds)
        writer?.close()
        if record.interrupted {
            printErr("interrupted (\(Signals.name)) at \(DurationText.format(sim.now)) of simulated time; nothing was stored")
            throw ExitCode(Signals.exitCode)
        }
        let findings = Analyzer.analyze(record, scenario: scenario)
        if let writes {
            guard let w = LineWriter(path: writes) else { throw InputError(message: "--writes \(writes): cannot write this file") }
            w.write("id,client,direct_host,sent_s,done_s,outcome,error,committed_host,timeline,lsn,sync_confirmed")
            for x in record.keptWrites {
                let tl = x.committedAt == .none ? "" : String(record.forks.first { $0.id == x.committedAt.fork }?.timeline ?? 0)
                w.write([String(x.id), String(x.client), x.directHost < 0 ? "" : record.hosts[Int(x.directHost)], DurationText.seconds3(x.sentNs),
                         x.doneNs < 0 ? "" : DurationText.seconds3(x.doneNs), "\(x.outcome)", x.error == .none ? "" : x.error.message,
                         x.committedHost < 0 ? "" : record.finalPg.indices.contains(Int(x.committedHost)) ? record.finalPg[Int(x.committedHost)].host : "",
                         tl, x.committedAt == .none ? "" : LSN.format(x.committedAt.lsn), x.syncConfirmed ? "1" : "0"].joined(separator: ","))
            }
            w.close()
        }
        var runID: Int64? = nil
        if let store {
            let meta = RunMeta(scenarioFile: path, scenarioSHA256: SHA256.hex(Array(text.utf8)), overrides: overridePairs(overrides),
                               simctlVersion: Simctl.version, scenarioText: text, hosts: RunStory.hosts(scenario))
            runID = try store.save(record, findings, meta: meta)
        }
        let story = RunStory(run: record, findings: findings, scenario: scenario, file: path, overrides: overridePairs(overrides), runID: runID)
        if let html { try writeHTML(story, scenario: scenario, to: html) }
        defer { if let html, !json { print("HTML report written: \(html)") } }
        if json {
            print(Summary.json(story).pretty)
        } else {
            print(TextReport(color: isTerminal(1)).render(story, scenario: scenario, store: store == nil ? nil : db), terminator: "")
        }
        if !(findings.ok && record.aborted == nil) { throw ExitCode(1) }
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check scenario files without running them.",
        discussion: "Prints every problem as file:line:col: key: message. Exit status 2 if any file has a problem."
    )

    @Argument(help: "Scenario files.")
    var files: [String]

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a scenario value: key.path=value (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    func run() throws {
        var bad = 0
        for f in files {
            do {
                let (s, _, path) = try loadScenario(f, overrides: overrides)
                for w in s.warnings { print(w.description) }
                print("\(path): ok (\(s.name): \(s.topology.hosts.count) hosts, \(s.faults.count) faults, \(s.expectations.count) expectations)")
            } catch let e as InputError {
                printErr(e.message)
                bad += 1
            } catch {
                bad += 1
            }
        }
        if bad > 0 { throw ExitCode(2) }
    }
}
