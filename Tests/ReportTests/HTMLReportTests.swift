import Testing
import SimCore
import Recording
@testable import Analysis
@testable import Report

/// The HTML page's SVG, for a small constructed run whose positions are known: 200 s, a crash
/// of db1 at 60 s, an outage with phases ending at 90, 92, 92.3, 96 and 96.5 s.
@Suite("The HTML report's timeline")
struct HTMLReportTests {
    static func story() -> RunStory {
        let s = Time.s
        var f = Findings()
        var r = FaultRTO(faultIndex: 0, kind: "crash", atNs: 60 * s, rtoNs: 36_500 * Time.ms, outage: true, phases: [], oldPrimary: "db1", newPrimary: "db2")
        var last = 60 * s
        for (name, at) in [("detection", 90 * s), ("election", 92 * s), ("promotion", 92_300 * Time.ms), ("traffic", 96 * s), ("clients", 96_500 * Time.ms)] {
            r.phases.append(FaultRTO.Phase(name: name, atNs: at, durationNs: at - last, detail: name, cause: "because of \(name)"))
            last = at
        }
        f.rto = [r]
        f.rpo = RPO(lostWrites: 0, lostBytes: 0, windowNs: 0, lostIds: [], finalPrimary: "db2")
        var sb = SplitBrain(kinds: [SplitBrain.Kind(name: "writable", totalNs: 2 * s, intervals: [(100 * s, 102 * s, "db1+db2: PostgreSQL instances writable")], losingAcks: 0)])
        sb.losingAcks = 0
        f.splitBrain = sb
        let timeline: [TimelineEntry] = [
            TimelineEntry(timeNs: 0, host: "db1", component: "etcd", kind: Kind.leaderKey, detail: .object([("holder", "db1"), ("cause", "held at start")])),
            TimelineEntry(timeNs: 60 * s, host: "db1", component: "host", kind: "host_down", detail: .object([])),
            TimelineEntry(timeNs: 90 * s, host: "", component: "etcd", kind: Kind.leaderKey, detail: .object([("holder", .null), ("cause", "expired")])),
            TimelineEntry(timeNs: 92 * s, host: "db2", component: "etcd", kind: Kind.leaderKey, detail: .object([("holder", "db2"), ("cause", "acquired")])),
            TimelineEntry(timeNs: 92_300 * Time.ms, host: "db2", component: "postgres", kind: Kind.pgWritable, detail: .object([("writable", true), ("timeline", 2)])),
            TimelineEntry(timeNs: 96 * s, host: "haproxy1", component: "haproxy", kind: Kind.serverState,
                          detail: .object([("backend", "write"), ("server", "db2"), ("up", true), ("checks", "L7OK/200, L7OK/200")])),
        ]
        var series = WriteSeries()
        series.bucketNs = s
        series.acked = (0..<200).map { $0 >= 60 && $0 < 96 ? 0 : 100 }
        series.failed = WriteSeries.Cause.allCases.map { c in (0..<200).map { c == .refused && $0 >= 60 && $0 < 96 ? 5 : 0 } }
        series.indeterminate = Array(repeating: 0, count: 200)
        series.blocked = Array(repeating: 0, count: 200)
        series.p50Us = Array(repeating: 800, count: 200)
        series.maxUs = Array(repeating: 3000, count: 200)
        return RunStory(scenario: "t", scenarioFile: "t.yml", seed: 1, durationNs: 200 * s, events: 1000, wallSeconds: 0.01, traceHash: "abc",
                        hosts: [.init(name: "db1", services: ["etcd", "patroni", "postgres"]), .init(name: "db2", services: ["etcd", "patroni", "postgres"]),
                                .init(name: "haproxy1", services: ["haproxy"]), .init(name: "app1", services: ["clients"])],
                        faults: [FaultRecord(index: 0, kind: "crash", target: "db1", resolved: "db1", startNs: 60 * s, endNs: nil, disrupts: true)],
                        timeline: Timeline(timeline), findings: f, series: series, aborted: nil, overrides: [], runID: 3)
    }

    /// x of a time on the page's axis: label column 190, plot 1010 wide, 200 s.
    static func x(_ seconds: Double) -> String { String(fixed: 190 + seconds / 200 * 1010, decimals: 1) }

    static func count(_ needle: String, in hay: String) -> Int { hay.components(separatedBy: needle).count - 1 }

    @Test("one lane per process, none for clients-only hosts' processes, one per load balancer server and backend")
    func lanes() {
        let page = HTMLReport.render(Self.story(), scenario: nil)
        for lane in ["db1/etcd", "db1/patroni", "db1/postgres", "db2/etcd", "db2/patroni", "db2/postgres",
                     "haproxy1/haproxy write/db1", "haproxy1/haproxy write/db2", "faults", "leader key", "clients"] {
            #expect(Self.count("data-lane=\"\(lane)\"", in: page) == 1, "lane \(lane)")
        }
        #expect(Self.count("data-lane=\"app1/clients\"", in: page) == 0)
    }

    @Test("the fault band and the RTO bracket's phases sit at their times")
    func positions() {
        let page = HTMLReport.render(Self.story(), scenario: nil)
        // The crash band starts at 60 s (an instant fault: a thin band).
        #expect(page.contains("class=\"fault-band\" data-a=\"60.000\" data-b=\"60.000\" x=\"\(Self.x(60))\""))
        // Detection from 60 to 90 s: x at 60 s, 30 s wide.
        #expect(page.contains("class=\"ph ph-detection\" data-a=\"60.000\" data-b=\"90.000\" x=\"\(Self.x(60))\" y="))
        #expect(page.contains("width=\"\(String(fixed: 30.0 / 200 * 1010, decimals: 1))\""))
        #expect(page.contains("class=\"ph ph-clients\" data-a=\"96.000\" data-b=\"96.500\" x=\"\(Self.x(96))\""))
        // The split-brain window is shaded from 100 to 102 s.
        #expect(page.contains("class=\"splitbrain-band\" data-a=\"100.000\" data-b=\"102.000\" x=\"\(Self.x(100))\""))
        // The causes are on hover.
        #expect(page.contains("because of election"))
    }

    @Test("the clients lane: acknowledged writes per second, failures by cause")
    func clients() {
        let page = HTMLReport.render(Self.story(), scenario: nil)
        #expect(Self.count("class=\"w-ok\"", in: page) == 164)
        #expect(Self.count("class=\"w-fail w-refused\"", in: page) == 36)
        #expect(page.contains("5 failed (connection refused)"))
    }

    @Test("the page is self-contained: no external script, style or request")
    func selfContained() {
        let page = HTMLReport.render(Self.story(), scenario: nil)
        #expect(!page.contains("src=\"http"))
        #expect(!page.contains("href=\"http"))
        #expect(!page.contains("<link"))
        #expect(page.contains("<script>") && page.contains("data-status"))
    }
}
