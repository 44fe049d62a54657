import SimCore
import Recording
import Postgres
import Patroni

/// A TCP load balancer in front of PostgreSQL that routes by Patroni's REST health checks:
/// HAProxy (its own health counter), Envoy, or a cloud load balancer. One process holds a
/// write frontend and (optionally) a read frontend, each a backend of every DB node.
public struct Proxy {
    public enum Kind: Sendable { case haproxy, envoy, cloudLB }

    public let proc: UInt32
    let name: String
    let kind: Kind
    let hap: HAProxyConfig
    let envoy: EnvoyConfig
    let lb: CloudLBConfig
    var rng: Rng
    public internal(set) var backends: [Backend] = []
    var sessions: [Session] = []
    var nextID: UInt32 = 0

    public struct Backend: Sendable {
        public var name: String
        public var path: RESTPath
        public var lag: Int64?
        public var servers: [Server]
        var rr = 0
    }

    public struct Server: Sendable {
        public var node: Int
        public var up: Bool
        /// HAProxy: the health counter in [0, rise+fall−1]; Envoy / cloud: consecutive results
        /// in the current direction.
        var health: Int
        var streak = 0
        var checkID: UInt32 = 0
        var checkStart: Nanos = 0
        var recent: [String] = []
        var sessions = 0
    }

    struct Session {
        var id: UInt32
        var client: UInt32
        var backend: Int
        var server: Int?
        var established = false
        var attempts = 0
        var connectID: UInt32 = 0
        var pending: [PgMessage] = []
    }

    public init(proc: UInt32, name: String, kind: Kind, nodes: [Int], nodeNames: [String], hap: HAProxyConfig, envoy: EnvoyConfig, lb: CloudLBConfig, rng: Rng) {
        self.proc = proc
        self.name = name
        self.kind = kind
        self.hap = hap
        self.envoy = envoy
        self.lb = lb
        self.rng = rng
        func servers(up: Bool, health: Int) -> [Server] { nodes.map { Server(node: $0, up: up, health: health) } }
        switch kind {
        case .haproxy:
            // HAProxy starts every server UP with health = rise: "up, but will fall down at
            // first failure" (server.c).
            let (wp, wl) = RESTPath.parse(hap.writeCheck) ?? (.primary, nil)
            backends.append(Backend(name: "write", path: wp, lag: wl, servers: servers(up: true, health: hap.rise)))
            if hap.readFrontend {
                let (rp, rl) = RESTPath.parse(hap.readCheck) ?? (.replica, nil)
                backends.append(Backend(name: "read", path: rp, lag: rl, servers: servers(up: true, health: hap.rise)))
            }
        case .envoy:
            // Envoy: a host is unhealthy until its first successful check.
            backends.append(Backend(name: "write", path: .primary, lag: nil, servers: servers(up: false, health: 0)))
            backends.append(Backend(name: "read", path: .replica, lag: nil, servers: servers(up: false, health: 0)))
        case .cloudLB:
            let (p, l) = RESTPath.parse(lb.checkPath) ?? (.primary, nil)
            backends.append(Backend(name: "write", path: p, lag: l, servers: servers(up: true, health: 0)))
        }
    }

    // MARK: - Lifecycle

    /// Starts the checks: HAProxy staggers the first ones (the k-th of N at k/N × inter).
    public mutating func start(_ env: TrafficEnv) {
        sessions.removeAll()
        let all = backends.indices.flatMap { b in backends[b].servers.indices.map { (b, $0) } }
        for (k, (b, s)) in all.enumerated() {
            let offset: Nanos
            switch kind {
            case .haproxy: offset = Nanos(k) * hap.interNs / Nanos(max(1, all.count))
            case .envoy: offset = Nanos(rng.below(UInt64(envoy.intervalNs)))
            case .cloudLB: offset = Nanos(rng.below(UInt64(lb.checkIntervalNs)))
            }
            env.trafficTimer(proc, after: offset, .check(backend: UInt8(b), server: UInt8(s)))
        }
    }

    /// The run starts in steady state: the proxy has been checking long enough that every
    /// server's state matches what its check answers now (the primary UP for writes, the
    /// replicas for reads), instead of HAProxy's cold start with every server UP.
    public mutating func settle(primary: Int, sync: [Int]) {
        for b in backends.indices {
            let path = backends[b].path
            for s in backends[b].servers.indices {
                let n = backends[b].servers[s].node
                let passes: Bool
                switch path {
                case .primary, .leader: passes = n == primary
                case .replica: passes = n != primary
                case .sync: passes = sync.contains(n)
                case .async: passes = n != primary && !sync.contains(n)
                case .readOnlySync: passes = n == primary || sync.contains(n)
                case .readOnly, .health, .liveness, .readiness, .patroni: passes = true
                }
                backends[b].servers[s].up = passes
                // HAProxy: fully up or down. Envoy: health 1 marks "checked before" (a host
                // never checked goes healthy on its first pass; a settled one needs healthy_threshold).
                backends[b].servers[s].health = kind == .haproxy ? (passes ? hap.rise + hap.fall - 1 : 0) : 1
                backends[b].servers[s].streak = passes ? 1 : -1
            }
        }
    }

    public mutating func crash() {
        sessions.removeAll()
        for b in backends.indices { for s in backends[b].servers.indices { backends[b].servers[s].checkID = 0 } }
    }

    public func isUp(backend: Int, node: Int) -> Bool {
        backends.indices.contains(backend) && backends[backend].servers.contains { $0.node == node && $0.up }
    }

    // MARK: - Inputs

    public mutating func handle(_ input: TrafficInput, _ env: TrafficEnv) {
        switch input {
        case .timer(let t):
            switch t {
            case .check(let b, let s): startCheck(Int(b), Int(s), env)
            case .checkTimeout(let id): checkDone(id, passed: false, why: "timeout", env)
            case .connectTimeout(let id): backendConnectFailed(id, why: "timeout", env)
            case .retryConnect(let sid): connectBackend(sid, env)
            default: break
            }
        case .checkAnswer(let id, let status): checkDone(id, passed: status == 200, why: "HTTP \(status)", env)
        case .checkRefused(let id): checkDone(id, passed: false, why: "refused", env)
        case .client(let from, let m): fromClient(from, m, env)
        case .server(let m): fromServer(m, env)
        case .connectResult(let id, let accepted):
            if accepted { backendConnected(id, env) } else { backendConnectFailed(id, why: "refused", env) }
        case .reset(let sid): serverReset(sid, env)
        case .advert: break
        }
    }

    // MARK: - Health checks

    mutating func startCheck(_ b: Int, _ s: Int, _ env: TrafficEnv) {
        nextID &+= 1
        backends[b].servers[s].checkID = nextID
        backends[b].servers[s].checkStart = env.now
        let srv = backends[b].servers[s]
        let outcome = env.healthCheck(from: proc, node: srv.node, path: backends[b].path, lag: backends[b].lag, id: nextID)
        // A silent host fails the connect phase: HAProxy bounds it by min(timeout connect,
        // inter); a connected check waits `timeout check` (or, without it, inter in all).
        let limit: Nanos
        switch (kind, outcome) {
        case (.haproxy, .noAnswer): limit = min(hap.timeoutConnectNs, hap.interNs)
        case (.haproxy, _): limit = hap.timeoutCheckNs ?? hap.interNs
        case (.envoy, _): limit = envoy.timeoutNs
        case (.cloudLB, _): limit = lb.checkTimeoutNs
        }
        env.trafficTimer(proc, after: limit, .checkTimeout(id: nextID))
    }

    mutating func checkDone(_ id: UInt32, passed: Bool, why: String, _ env: TrafficEnv) {
        guard let b = backends.indices.first(where: { bi in backends[bi].servers.contains { $0.checkID == id } }),
              let s = backends[b].servers.firstIndex(where: { $0.checkID == id }) else { return }
        backends[b].servers[s].checkID = 0
        var srv = backends[b].servers[s]
        srv.recent.append(passed ? "ok" : why)
        if srv.recent.count > 4 { srv.recent.removeFirst() }
        let wasUp = srv.up
        switch kind {
        case .haproxy:
            // check.c: a failure drops health by one and, once below rise, straight to 0 (DOWN);
            // a success adds one and, once at rise, jumps to rise+fall−1 (fully UP).
            let top = hap.rise + hap.fall - 1
            if passed {
                if srv.health < top {
                    srv.health += 1
                    if srv.health >= hap.rise { srv.health = top }
                }
            } else if srv.health > 0 {
                srv.health -= 1
                if srv.health < hap.rise { srv.health = 0 }
            }
            srv.up = srv.health >= hap.rise
        case .envoy:
            // Envoy: a non-2xx answer ejects at once; timeouts and refusals count toward
            // unhealthy_threshold; healthy after healthy_threshold successes (one at first).
            if passed {
                srv.streak = srv.streak > 0 ? srv.streak + 1 : 1
                if !srv.up && (srv.streak >= envoy.healthyThreshold || srv.health == 0) { srv.up = true }
                srv.health = 1
            } else {
                srv.streak = srv.streak < 0 ? srv.streak - 1 : -1
                if why.hasPrefix("HTTP") || -srv.streak >= envoy.unhealthyThreshold { srv.up = false }
            }
        case .cloudLB:
            if passed {
                srv.streak = srv.streak > 0 ? srv.streak + 1 : 1
                if !srv.up && srv.streak >= lb.healthyThreshold { srv.up = true }
            } else {
                srv.streak = srv.streak < 0 ? srv.streak - 1 : -1
                if srv.up && -srv.streak >= lb.unhealthyThreshold { srv.up = false }
            }
        }
        backends[b].servers[s] = srv
        if srv.up != wasUp {
            env.recorder.log(env.now, name, kindName, Recording.Kind.serverState,
                             Detail.serverState(frontend: backends[b].name, server: env.nodeName(srv.node), up: srv.up, checks: srv.recent.joined(separator: ", ")))
            if !srv.up && shutsDownSessions { killSessions(backend: b, server: s, env) }
        }
        env.trafficTimer(proc, after: nextInterval(srv), .check(backend: UInt8(b), server: UInt8(s)))
    }

    var kindName: String {
        switch kind { case .haproxy: "haproxy"; case .envoy: "envoy"; case .cloudLB: "lb" }
    }

    var shutsDownSessions: Bool {
        switch kind {
        case .haproxy: return hap.onMarkedDown == .shutdownSessions
        case .envoy: return envoy.closeConnectionsOnHostHealthFailure
        case .cloudLB: return false
        }
    }

    /// The next check is one interval after this one completed (HAProxy: inter when fully up,
    /// fastinter in transition, downinter when fully down; spread-checks adds jitter).
    mutating func nextInterval(_ srv: Server) -> Nanos {
        switch kind {
        case .haproxy:
            let top = hap.rise + hap.fall - 1
            var i = srv.health == top ? hap.interNs : srv.health == 0 ? hap.downinter : hap.fastinter
            if hap.spreadChecksPercent > 0 {
                let spread = i * Nanos(hap.spreadChecksPercent) / 100
                i += rng.int(-spread, spread)
            }
            return i
        case .envoy: return envoy.intervalNs
        case .cloudLB: return lb.checkIntervalNs
        }
    }

    // MARK: - Sessions

    mutating func fromClient(_ from: UInt32, _ m: PgMessage, _ env: TrafficEnv) {
        switch m {
        case .startup(let sid, _):
            // The frontend is in the session id's top bit (0 write, 1 read).
            let b = Int(sid >> 31) < backends.count ? Int(sid >> 31) : 0
            sessions.removeAll { $0.id == sid }
            sessions.append(Session(id: sid, client: from, backend: b, server: nil, pending: [m]))
            connectBackend(sid, env)
        case .query(let sid, _, _, _), .cancel(let sid):
            guard let i = sessions.firstIndex(where: { $0.id == sid }) else { return }
            if sessions[i].established, let s = sessions[i].server {
                env.trafficSend(from: proc, to: .server(backends[sessions[i].backend].servers[s].node), m)
            } else {
                sessions[i].pending.append(m)
            }
        case .closed(let sid, _):
            closeSession(sid, toClient: false, toServer: true, env)
        default: break
        }
    }

    /// Picks an UP server (round-robin or leastconn; Envoy's panic mode uses all when too few
    /// are healthy) and connects to it.
    mutating func connectBackend(_ sid: UInt32, _ env: TrafficEnv) {
        guard let i = sessions.firstIndex(where: { $0.id == sid }) else { return }
        let b = sessions[i].backend
        var candidates = backends[b].servers.indices.filter { backends[b].servers[$0].up }
        if kind == .envoy {
            let healthy = Double(candidates.count) / Double(max(1, backends[b].servers.count)) * 100
            if healthy < envoy.panicThresholdPercent { candidates = Array(backends[b].servers.indices) }
        }
        if let cur = sessions[i].server, sessions[i].attempts > 0, !(hap.redispatch && sessions[i].attempts == hap.retries) {
            candidates = [cur]  // HAProxy retries the same server (redispatch: the last retry elsewhere)
        }
        guard !candidates.isEmpty else {
            // No server UP: the client connection is accepted and closed at once (<NOSRV>).
            closeSession(sid, toClient: true, toServer: false, env)
            return
        }
        let s: Int
        if hap.balance == .leastconn && kind == .haproxy {
            s = candidates.min { backends[b].servers[$0].sessions < backends[b].servers[$1].sessions }!
        } else if hap.balance == .first && kind == .haproxy {
            s = candidates[0]
        } else {
            backends[b].rr = (backends[b].rr + 1) % max(1, backends[b].servers.count)
            s = candidates.first { $0 >= backends[b].rr } ?? candidates[0]
        }
        nextID &+= 1
        sessions[i].server = s
        sessions[i].connectID = nextID
        env.trafficConnect(from: proc, to: .server(backends[b].servers[s].node), session: sid, id: nextID)
        let timeout = kind == .envoy ? envoy.connectTimeoutNs : hap.timeoutConnectNs
        env.trafficTimer(proc, after: timeout, .connectTimeout(id: nextID))
    }

    mutating func backendConnected(_ id: UInt32, _ env: TrafficEnv) {
        guard let i = sessions.firstIndex(where: { $0.connectID == id && !$0.established }), let s = sessions[i].server else { return }
        sessions[i].established = true
        let b = sessions[i].backend
        backends[b].servers[s].sessions += 1
        let node = backends[b].servers[s].node
        for m in sessions[i].pending {
            if case .startup(let sid, _) = m { env.trafficSend(from: proc, to: .server(node), .startup(session: sid, owner: proc)) } else {
                env.trafficSend(from: proc, to: .server(node), m)
            }
        }
        sessions[i].pending.removeAll()
    }

    /// A failed backend connect is retried (`retries`, pausing min(timeout connect, 1 s));
    /// then the client connection is closed.
    mutating func backendConnectFailed(_ id: UInt32, why: String, _ env: TrafficEnv) {
        guard let i = sessions.firstIndex(where: { $0.connectID == id && !$0.established }) else { return }
        sessions[i].connectID = 0
        if kind == .haproxy && sessions[i].attempts < hap.retries {
            sessions[i].attempts += 1
            env.trafficTimer(proc, after: min(hap.timeoutConnectNs, Time.s), .retryConnect(session: sessions[i].id))
            return
        }
        closeSession(sessions[i].id, toClient: true, toServer: false, env)
    }

    mutating func fromServer(_ m: PgMessage, _ env: TrafficEnv) {
        switch m {
        case .ready(let sid), .result(let sid, _, _, _, _):
            guard let s = sessions.first(where: { $0.id == sid }) else { return }
            env.trafficReply(from: proc, to: s.client, m)
        case .closed(let sid, let why):
            guard let s = sessions.first(where: { $0.id == sid }) else { return }
            env.trafficReply(from: proc, to: s.client, .closed(session: sid, reason: why))
            closeSession(sid, toClient: false, toServer: false, env)
        default: break
        }
    }

    /// The backend side was reset (PostgreSQL died on a live host): HAProxy closes the client
    /// side too (termination flags SD), whatever the server's health state.
    mutating func serverReset(_ sid: UInt32, _ env: TrafficEnv) {
        closeSession(sid, toClient: true, toServer: false, env)
    }

    mutating func killSessions(backend b: Int, server s: Int, _ env: TrafficEnv) {
        for sess in sessions where sess.backend == b && sess.server == s && sess.established {
            closeSession(sess.id, toClient: true, toServer: true, env)
        }
    }

    mutating func closeSession(_ sid: UInt32, toClient: Bool, toServer: Bool, _ env: TrafficEnv) {
        guard let i = sessions.firstIndex(where: { $0.id == sid }) else { return }
        let sess = sessions.remove(at: i)
        if sess.established, let s = sess.server {
            backends[sess.backend].servers[s].sessions -= 1
            if toServer { env.trafficSend(from: proc, to: .server(backends[sess.backend].servers[s].node), .closed(session: sid, reason: .shuttingDown)) }
            env.trafficClose(from: proc, session: sid)
        }
        if toClient { env.trafficReply(from: proc, to: sess.client, .closed(session: sid, reason: .crashed)) }
    }
}
