import Testing
import Settings
import SimCore
import Recording
import Postgres
import Patroni
@testable import Traffic

/// One HAProxy driven by its inputs and the clock: its checks' results decide its servers'
/// states by `fall` and `rise` (HAProxy manual §5.2), with HAProxy's own words in the log.
final class ProxyHarness: TrafficEnv {
    var now: Nanos = 0
    let recorder = Recorder()
    var pending: [(t: Nanos, seq: Int, input: TrafficInput)] = []
    var seq = 0
    var nextConn: UInt32 = 1
    /// What each node's REST API answers a check with (nil: nothing answers the connect).
    var answer: [Int: Int16?] = [:]
    var checksTo: [Int] = []
    var connNode: [UInt32: Int] = [:]
    var proxy: Proxy

    init(_ hap: HAProxyConfig) {
        proxy = Proxy(proc: 9, name: "haproxy1", kind: .haproxy, nodes: [0, 1, 2], nodeNames: ["db1", "db2", "db3"],
                      hap: hap, envoy: EnvoyConfig(), lb: CloudLBConfig(), rng: Rng(seed: 3))
    }

    @discardableResult
    func schedule(after: Nanos, _ i: TrafficInput) -> TimerToken {
        seq += 1
        pending.append((now + after, seq, i))
        return TimerToken(seq: UInt64(seq))
    }
    func trafficCancel(_ t: TimerToken) { pending.removeAll { UInt64($0.seq) == t.seq } }
    func run(until t: Nanos) {
        while let k = pending.indices.min(by: { (pending[$0].t, pending[$0].seq) < (pending[$1].t, pending[$1].seq) }), pending[k].t <= t {
            let e = pending.remove(at: k)
            now = e.t
            proxy.handle(e.input, self)
        }
        now = t
    }
    /// HAProxy's "Server write/db1 is DOWN" / "is UP", as recorded (the report words them so).
    func serverState(_ server: String, up: Bool, after t: Nanos) -> TimelineEntry? {
        recorder.timeline.first { $0.kind == "server_state" && $0.timeNs > t && $0.detail["server"]?.stringValue == server
            && $0.detail["backend"]?.stringValue == "write" && $0.detail["up"]?.boolValue == up }
    }

    func trafficTimer(_ proc: UInt32, after: Nanos, _ t: TrafficTimer) -> TimerToken { schedule(after: after, .timer(t)) }
    func trafficConnect(from: UInt32, to: Endpoint) -> ConnID { nextConn += 1; return ConnID(slot: nextConn, gen: 1) }
    func trafficSend(_ c: ConnID, from: UInt32, _ m: PgMessage) {}
    func trafficClose(_ c: ConnID) {}
    func httpConnect(from: UInt32, toNode: Int) -> ConnID {
        nextConn += 1
        let c = ConnID(slot: nextConn, gen: 1)
        connNode[c.slot] = toNode
        checksTo.append(toNode)
        if case .some(.some) = answer[toNode] { schedule(after: 300 * Time.us, .conn(c, .connected)) }
        return c
    }
    func httpGet(_ c: ConnID, from: UInt32, path: RESTPath, lag: Int64?, id: UInt32) {
        guard let n = connNode[c.slot], case .some(.some(let status)) = answer[n] else { return }
        schedule(after: 2 * Time.ms, .checkAnswer(c, status: status))
    }
    func vrrpSend(from: UInt32, to: UInt32, priority: UInt8) {}
    func vrrpTakeVIP(from: UInt32) {}
    func vrrpReleaseVIP(from: UInt32) {}
    func localProxyAlive(_ proc: UInt32) -> Bool { true }
    func nodeName(_ node: Int) -> String { ["db1", "db2", "db3"][node] }
}

@Suite("HAProxy, one process")
struct ProxyTests {
    func config() -> HAProxyConfig {
        var c = HAProxyConfig()
        c.interNs = 3 * Time.s
        c.fall = 3
        c.rise = 2
        c.readFrontend = false
        return c
    }

    @Test("a primary whose checks stop answering is marked DOWN after fall (3) failed checks, inter (3s) apart: 'Server write/db1 is DOWN'")
    func fallMarksDown() {
        let h = ProxyHarness(config())
        h.answer = [0: 200, 1: 503, 2: 503]
        h.proxy.start(steady: true, h)
        h.run(until: 10 * Time.s)
        #expect(h.serverState("db1", up: false, after: 0) == nil)
        // db1's REST API stops answering (its host is gone): its checks time out.
        h.answer[0] = .some(nil)
        let lost = h.now
        h.run(until: lost + 30 * Time.s)
        let down = h.serverState("db1", up: false, after: lost)
        #expect(down != nil)
        // Three checks: the first at most inter after the loss, then two more inter apart,
        // each failing on its timeout (no `timeout check`: bounded by inter).
        #expect(down?.detail["checks"]?.stringValue?.hasSuffix("L4TOUT, L4TOUT, L4TOUT") == true)
        if let d = down {
            #expect(d.timeNs - lost > 2 * 3 * Time.s && d.timeNs - lost <= 3 * (3 + 3) * Time.s + 3 * Time.s, "\(d.timeNs - lost)")
        }
    }

    @Test("a new primary is marked UP after rise (2) passing checks: 'Server write/db2 is UP'")
    func riseMarksUp() {
        let h = ProxyHarness(config())
        h.answer = [0: 200, 1: 503, 2: 503]
        h.proxy.start(steady: true, h)
        h.run(until: 10 * Time.s)
        h.answer = [0: 503, 1: 200, 2: 503]
        let promoted = h.now
        h.run(until: promoted + 20 * Time.s)
        let up = h.serverState("db2", up: true, after: promoted)
        #expect(up != nil)
        if let u = up { #expect(u.timeNs - promoted <= 2 * 3 * Time.s + Time.s && u.timeNs - promoted > 3 * Time.s - Time.s) }
        #expect(h.serverState("db1", up: false, after: promoted) != nil)
    }

    @Test("every server is checked on its own schedule: all three nodes are checked within one inter")
    func everyServerChecked() {
        let h = ProxyHarness(config())
        h.answer = [0: 200, 1: 503, 2: 503]
        h.proxy.start(steady: true, h)
        h.run(until: 3 * Time.s + Time.ms)
        #expect(Set(h.checksTo) == [0, 1, 2])
    }
}
