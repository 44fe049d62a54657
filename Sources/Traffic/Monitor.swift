import SimCore
import Settings
import Recording
import Postgres
import Patroni

/// The scrapers on one host: every target of every scrape job on its own schedule, at a
/// seeded phase (Prometheus spreads its targets over the interval, each at a fixed offset).
/// A frozen Patroni does not answer: its scrapes time out and, while they wait, fill its REST
/// API's listen queue like everyone else's connections.
public struct Monitor {
    public let proc: UInt32
    let name: String
    var targets: [Target] = []
    var rng: Rng

    struct Target {
        var node: Int
        var path: RESTPath
        var lag: Int64?
        var endpoint: String
        var intervalNs: Nanos
        var timeoutNs: Nanos
        var conn: ConnID = .none
        /// The scrape in flight's scrape_timeout.
        var timeout = TimerToken.none
        var connected = false
        var up = true
    }

    /// `jobs`: each scrape job with the DB nodes it targets.
    public init(proc: UInt32, name: String, jobs: [(MonitorConfig, [Int])], rng: Rng) {
        self.proc = proc
        self.name = name
        self.rng = rng
        for (cfg, nodes) in jobs {
            let (path, lag) = RESTPath.parse(cfg.endpoint) ?? (.metrics, nil)
            for n in nodes { targets.append(Target(node: n, path: path, lag: lag, endpoint: cfg.endpoint, intervalNs: cfg.intervalNs, timeoutNs: cfg.timeoutNs)) }
        }
    }

    public mutating func start(_ env: TrafficEnv) {
        for t in targets.indices {
            targets[t].conn = .none
            env.trafficTimer(proc, after: Nanos(rng.below(UInt64(max(1, targets[t].intervalNs)))), .scrape(UInt16(t)))
        }
    }

    public mutating func crash() {
        for t in targets.indices {
            targets[t].conn = .none
            targets[t].timeout = .none   // gone with the process
        }
    }

    public mutating func handle(_ input: TrafficInput, _ env: TrafficEnv) {
        switch input {
        case .timer(.scrape(let t)): scrape(Int(t), env)
        case .timer(.scrapeTimeout(let t)):
            guard Int(t) < targets.count else { return }
            targets[Int(t)].timeout = .none
            guard !targets[Int(t)].conn.isNone else { return }
            finish(Int(t), ok: false, why: targets[Int(t)].connected ? "timeout (no answer)" : "timeout (connecting)", env)
        case .conn(let c, let e):
            guard let t = targets.firstIndex(where: { $0.conn == c }) else { return }
            switch e {
            case .connected:
                targets[t].connected = true
                env.httpGet(c, from: proc, path: targets[t].path, lag: targets[t].lag, id: UInt32(t))
            case .refused: finish(t, ok: false, why: "connection refused", env)
            case .timedOut: finish(t, ok: false, why: "connection timed out", env)
            case .reset: finish(t, ok: false, why: "connection reset", env)
            }
        case .checkAnswer(let c, let status):
            guard let t = targets.firstIndex(where: { $0.conn == c }) else { return }
            finish(t, ok: status < 500, why: "HTTP \(status)", env)
        default: break
        }
    }

    mutating func scrape(_ t: Int, _ env: TrafficEnv) {
        guard t < targets.count else { return }
        env.trafficTimer(proc, after: targets[t].intervalNs, .scrape(UInt16(t)))
        if !targets[t].conn.isNone {
            // The previous scrape is still waiting (its timeout is longer than the interval).
            return
        }
        targets[t].connected = false
        targets[t].conn = env.httpConnect(from: proc, toNode: targets[t].node)
        targets[t].timeout = env.trafficTimer(proc, after: targets[t].timeoutNs, .scrapeTimeout(UInt16(t)))
    }

    mutating func finish(_ t: Int, ok: Bool, why: String, _ env: TrafficEnv) {
        env.trafficCancel(targets[t].timeout)
        targets[t].timeout = .none
        env.trafficClose(targets[t].conn)
        targets[t].conn = .none
        env.recorder.count(ok ? "monitor_scrapes_ok" : "monitor_scrapes_failed")
        if ok != targets[t].up {
            targets[t].up = ok
            // Prometheus's `up` for the target.
            env.recorder.log(env.now, name, "monitor", "scrape_target",
                             .object([("target", .string(env.nodeName(targets[t].node))), ("endpoint", .string(targets[t].endpoint)),
                                      ("up", .bool(ok)), ("why", .string(why))]))
        }
    }
}
