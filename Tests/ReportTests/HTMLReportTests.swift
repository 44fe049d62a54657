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

    @Test("the noise lane: each event at its time for its length, overlapping ones in rows; an episode's event also as a band")
    func noiseLane() {
        // Without noise, no lane and no noise legend.
        let quiet = HTMLReport.render(Self.story(), scenario: nil)
        #expect(Self.count("data-lane=\"noise\"", in: quiet) == 0 && !quiet.contains("noise-legend"))
        var story = Self.story()
        func noise(_ at: Double, _ kind: String, _ duration: String, _ extra: [(String, JSON)] = []) -> TimelineEntry {
            TimelineEntry(timeNs: Time.fromSeconds(at), host: "db1", component: "noise", kind: Kind.noiseStart,
                          detail: .object([("source", 0), ("name", .string("n \(kind)")), ("kind", .string(kind)), ("target", "db1"), ("duration", .string(duration))] + extra))
        }
        story.timeline = Timeline(Array(story.timeline) + [noise(20, "pause", "25s", [("tagged", true)]), noise(30, "latency_spike", "2s", [("latency", "40ms")]),
                                                            noise(150, "slow_fsync", "500ms", [("fsync", "1.2s")])])
        let page = HTMLReport.render(story, scenario: nil)
        #expect(Self.count("data-lane=\"noise\"", in: page) == 1 && page.contains("noise-legend"))
        // The pause from 20 to 45 s in the first row, the spike inside it in the second.
        #expect(page.contains("class=\"noise noise-tagged\" data-a=\"20.000\" data-b=\"45.000\" x=\"\(Self.x(20))\""))
        let spike = page.components(separatedBy: "class=\"noise\" data-a=\"30.000\" data-b=\"32.000\"")
        #expect(spike.count == 2)
        let first = page.components(separatedBy: "class=\"noise noise-tagged\"")[1]
        func y(_ tail: String) -> Double? { tail.components(separatedBy: "y=\"").dropFirst().first.flatMap { Double($0.prefix { $0 != "\"" }) } }
        #expect((y(spike[1]) ?? 0) > (y(first) ?? 0))
        // The late fsync is back in the first row; its size is on hover.
        #expect(page.contains("n slow_fsync (slow_fsync) on db1 at 2m30.000s for 500ms, fsync 1.2s"))
        // The episode's event shades every lane and is named.
        #expect(page.contains("class=\"episode-band\" data-a=\"20.000\" data-b=\"45.000\""))
        #expect(page.contains(">episode: n pause</text>"))
    }
}
