import Testing
import Foundation
import SimCore
import Recording
import Scenario
import Cluster
import Analysis
@testable import Report

/// The whole text users read, compared with files under Golden/. A deliberate change of the
/// output (or of the model's timing) is accepted by running the tests once with
/// SIMCTL_UPDATE_GOLDEN=1 and committing the files, as a baseline update is.
enum Golden {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static var update: Bool { ProcessInfo.processInfo.environment["SIMCTL_UPDATE_GOLDEN"] == "1" }

    static func check(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let url = dir.appendingPathComponent(name)
        if update {
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try? text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let want = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("no golden file \(name): run the tests with SIMCTL_UPDATE_GOLDEN=1", sourceLocation: sourceLocation)
            return
        }
        if want != text {
            let a = want.split(separator: "\n", omittingEmptySubsequences: false), b = text.split(separator: "\n", omittingEmptySubsequences: false)
            let i = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
            Issue.record("\(name) differs at line \(i + 1):\n  want: \(i < a.count ? String(a[i]) : "(end)")\n  got:  \(i < b.count ? String(b[i]) : "(end)")",
                         sourceLocation: sourceLocation)
        }
    }

    /// A library scenario's run, with its wall-clock time fixed (the only part of the report
    /// that is not a function of the scenario and seed).
    static func story(_ file: String, seed: UInt64) throws -> (RunStory, Scenario) {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Scenarios/\(file)").standardized.path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard case .success(var s) = ScenarioLoader.load(text: text, file: "Scenarios/\(file)", overrides: []) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        s.seed = seed
        let run = Simulation(scenario: s).run()
        var story = RunStory(run: run, findings: Analyzer.analyze(run, scenario: s), scenario: s, file: "Scenarios/\(file)", overrides: [], runID: 7)
        story.wallSeconds = 0.25
        return (story, s)
    }
}

@Suite("Golden output: the report, patronictl list and history")
struct GoldenTests {
    @Test("the text report of primary-crash, seed 3")
    func textReport() throws {
        let (story, s) = try Golden.story("primary-crash.yml", seed: 3)
        Golden.check(TextReport().render(story, scenario: s, store: "Reports/simctl.sqlite"), "primary-crash-3.report.txt")
    }

    @Test("patronictl list of primary-crash, seed 3, before and after the failover")
    func list() throws {
        let (story, _) = try Golden.story("primary-crash.yml", seed: 3)
        Golden.check(Patronictl.list(story, at: 2 * Time.m) + "\n" + Patronictl.list(story, at: 2 * Time.m + 20 * Time.s)
                     + "\n" + Patronictl.list(story, at: 4 * Time.m), "primary-crash-3.list.txt")
    }

    @Test("patronictl history of etcd-leader-loss, seed 2 (a switchover, then a failover)")
    func history() throws {
        let (story, _) = try Golden.story("etcd-leader-loss.yml", seed: 2)
        Golden.check(Patronictl.history(story), "etcd-leader-loss-2.history.txt")
    }

    @Test("the diagnostics of a scenario with a mistake in every section, whole")
    func scenarioDiagnostics() {
        let text = """
        name: broken
        duration: 10 minutes
        topology: { preset: etcd-colocted, db_nodes: 12 }
        patroni: { ttl: 30x, loop_wiat: 10, synchronous_mode: maybe }
        etcd: { heartbeat_interval: 0.1us }
        haproxy: { inter: 3s, fall: -1, on_marked_down: shutdown }
        workload: { clients: 4, rate: 1e-300 }
        faults:
          - { at: 2m, crash: db9 }
          - { at: soon, partition: [[primary], [db2, 1e309]] }
        expect: { rto: { max: fast } }
        """
        guard case .failure(let e) = ScenarioLoader.load(text: text, file: "Scenarios/broken.yml", overrides: ["patroni.retry_timeout=abc"], files: .none) else {
            Issue.record("the broken scenario loads"); return
        }
        Golden.check(e.description + "\n", "broken.diagnostics.txt")
    }

    @Test("the diagnostics of mistyped real configuration files, whole")
    func importDiagnostics() {
        var i = ImportInput()
        i.patroni = [ConfigFile(path: "node1.yml", text: "scope: demo\nname: node1\nrestapi: { connect_address: 10.0.0.1:8008 }\netcd3: { hosts: [10.0.0.1:2379] }\nbootstrap:\n  dcs: { ttl: 30, loop_wiat: 10 }\ntags: { nofailvoer: true }\n")]
        i.haproxy = [ConfigFile(path: "haproxy.cfg", text: "defaults\n  timeout connect 5sec\nbackend rw\n  option httpchk GET /prim\n  server node1 10.0.0.1:5432 check inter 3x\n")]
        i.etcd = [ConfigFile(path: "etcd.conf", text: "ETCD_NAME=node1\nETCD_HEARTBEAT_INTERVL=100\nnot an assignment\n")]
        let c = ClusterImport.run(i)
        Golden.check(c.diagnostics.map(\.description).joined(separator: "\n") + "\n", "import.diagnostics.txt")
    }
}
