import SimCore
import Settings
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
        var checkConn: ConnID = .none
        var checkConnected = false
        var recent: [String] = []
        var sessions = 0
    }

    struct Session {
        var id: UInt32
        /// The client's connection to this proxy, and ours to the server.
        var clientConn: ConnID
        var backend: Int
        var server: Int?
        var serverConn: ConnID = .none
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

    /// Starts the checks. A freshly started HAProxy spreads the first ones over the shortest
    /// interval (checks.c `start_checks`: the k-th of N checks at k/N × inter); one that has
    /// been running (`steady`) is at a random point of every server's cycle, because each next
    /// check is scheduled from the end of the previous one and drifts. Envoy and cloud load
    /// balancers start at a random point of their interval either way.
    public mutating func start(steady: Bool = false, _ env: TrafficEnv) {
        sessions.removeAll()
        let all = backends.indices.flatMap { b in backends[b].servers.indices.map { (b, $0) } }
        for (k, (b, s)) in all.enumerated() {
            let offset: Nanos
            switch kind {
            case .haproxy:
                offset = steady ? Nanos(rng.below(UInt64(max(1, nextInterval(backends[b].servers[s]))))) : Nanos(k) * hap.interNs / Nanos(max(1, all.count))
            case .envoy: offset = Nanos(rng.below(UInt64(envoy.intervalNs)))
            case .cloudLB: offset = Nanos(rng.below(UInt64(lb.checkIntervalNs)))
            }
            env.trafficTimer(proc, after: offset, .check(backend: UInt8(b), server: UInt8(s)))
        }
    }

    /// A graceful stop (SIGTERM: HAProxy's hard stop): every session is closed at once.
    public mutating func stop(_ env: TrafficEnv) {
        for s in sessions {
            env.trafficSend(s.clientConn, from: proc, .closed(session: s.id, reason: .crashed))
            env.trafficClose(s.clientConn)
            if s.serverConn != .none {
                if s.established { env.trafficSend(s.serverConn, from: proc, .closed(session: s.id, reason: .shuttingDown)) }
                env.trafficClose(s.serverConn)
            }
        }
        sessions.removeAll()
        for b in backends.indices { for s in backends[b].servers.indices { env.trafficClose(backends[b].servers[s].checkConn) } }
    }

    /// The run starts in steady state: the proxy has been checking long enough that every
    /// server's state matches what its check answers now (the primary UP for writes, the
    /// replicas for reads), instead of HAProxy's cold start with every server UP.
    /// `absent`: nodes that do not exist yet (a member added mid-run): DOWN from the start.
    /// `quorum`: the `sync` members are quorum standbys (quorum commit), not sync standbys.
    public mutating func settle(primary: Int, sync listed: [Int], quorum: Bool = false, absent: [Int] = []) {
        let sync = quorum ? [] : listed, voters = quorum ? listed : []
        for b in backends.indices {
            let path = backends[b].path
            for s in backends[b].servers.indices {
                let n = backends[b].servers[s].node
                let passes: Bool
                switch path {
                case .primary, .leader: passes = n == primary
                case .replica: passes = n != primary
                case .sync: passes = sync.contains(n)
                case .async: passes = n != primary && !listed.contains(n)
                case .readOnlySync: passes = n == primary || sync.contains(n)
                case .quorum: passes = voters.contains(n)
                case .readOnlyQuorum: passes = n == primary || voters.contains(n)
                case .readOnly, .health, .liveness, .readiness, .patroni, .metrics: passes = true
                }
                let up = passes && !absent.contains(n)
                backends[b].servers[s].up = up
                // HAProxy: fully up or down. Envoy: health 1 marks "checked before" (a host
                // never checked goes healthy on its first pass; a settled one needs healthy_threshold).
                backends[b].servers[s].health = kind == .haproxy ? (up ? hap.rise + hap.fall - 1 : 0) : 1
                backends[b].servers[s].streak = up ? 1 : -1
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
            case .checkTimeout(let id): checkTimedOut(id, read: false, env)
            case .checkReadTimeout(let id): checkTimedOut(id, read: true, env)
            case .connectTimeout(let id): backendConnectFailed(id, why: "timeout", env)
            case .retryConnect(let sid): connectBackend(sid, env)
            default: break
            }
        case .checkAnswer(let c, let status):
            guard let (b, s) = server(checking: c) else { return }
            let id = backends[b].servers[s].checkID
            if status == 200 { checkDone(id, passed: true, why: kind == .haproxy ? "L7OK/200" : "ok", env) } else {
                checkDone(id, passed: false, why: kind == .haproxy ? "L7STS/\(status)" : "HTTP \(status)", env)
            }
        case .client(let c, let m): fromClient(c, m, env)
        case .server(let c, let m): fromServer(c, m, env)
        case .conn(let c, let e): connectionEvent(c, e, env)
        case .advert: break
        }
    }

    func server(checking c: ConnID) -> (Int, Int)? {
        for b in backends.indices { if let s = backends[b].servers.firstIndex(where: { $0.checkConn == c && $0.checkID != 0 }) { return (b, s) } }
        return nil
    }

    mutating func connectionEvent(_ c: ConnID, _ e: ConnEvent, _ env: TrafficEnv) {
        if let (b, s) = server(checking: c) {
            let id = backends[b].servers[s].checkID
            switch e {
            case .connected:
                backends[b].servers[s].checkConnected = true
                env.httpGet(c, from: proc, path: backends[b].path, lag: backends[b].lag, id: id)
                // With `timeout check`, the read phase gets its own timeout.
                if kind == .haproxy, let tc = hap.timeoutCheckNs { env.trafficTimer(proc, after: tc, .checkReadTimeout(id: id)) }
            case .refused: checkDone(id, passed: false, why: kind == .haproxy ? "L4CON" : "refused", env)
            case .timedOut: checkDone(id, passed: false, why: kind == .haproxy ? "L4TOUT" : "timeout", env)
            case .reset: checkDone(id, passed: false, why: kind == .haproxy ? "L7RSP" : "reset", env)
            }
            return
        }
        if let i = sessions.firstIndex(where: { $0.serverConn == c }) {
            switch e {
            case .connected: backendConnected(sessions[i].connectID, env)
            case .refused, .timedOut: backendConnectFailed(sessions[i].connectID, why: e == .refused ? "refused" : "timeout", env)
            case .reset: serverReset(sessions[i].id, env)
            }
            return
        }
        if e == .reset, let i = sessions.firstIndex(where: { $0.clientConn == c }) {
            // The client went away: the server side of its session is closed too.
            closeSession(sessions[i].id, toClient: false, toServer: true, env)
        }
    }

    // MARK: - Health checks

    /// A check opens a new connection to the node's REST port, then sends its request. The
    /// budget follows HAProxy's `timeout check` (configuration.txt): unset, `inter` bounds the
    /// whole check; set, min(`timeout connect`, `inter`) bounds the connect and `timeout check`
    /// the read. A check that times out connecting is L4TOUT, one that connected and got no
    /// answer L7TOUT; a refused connect is L4CON, a non-200 answer L7STS.
    mutating func startCheck(_ b: Int, _ s: Int, _ env: TrafficEnv) {
        nextID &+= 1
        if backends[b].servers[s].checkID != 0 { env.trafficClose(backends[b].servers[s].checkConn) }
        backends[b].servers[s].checkID = nextID
        backends[b].servers[s].checkStart = env.now
        backends[b].servers[s].checkConnected = false
        backends[b].servers[s].checkConn = env.httpConnect(from: proc, toNode: backends[b].servers[s].node)
        let limit: Nanos
        switch kind {
        case .haproxy: limit = hap.timeoutCheckNs == nil ? hap.interNs : min(hap.timeoutConnectNs, hap.interNs)
        case .envoy: limit = envoy.timeoutNs
        case .cloudLB: limit = lb.checkTimeoutNs
        }
        env.trafficTimer(proc, after: limit, .checkTimeout(id: nextID))
    }

    mutating func checkTimedOut(_ id: UInt32, read: Bool, _ env: TrafficEnv) {
        guard let b = backends.indices.first(where: { bi in backends[bi].servers.contains { $0.checkID == id } }),
              let s = backends[b].servers.firstIndex(where: { $0.checkID == id }) else { return }
        let connected = backends[b].servers[s].checkConnected
        // The connect-phase timer is moot once connected when the read phase has its own.
        if !read && connected && kind == .haproxy && hap.timeoutCheckNs != nil { return }
        let why = kind == .haproxy ? (connected ? "L7TOUT" : "L4TOUT") : "timeout"
        checkDone(id, passed: false, why: why, env)
    }

    mutating func checkDone(_ id: UInt32, passed: Bool, why: String, _ env: TrafficEnv) {
        guard let b = backends.indices.first(where: { bi in backends[bi].servers.contains { $0.checkID == id } }),
              let s = backends[b].servers.firstIndex(where: { $0.checkID == id }) else { return }
        env.trafficClose(backends[b].servers[s].checkConn)
        backends[b].servers[s].checkID = 0
        backends[b].servers[s].checkConn = .none
        var srv = backends[b].servers[s]
        srv.recent.append(why)
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
                             Detail.serverState(backend: backends[b].name, server: env.nodeName(srv.node), up: srv.up, checks: srv.recent.joined(separator: ", "),
                                                check: checkRequest(backends[b])))
            if !srv.up && shutsDownSessions { killSessions(backend: b, server: s, env) }
        }
        env.trafficTimer(proc, after: nextInterval(srv), .check(backend: UInt8(b), server: UInt8(s)))
    }

    /// The health check's request line (`option httpchk GET /sync?lag=...`): the REST answers
    /// a routing decision rests on are recorded with the endpoint that gave them.
    func checkRequest(_ b: Backend) -> String {
        "GET " + b.path.url + (b.lag.map { "?lag=\($0)" } ?? "")
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

    mutating func fromClient(_ c: ConnID, _ m: PgMessage, _ env: TrafficEnv) {
        switch m {
        case .startup(let sid):
            // The frontend is in the session id's top bit (0 write, 1 read).
            let b = Int(sid >> 31) < backends.count ? Int(sid >> 31) : 0
            sessions.removeAll { $0.id == sid }
            sessions.append(Session(id: sid, clientConn: c, backend: b, server: nil, pending: [m]))
            connectBackend(sid, env)
        case .query, .cancel:
            guard let i = sessions.firstIndex(where: { $0.clientConn == c }) else { return }
            if sessions[i].established { env.trafficSend(sessions[i].serverConn, from: proc, m) } else { sessions[i].pending.append(m) }
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
        sessions[i].serverConn = env.trafficConnect(from: proc, to: .server(backends[b].servers[s].node))
        let timeout = kind == .envoy ? envoy.connectTimeoutNs : hap.timeoutConnectNs
        env.trafficTimer(proc, after: timeout, .connectTimeout(id: nextID))
    }

    mutating func backendConnected(_ id: UInt32, _ env: TrafficEnv) {
        guard let i = sessions.firstIndex(where: { $0.connectID == id && !$0.established }), let s = sessions[i].server else { return }
        sessions[i].established = true
        let b = sessions[i].backend
        backends[b].servers[s].sessions += 1
        for m in sessions[i].pending { env.trafficSend(sessions[i].serverConn, from: proc, m) }
        sessions[i].pending.removeAll()
    }

    /// A failed backend connect is retried (`retries`, pausing min(timeout connect, 1 s));
    /// then the client connection is closed.
    mutating func backendConnectFailed(_ id: UInt32, why: String, _ env: TrafficEnv) {
        guard let i = sessions.firstIndex(where: { $0.connectID == id && !$0.established }) else { return }
        env.trafficClose(sessions[i].serverConn)
        sessions[i].serverConn = .none
        sessions[i].connectID = 0
        if kind == .haproxy && sessions[i].attempts < hap.retries {
            sessions[i].attempts += 1
            env.trafficTimer(proc, after: min(hap.timeoutConnectNs, Time.s), .retryConnect(session: sessions[i].id))
            return
        }
        closeSession(sessions[i].id, toClient: true, toServer: false, env)
    }

    mutating func fromServer(_ c: ConnID, _ m: PgMessage, _ env: TrafficEnv) {
        guard let i = sessions.firstIndex(where: { $0.serverConn == c }) else { return }
        switch m {
        case .ready, .result:
            env.trafficSend(sessions[i].clientConn, from: proc, m)
        case .closed(let sid, let why):
            env.trafficSend(sessions[i].clientConn, from: proc, .closed(session: sid, reason: why))
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
            if toServer { env.trafficSend(sess.serverConn, from: proc, .closed(session: sid, reason: .shuttingDown)) }
        }
        env.trafficClose(sess.serverConn)
        if toClient { env.trafficSend(sess.clientConn, from: proc, .closed(session: sid, reason: .crashed)) }
        env.trafficClose(sess.clientConn)
    }
}
