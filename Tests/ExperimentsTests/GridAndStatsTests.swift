import Testing
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import SimCore
import Analysis
@testable import Experiments

@Suite("Sweep grids, percentiles, objectives")
struct GridAndStatsTests {
    @Test("lists, ranges and units expand; one value is a fixed override; the first axis varies slowest")
    func gridExpansion() throws {
        let g = try Grid.parse(["patroni.ttl=20..30/5", "patroni.loop_wait=5s..15s/5s", "patroni.maximum_lag_on_failover=0..16MB/8MB",
                                "workload.rate=50/s", "patroni.synchronous_mode=true,false"])
        #expect(g.axes.map(\.key) == ["patroni.ttl", "patroni.loop_wait", "patroni.maximum_lag_on_failover", "patroni.synchronous_mode"])
        #expect(g.axes[0].values == ["20", "25", "30"])
        #expect(g.axes[1].values == ["5s", "10s", "15s"])
        #expect(g.axes[2].values == ["0", "8MB", "16MB"])
        #expect(g.axes[3].values == ["true", "false"])
        #expect(g.fixed == ["workload.rate=50/s"])
        #expect(g.pointCount == 3 * 3 * 3 * 2)
        let p = g.points
        #expect(p.count == 54)
        #expect(p[0].map(\.value) == ["20", "5s", "0", "true"])
        #expect(p[1].map(\.value) == ["20", "5s", "0", "false"])
        #expect(p[53].map(\.value) == ["30", "15s", "16MB", "false"])
        // Mixed lists and ranges, decimals, and a comma inside parentheses.
        #expect(try Grid.parse(["a=1,3..5/1,9"]).axes[0].values == ["1", "3", "4", "5", "9"])
        #expect(try Grid.parse(["a=0.5..1/0.25"]).axes[0].values == ["0.5", "0.75", "1"])
        #expect(try Grid.parse(["postgresql.synchronous_standby_names=FIRST 1 (db2,db3)"]).fixed == ["postgresql.synchronous_standby_names=FIRST 1 (db2,db3)"])
        // A range whose step does not land on the end stops before it.
        #expect(try Grid.parse(["a=20..31/5"]).axes[0].values == ["20", "25", "30"])
    }

    @Test("bad grids are errors that name the --set")
    func gridErrors() {
        for (arg, needle) in [("patroni.ttl", "expected key=value"), ("a=20..60", "needs a step"), ("a=60..20/5", "backwards"),
                              ("a=1..5/0", "positive"), ("a=5s..10/1", "same kind"), ("a=1,,2", "empty value")] {
            do {
                _ = try Grid.parse([arg])
                Issue.record("\(arg) was accepted")
            } catch {
                #expect(error.message.contains(needle), "\(arg): \(error.message)")
            }
        }
        #expect(throws: Grid.ParseError.self) { try Grid.parse(["a=1,2", "a=3"]) }
    }

    @Test("percentiles are nearest-rank; a run that never recovered counts as infinitely long")
    func percentiles() {
        let v = (1...10).map(Double.init)
        #expect(percentile(v, 50) == 5)
        #expect(percentile(v, 90) == 9)
        #expect(percentile(v, 95) == 10)
        #expect(percentile(v, 99) == 10)
        #expect(percentile(v, 100) == 10)
        #expect(percentile([], 50) == nil)
        #expect(percentile([7], 99) == 7)
        let hundred = (1...100).map(Double.init)
        #expect(percentile(hundred, 95) == 95)
        #expect(percentile(hundred, 99) == 99)
        // Stats over run summaries.
        func run(_ rto: Double?, lost: Int = 0, seed: UInt64) -> RunSummary {
            RunSummary(seed: seed, faults: [.init(index: 0, rtoNs: rto.map(Time.fromSeconds))], lostWrites: lost, lostBytes: 0,
                       splitBrainNs: 0, failedExpectations: 0, traceHash: "")
        }
        let s = SettingStats(point: "{}", runs: [run(30, seed: 1), run(20, lost: 4, seed: 2), run(nil, seed: 3), run(25, seed: 4)])
        #expect(s.rtos == [20, 25, 30, .infinity])
        #expect(s.p50 == 25)
        #expect(s.p95?.isInfinite == true)
        #expect(s.unrecovered == 1)
        #expect(s.lostWritesMean == 1 && s.lostWritesMax == 4 && s.runsWithLoss == 1)
    }

    @Test("objectives pick the best setting that meets every condition")
    func objectives() throws {
        func st(_ p: String, _ rtos: [Double], lost: Int) -> SettingStats {
            SettingStats(point: p, runs: rtos.enumerated().map { i, r in
                RunSummary(seed: UInt64(i), faults: [.init(index: 0, rtoNs: Time.fromSeconds(r))], lostWrites: lost, lostBytes: 0,
                           splitBrainNs: 0, failedExpectations: 0, traceHash: "")
            })
        }
        let settings = [st("a", [30, 40], lost: 0), st("b", [10, 20], lost: 5), st("c", [25, 35], lost: 0)]
        let o = try Objective.parse("min rto.p99 where rpo.max_writes == 0")
        #expect(o.best(settings)?.point == "c")
        #expect(try Objective.parse("min rto.p99").best(settings)?.point == "b")
        #expect(try Objective.parse("max rto.p50 where rto.p50 < 30s and rpo.max_writes <= 5").best(settings)?.point == "c")
        #expect(try Objective.parse("min rto.p50 where rpo.max_writes > 100").best(settings) == nil)
        for bad in ["fastest", "min rto.p42", "min rto.p99 if x", "min rto.p99 where rpo.max_writes ~ 0", "min rto.p99 where rpo.max_writes =="] {
            #expect(throws: Objective.ParseError.self) { try Objective.parse(bad) }
        }
    }

    func entry(_ p50: Double?, _ p95: Double?, unrecovered: Int = 0, lost: Double = 0, lostMax: Int = 0) -> Baseline.Entry {
        Baseline.Entry(file: "Scenarios/x.yml", seeds: 30, firstSeed: 1,
                       faults: [.init(index: 0, kind: "crash", p50: p50, p95: p95, unrecovered: unrecovered)],
                       lostWritesMean: lost, lostWritesMax: lostMax, tolerance: nil)
    }

    @Test("baseline comparison flags moves in both directions beyond max(10%, 1 s), and any growth in lost writes")
    func baselineCompare() {
        var b = Baseline()
        b.set("x", entry(30, 40, lost: 2, lostMax: 5))
        #expect(b.compare("x", entry(30, 40, lost: 2, lostMax: 5)).isEmpty)
        #expect(b.compare("x", entry(32.9, 43.9, lost: 1, lostMax: 5)).isEmpty)       // within 10%; fewer lost is fine
        #expect(b.compare("x", entry(33.5, 40, lost: 2, lostMax: 5)).map(\.what) == ["fault 0 (crash) RTO p50"])   // slower
        #expect(b.compare("x", entry(30, 35.5, lost: 2, lostMax: 5)).map(\.what) == ["fault 0 (crash) RTO p95"])   // faster
        #expect(b.compare("x", entry(30, 40, lost: 2.5, lostMax: 5)).count == 1)      // more lost on average
        #expect(b.compare("x", entry(30, 40, lost: 2, lostMax: 6)).count == 1)        // a worse worst case
        #expect(b.compare("x", entry(30, nil, unrecovered: 2, lost: 2, lostMax: 5)).count == 1)  // now never recovers
        // Under 10 s the absolute 1 s floor applies.
        b.set("y", entry(5, 8))
        #expect(b.compare("y", entry(5.9, 8.9)).isEmpty)
        #expect(b.compare("y", entry(6.1, 8)).count == 1)
        // Per-scenario tolerance wins over the file's.
        var e = entry(30, 40)
        e.tolerance = Baseline.Tolerance()
        e.tolerance!.rtoRelative = 0.5
        b.set("z", e)
        #expect(b.compare("z", entry(44, 59)).isEmpty)
        // Not in the baseline: nothing to compare.
        #expect(b.compare("nope", entry(1, 1)).isEmpty)
    }

    @Test("the baseline file round-trips")
    func baselineFile() throws {
        var b = Baseline()
        b.simctlVersion = "0.1.0"
        b.set("b", entry(30.25, 40.5, lost: 1.5, lostMax: 3))
        b.set("a", entry(nil, nil, unrecovered: 30))
        let path = NSTemporaryDirectory() + "baseline-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(b.json.pretty.utf8).write(to: URL(fileURLWithPath: path))
        let back = try Baseline.read(path: path)
        #expect(back == b)
        #expect(back.scenarios.map(\.0) == ["a", "b"])
    }

    @Test("JUnit XML: one testcase per scenario, a failure element on the failing ones")
    func junit() throws {
        let xml = JUnit.xml(suite: "simctl check", cases: [
            JUnitCase(name: "partition", className: "Scenarios", seconds: 1.5, failures: []),
            JUnitCase(name: "primary-crash", className: "Scenarios", seconds: 2.25,
                      failures: ["seed 3: rto.max: RTO fault 0: 52s > 50s", "fault 0 (crash) RTO p95: 40 → 45 <&>"], notes: ["p50 30s"]),
        ])
        let doc = try XMLDocument(xmlString: xml)
        let root = try #require(doc.rootElement())
        #expect(root.name == "testsuites")
        #expect(root.attribute(forName: "tests")?.stringValue == "2")
        #expect(root.attribute(forName: "failures")?.stringValue == "1")
        let suites = root.elements(forName: "testsuite")
        #expect(suites.count == 1)
        let cases = suites[0].elements(forName: "testcase")
        #expect(cases.map { $0.attribute(forName: "name")?.stringValue } == ["partition", "primary-crash"])
        #expect(cases[0].elements(forName: "failure").isEmpty)
        let failure = try #require(cases[1].elements(forName: "failure").first)
        #expect(failure.attribute(forName: "message")?.stringValue == "seed 3: rto.max: RTO fault 0: 52s > 50s")
        #expect(failure.stringValue?.contains("40 → 45 <&>") == true)
        #expect(cases[1].attribute(forName: "time")?.stringValue == "2.25")
    }
}
