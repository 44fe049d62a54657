import ArgumentParser
import Foundation
import SimCore
import Recording
import Scenario
import Analysis
import Store
import Report

/// Opens an existing store for reading: a missing file is bad input, not a new empty store.
func openExistingStore(_ path: String) throws -> Store {
    guard FileManager.default.fileExists(atPath: path) else {
        throw InputError(message: "--db \(path): no such store (runs are recorded by simctl run, sweep and check --db)")
    }
    return try openStore(path)
}

/// A run as stored, with its scenario loaded again from the stored text (for its description
/// and Patroni's adjustments).
func loadStoredRun(_ id: Int64, db: String) throws -> (StoredReport, Scenario?) {
    guard id >= 1 else { throw InputError(message: "run id \(id): run ids start at 1") }
    let store = try openExistingStore(db)
    let r: StoredReport
    do { r = try store.report(id) } catch let e as Store.NotFound { throw InputError(message: e.description) }
    var scenario: Scenario? = nil
    if let text = r.scenarioText,
       case .success(var s) = ScenarioLoader.load(text: text, file: r.story.scenarioFile, overrides: r.story.overrides.map { "\($0.0)=\($0.1)" }) {
        s.seed = r.story.seed
        scenario = s
    }
    return (r, scenario)
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a stored run's report again (or write its HTML page).",
        discussion: """
        Reads everything from the store: the findings, the timeline, the clients' writes per second, the scenario's text.

        Examples: simctl show 12; simctl show 12 --html run12.html
        """
    )

    @Argument(help: "The run id (simctl run prints it; the runs table lists them).")
    var runID: Int64

    @Option(help: "The SQLite store (default: Reports/simctl.sqlite).")
    var db: String = defaultStore

    @Flag(help: "Print one JSON object (as simctl run --json does).")
    var json = false

    @Option(help: "Write the run's HTML report (one self-contained file) here.")
    var html: String?

    func run() throws {
        if let html { try checkWritable(html, option: "--html") }
        let (r, scenario) = try loadStoredRun(runID, db: db)
        if let html {
            try writeHTML(r.story, scenario: scenario, to: html)
            print("HTML report written: \(html)")
        }
        if json {
            print(Summary.json(r.story).pretty)
        } else if html == nil {
            print(TextReport(color: isTerminal(1)).render(r.story, scenario: scenario, store: db), terminator: "")
        }
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "patronictl list of a stored run at a moment: members, roles, states, timelines, lag, and the leader key.",
        discussion: """
        Read from what the run recorded of the DCS: each member key as Patroni last wrote it before that moment (a member whose key expired is not listed), the /sync key, and the leader key with its lease.

        Example: simctl list 12 --at 2m30s
        """
    )

    @Argument(help: "The run id.")
    var runID: Int64

    @Option(help: ArgumentHelp("The moment of the run (a duration from its start: 2m30s).", valueName: "time"))
    var at: String

    @Option(help: "The SQLite store (default: Reports/simctl.sqlite).")
    var db: String = defaultStore

    func run() throws {
        let t: Nanos
        do { t = try DurationText.parse(at) } catch { throw InputError(message: "--at \(at): expected a duration from the run's start, such as 2m30s or 150s") }
        let (r, scenario) = try loadStoredRun(runID, db: db)
        guard t >= 0, t <= r.story.durationNs else {
            throw InputError(message: "--at \(at): the run lasted \(DurationText.format(r.story.durationNs))")
        }
        print("\(r.story.scenario) — run \(runID), seed \(r.story.seed), at \(TextClock.clock(t))")
        print(Patronictl.list(r.story, at: t, scope: scenario?.patroni.scope ?? "batman"), terminator: "")
    }
}

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "patronictl history of a stored run: every promotion's timeline switch.",
        discussion: "Example: simctl history 12"
    )

    @Argument(help: "The run id.")
    var runID: Int64

    @Option(help: "The SQLite store (default: Reports/simctl.sqlite).")
    var db: String = defaultStore

    func run() throws {
        let (r, _) = try loadStoredRun(runID, db: db)
        print("\(r.story.scenario) — run \(runID), seed \(r.story.seed)")
        print(Patronictl.history(r.story), terminator: "")
    }
}

/// Writes a run's HTML report, atomically (a file either appears whole or not at all).
func writeHTML(_ story: RunStory, scenario: Scenario?, to path: String) throws {
    try writeAtomically(HTMLReport.render(story, scenario: scenario), to: path, option: "--html")
}

/// Writes `text` to `path` through a temporary file renamed into place: the file either
/// appears whole or not at all.
func writeAtomically(_ text: String, to path: String, option: String) throws {
    let tmp = path + ".tmp"
    guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8)) else {
        throw InputError(message: "\(option) \(path): cannot write this file")
    }
    do {
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: tmp, toPath: path)
    } catch {
        try? FileManager.default.removeItem(atPath: tmp)
        throw InputError(message: "\(option) \(path): cannot write this file (\(error.localizedDescription))")
    }
}

/// Fails early (before a run is simulated or stored) when an output file cannot be written.
func checkWritable(_ path: String, option: String) throws {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { throw InputError(message: "\(option) \(path): is a folder; give a file name") }
    let existed = fm.fileExists(atPath: path)
    guard let f = fopen(path, "a") else { throw InputError(message: "\(option) \(path): cannot write this file") }
    fclose(f)
    if !existed { try? fm.removeItem(atPath: path) }
}
