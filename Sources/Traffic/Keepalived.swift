import SimCore
import Settings
import Recording
import Postgres

/// keepalived's VRRP instance for a virtual IP in front of an HAProxy pair (keepalived.conf(5)
/// 2.2.7; traffic-and-data.md §2). The highest-priority live node is MASTER and holds the VIP,
/// advertising every `advert_int`; a BACKUP that hears nothing for the Master_Down_Interval
/// (3 × advert_int + skew) takes over. A track script on the local HAProxy puts the node in
/// FAULT (releasing the VIP) after `fall` failed runs. A graceful stop advertises priority 0:
/// the backup then waits only the skew.
public struct Keepalived {
    public enum State: String, Sendable { case backup, master, fault }

    public let proc: UInt32
    let name: String
    let index: Int
    let cfg: KeepalivedConfig
    public let priority: Int
    var peers: [UInt32] = []
    public internal(set) var state: State = .backup
    /// The pending master-down timer: each advert from a higher priority re-arms it.
    var downTimer = TimerToken.none
    var trackFails = 0
    var trackOK = 0
    var rng: Rng

    public init(proc: UInt32, name: String, index: Int, cfg: KeepalivedConfig, rng: Rng) {
        self.proc = proc
        self.name = name
        self.index = index
        self.cfg = cfg
        priority = cfg.priorities.indices.contains(index) ? cfg.priorities[index] : max(1, cfg.priority - index)
        self.rng = rng
    }

    public mutating func setPeers(_ p: [UInt32]) { peers = p.filter { $0 != proc } }

    /// Skew_Time: VRRPv2 (256 − priority) / 256 s; VRRPv3 (256 − priority) × advert_int / 256.
    var skewNs: Nanos {
        cfg.vrrpVersion == 3 ? Nanos(256 - priority) * cfg.advertIntNs / 256 : Nanos(256 - priority) * Time.s / 256
    }
    var masterDownNs: Nanos { 3 * cfg.advertIntNs + skewNs }

    public mutating func start(_ env: TrafficEnv) {
        state = .backup
        trackFails = 0
        armDownTimer(masterDownNs, env)
        env.trafficTimer(proc, after: cfg.trackInterval, .trackScript)
    }

    /// The run starts in steady state: the preferred node is already MASTER and holds the VIP,
    /// each daemon at its own point of its advert and track-script cycles.
    public mutating func startSteady(master: Bool, _ env: TrafficEnv) {
        trackFails = 0
        env.trafficTimer(proc, after: Nanos(rng.below(UInt64(max(1, cfg.trackInterval)))), .trackScript)
        if master {
            state = .master
            env.vrrpTakeVIP(from: proc)
            env.trafficTimer(proc, after: Nanos(rng.below(UInt64(max(1, cfg.advertIntNs)))), .advertTick)
        } else {
            state = .backup
            armDownTimer(masterDownNs, env)
        }
    }

    public mutating func crash() {
        state = .backup
        downTimer = .none   // gone with the process
    }

    /// A graceful stop: advertise priority 0 so that the backup takes over after its skew.
    public mutating func stop(_ env: TrafficEnv) {
        if state == .master {
            for p in peers { env.vrrpSend(from: proc, to: p, priority: 0) }
            env.vrrpReleaseVIP(from: proc)
        }
        state = .backup
    }

    mutating func armDownTimer(_ d: Nanos, _ env: TrafficEnv) {
        env.trafficCancel(downTimer)
        downTimer = env.trafficTimer(proc, after: d, .masterDown)
    }

    public mutating func handle(_ input: TrafficInput, _ env: TrafficEnv) {
        switch input {
        case .timer(.advertTick):
            guard state == .master else { return }
            for p in peers { env.vrrpSend(from: proc, to: p, priority: UInt8(priority)) }
            env.trafficTimer(proc, after: cfg.advertIntNs, .advertTick)
        case .timer(.masterDown):
            downTimer = .none
            guard state == .backup else { return }
            becomeMaster(env)
        case .timer(.trackScript):
            track(env)
        case .advert(_, let prio):
            advert(Int(prio), env)
        default: break
        }
    }

    mutating func becomeMaster(_ env: TrafficEnv) {
        state = .master
        env.recorder.log(env.now, name, "keepalived", "vrrp_state", .object([("state", "MASTER"), ("priority", .int(Int64(priority)))]))
        env.vrrpTakeVIP(from: proc)
        for p in peers { env.vrrpSend(from: proc, to: p, priority: UInt8(priority)) }
        env.trafficTimer(proc, after: cfg.advertIntNs, .advertTick)
    }

    mutating func advert(_ prio: Int, _ env: TrafficEnv) {
        switch state {
        case .backup:
            if prio == 0 {
                // The master is leaving: take over after Skew_Time only.
                armDownTimer(skewNs, env)
            } else if cfg.nopreempt || prio >= priority {
                armDownTimer(masterDownNs, env)
            }
            // A lower-priority master with preemption on: let the timer run out and take over.
        case .master:
            if prio > priority {
                state = .backup
                env.recorder.log(env.now, name, "keepalived", "vrrp_state", .object([("state", "BACKUP"), ("why", "higher priority master")]))
                env.vrrpReleaseVIP(from: proc)
                armDownTimer(masterDownNs, env)
            }
        case .fault: break
        }
    }

    /// `vrrp_script` + `track_script` on the local HAProxy (weight 0: failure means FAULT).
    mutating func track(_ env: TrafficEnv) {
        env.trafficTimer(proc, after: cfg.trackInterval, .trackScript)
        let alive = env.localProxyAlive(proc)
        if alive { trackOK += 1; trackFails = 0 } else { trackFails += 1; trackOK = 0 }
        if state != .fault && trackFails >= cfg.trackFall && cfg.trackWeight == 0 {
            if state == .master {
                for p in peers { env.vrrpSend(from: proc, to: p, priority: 0) }
                env.vrrpReleaseVIP(from: proc)
            }
            state = .fault
            env.recorder.log(env.now, name, "keepalived", "vrrp_state", .object([("state", "FAULT"), ("why", "track script failed")]))
        } else if state == .fault && trackOK >= cfg.trackRise {
            state = .backup
            armDownTimer(masterDownNs, env)
        }
    }
}

/// PgBouncer in session pooling between the clients and the front (pgbouncer(5) 1.18;
/// traffic-and-data.md §3): it does not follow the primary, it connects to one configured
/// endpoint; after a failed server connect it rejects clients that need a server for
/// `server_login_retry` (15 s).
public struct PgBouncer {
    public let proc: UInt32
    let name: String
    let cfg: PgBouncerConfig
    let upstream: Endpoint
    struct Session {
        var session: UInt32
        var clientConn: ConnID
        var serverConn: ConnID
        var established: Bool
        var connectID: UInt32
        var pending: [PgMessage]
    }
    var sessions: [Session] = []
    var loginFailedAt: Nanos = -1 << 60
    var nextID: UInt32 = 0

    public init(proc: UInt32, name: String, cfg: PgBouncerConfig, upstream: Endpoint) {
        self.proc = proc
        self.name = name
        self.cfg = cfg
        self.upstream = upstream
    }

    public mutating func start(_ env: TrafficEnv) { sessions.removeAll() }
    public mutating func crash() { sessions.removeAll() }

    /// SIGTERM: PgBouncer's immediate shutdown closes every client and server connection.
    public mutating func stop(_ env: TrafficEnv) {
        for s in sessions {
            env.trafficSend(s.clientConn, from: proc, .closed(session: s.session, reason: .crashed))
            env.trafficClose(s.clientConn)
            env.trafficClose(s.serverConn)
        }
        sessions.removeAll()
    }

    public mutating func handle(_ input: TrafficInput, _ env: TrafficEnv) {
        switch input {
        case .client(let c, let m):
            switch m {
            case .startup(let sid):
                if env.now < loginFailedAt + cfg.serverLoginRetryNs {
                    // check_fast_fail: the cached login error, at once.
                    env.trafficSend(c, from: proc, .closed(session: sid, reason: .crashed))
                    env.trafficClose(c)
                    return
                }
                nextID &+= 1
                let server = env.trafficConnect(from: proc, to: upstream)
                sessions.append(Session(session: sid, clientConn: c, serverConn: server, established: false, connectID: nextID, pending: [.startup(session: sid)]))
                env.trafficTimer(proc, after: cfg.serverConnectTimeoutNs, .connectTimeout(id: nextID))
            case .query, .cancel:
                guard let i = sessions.firstIndex(where: { $0.clientConn == c }) else { return }
                if sessions[i].established { env.trafficSend(sessions[i].serverConn, from: proc, m) } else { sessions[i].pending.append(m) }
            case .closed:
                if let i = sessions.firstIndex(where: { $0.clientConn == c }) {
                    if sessions[i].established { env.trafficSend(sessions[i].serverConn, from: proc, m) }
                    env.trafficClose(sessions[i].serverConn)
                    env.trafficClose(c)
                    sessions.remove(at: i)
                }
            default: break
            }
        case .conn(let c, let e):
            if let i = sessions.firstIndex(where: { $0.serverConn == c }) {
                switch e {
                case .connected:
                    guard !sessions[i].established else { return }
                    sessions[i].established = true
                    for m in sessions[i].pending { env.trafficSend(c, from: proc, m) }
                    sessions[i].pending.removeAll()
                case .refused, .timedOut:
                    if !sessions[i].established { loginFailed(i, env) }
                case .reset:
                    // "server conn crashed?": the linked client connection is closed too.
                    env.trafficSend(sessions[i].clientConn, from: proc, .closed(session: sessions[i].session, reason: .crashed))
                    env.trafficClose(sessions[i].clientConn)
                    sessions.remove(at: i)
                }
            } else if e == .reset, let i = sessions.firstIndex(where: { $0.clientConn == c }) {
                env.trafficClose(sessions[i].serverConn)
                sessions.remove(at: i)
            }
        case .timer(.connectTimeout(let id)):
            if let i = sessions.firstIndex(where: { $0.connectID == id && !$0.established }) { loginFailed(i, env) }
        case .server(let c, let m):
            guard let i = sessions.firstIndex(where: { $0.serverConn == c }) else { return }
            switch m {
            case .ready, .result:
                env.trafficSend(sessions[i].clientConn, from: proc, m)
            case .closed(let sid, let why):
                if case .startingUp = why { loginFailedAt = env.now }
                env.trafficSend(sessions[i].clientConn, from: proc, .closed(session: sid, reason: why))
                env.trafficClose(sessions[i].clientConn)
                env.trafficClose(c)
                sessions.remove(at: i)
            default: break
            }
        default: break
        }
    }

    mutating func loginFailed(_ i: Int, _ env: TrafficEnv) {
        loginFailedAt = env.now
        env.recorder.log(env.now, name, "pgbouncer", "server_login_failed", .object([("retry_in_s", .double(Time.seconds(cfg.serverLoginRetryNs)))]))
        env.trafficSend(sessions[i].clientConn, from: proc, .closed(session: sessions[i].session, reason: .crashed))
        env.trafficClose(sessions[i].clientConn)
        env.trafficClose(sessions[i].serverConn)
        sessions.remove(at: i)
    }
}
