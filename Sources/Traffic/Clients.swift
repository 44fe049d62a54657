import SimCore
import Settings
import Recording
import Postgres

/// The application's database clients on one host, with libpq-like behaviour: a connection per
/// client, a connect timeout, reconnection with backoff, one transaction at a time. Every write
/// is recorded (ok, failed, indeterminate) with its times.
public struct Clients {
    public let proc: UInt32
    let procTag: UInt32
    let cfg: WorkloadConfig
    var rng: Rng
    var clients: [Client] = []
    var nextSession: UInt32 = 0
    var nextConnect: UInt32 = 0

    struct Client {
        var endpoint: Endpoint
        var frontend: UInt32
        var reader: Bool
        var directHost: Int16
        var state: State = .disconnected
        var session: UInt32 = 0
        /// The connection (to the front, or a server directly).
        var conn: ConnID = .none
        var connectID: UInt32 = 0
        var backoffNs: Nanos
        var backoffUntil: Nanos = 0
        var nextDue: Nanos = 0
        var intervalNs: Double
        /// The write (or read) waiting for the connection, or in flight.
        var pending: UInt32? = nil
        var pendingSent: Nanos = 0
        /// For a read: the latest write acknowledged before it was sent.
        var pendingMustSee = WalPosition.none
        var cancelled = false
        /// When the transaction in flight is given up on (or its cancel, once sent).
        var deadline: Nanos = 0
        /// Whether a timeout timer is pending. One timer per client, re-armed lazily for the
        /// transaction in flight when it fires, instead of one per transaction: nearly every
        /// transaction finishes long before its timeout.
        var timerArmed = false
    }

    enum State { case disconnected, connecting, starting, ready, busy }

    /// `endpoints`: for each client, where it connects (the front, or a host directly).
    public init(proc: UInt32, cfg: WorkloadConfig, writers: [(Endpoint, Int16)], readers: [Endpoint], rng: Rng) {
        self.proc = proc
        procTag = (proc & 0x7FF) << 20
        self.cfg = cfg
        self.rng = rng
        let perWriter = Double(max(1, writers.count))
        for (e, direct) in writers {
            clients.append(Client(endpoint: e, frontend: 0, reader: false, directHost: direct, backoffNs: cfg.reconnectBackoffNs,
                                  intervalNs: cfg.rate > 0 ? 1e9 * perWriter / cfg.rate : 0))
        }
        for e in readers {
            clients.append(Client(endpoint: e, frontend: 1, reader: true, directHost: -1, backoffNs: cfg.reconnectBackoffNs,
                                  intervalNs: cfg.readRate > 0 ? 1e9 * Double(max(1, readers.count)) / cfg.readRate : 0))
        }
    }

    public mutating func start(_ env: TrafficEnv) {
        for c in clients.indices {
            reset(c)
            guard clients[c].intervalNs > 0 else { continue }
            // Open the connection at once; the first transaction comes after a random wait
            // (Poisson arrivals: no client starts at a fixed phase).
            connect(c, env)
            let first = Self.gap(rng.exponential(mean: clients[c].intervalNs))
            clients[c].nextDue = env.now + first
            env.trafficTimer(proc, after: first, .clientDue(UInt16(c)))
        }
    }

    /// The application dies (kill, a host crash): its sessions are gone, the transaction each
    /// had in flight is indeterminate to it (sent: it may have committed) or failed (not yet
    /// sent). The clients themselves stay: a restarted application runs them again.
    public mutating func crash(_ env: TrafficEnv) {
        for c in clients.indices {
            if clients[c].pending != nil { failPending(c, clients[c].state == .busy ? .indeterminate : .failed, .clientKilled, env) }
            reset(c)
        }
    }

    /// A client as a fresh process has it: disconnected, nothing pending, no timer (timers of
    /// an earlier life are gone), the reconnect backoff back at its start.
    mutating func reset(_ c: Int) {
        clients[c].state = .disconnected
        clients[c].pending = nil
        clients[c].conn = .none
        clients[c].timerArmed = false
        clients[c].cancelled = false
        clients[c].backoffNs = cfg.reconnectBackoffNs
        clients[c].backoffUntil = 0
    }

    /// An exponential gap as a time: a draw far in the tail of a rare client (one write a
    /// day) is capped at a year, past any run's end, rather than overflowing the clock.
    static func gap(_ ns: Double) -> Nanos { Nanos(min(ns, 365 * 86400e9)) }

    /// A graceful stop (the application shuts down): every session is ended and closed.
    public mutating func stop(_ env: TrafficEnv) {
        for c in clients.indices where clients[c].state != .disconnected {
            if clients[c].state != .connecting { env.trafficSend(clients[c].conn, from: proc, .closed(session: clients[c].session, reason: .shuttingDown)) }
            env.trafficClose(clients[c].conn)
        }
        for c in clients.indices {
            if clients[c].pending != nil { failPending(c, clients[c].state == .busy ? .indeterminate : .failed, .shuttingDown, env) }
            reset(c)
        }
    }

    public mutating func handle(_ input: TrafficInput, _ env: TrafficEnv) {
        switch input {
        case .timer(.clientDue(let c)): due(Int(c), env)
        case .timer(.queryTimeout(let c, _)): queryTimeout(Int(c), env)
        case .timer(.connectTimeout(let id)): connectFailed(id, .connectTimeout, env)
        case .conn(let conn, let e):
            guard let c = clients.firstIndex(where: { $0.conn == conn && $0.state != .disconnected }) else { return }
            switch e {
            case .connected: connected(clients[c].connectID, env)
            case .refused: connectFailed(clients[c].connectID, .connectionRefused, env)
            case .timedOut: connectFailed(clients[c].connectID, .connectTimeout, env)
            case .reset: broken(clients[c].session, env)
            }
        case .server(_, let m): serverMessage(m, env)
        default: break
        }
    }

    // MARK: - Connections

    mutating func connect(_ c: Int, _ env: TrafficEnv) {
        nextSession &+= 1
        nextConnect &+= 1
        let sid = procTag | (nextSession & 0xFFFFF) | (clients[c].frontend << 31)
        clients[c].session = sid
        clients[c].connectID = nextConnect
        clients[c].state = .connecting
        clients[c].conn = env.trafficConnect(from: proc, to: clients[c].endpoint)
        env.trafficTimer(proc, after: cfg.connectTimeoutNs, .connectTimeout(id: nextConnect))
    }

    func client(connect id: UInt32) -> Int? { clients.firstIndex { $0.connectID == id && ($0.state == .connecting || $0.state == .starting) } }
    func client(session s: UInt32) -> Int? { clients.firstIndex { $0.session == s && $0.state != .disconnected } }

    mutating func connected(_ id: UInt32, _ env: TrafficEnv) {
        guard let c = client(connect: id), clients[c].state == .connecting else { return }
        clients[c].state = .starting
        env.trafficSend(clients[c].conn, from: proc, .startup(session: clients[c].session))
    }

    /// libpq gave up connecting: the attempted transaction fails; try again after the backoff.
    mutating func connectFailed(_ id: UInt32, _ why: WriteError, _ env: TrafficEnv) {
        guard let c = client(connect: id) else { return }
        env.trafficClose(clients[c].conn)
        clients[c].state = .disconnected
        clients[c].connectID = 0
        failPending(c, .failed, why, env)
        backoff(c, env)
    }

    mutating func backoff(_ c: Int, _ env: TrafficEnv) {
        clients[c].backoffUntil = env.now + clients[c].backoffNs
        clients[c].backoffNs = min(clients[c].backoffNs * 2, cfg.reconnectBackoffMaxNs)
        env.trafficTimer(proc, after: clients[c].backoffUntil - env.now, .clientDue(UInt16(c)))
    }

    /// The connection broke (reset, or closed by the server or the proxy).
    mutating func broken(_ sid: UInt32, _ env: TrafficEnv, why: WriteError = .serverClosed) {
        guard let c = client(session: sid) else { return }
        let wasBusy = clients[c].state == .busy
        env.trafficClose(clients[c].conn)
        clients[c].state = .disconnected
        // A break while COMMIT was in flight leaves its fate unknown; before the transaction
        // was sent (during connection start-up) it simply failed.
        failPending(c, wasBusy ? .indeterminate : .failed, why, env)
        backoff(c, env)
    }

    // MARK: - Transactions

    mutating func due(_ c: Int, _ env: TrafficEnv) {
        guard c < clients.count else { return }
        switch clients[c].state {
        case .ready:
            if env.now >= clients[c].nextDue { send(c, env) }
        case .disconnected:
            guard env.now >= clients[c].backoffUntil else { return }
            if env.now >= clients[c].nextDue && clients[c].pending == nil { attempt(c, env) }
            connect(c, env)
        default: break
        }
    }

    /// A transaction attempted now (its record is created even if the connection fails).
    mutating func attempt(_ c: Int, _ env: TrafficEnv) {
        let id = clients[c].reader ? UInt32.max - UInt32(c) : env.recorder.newWrite(client: UInt16(c), directHost: clients[c].directHost, at: env.now, bytes: Int32(cfg.writeBytes))
        clients[c].pending = id
        clients[c].pendingSent = env.now
        if clients[c].reader { clients[c].pendingMustSee = env.recorder.latestAck(before: env.now) }
        clients[c].cancelled = false
        advanceDue(c, env)
    }

    mutating func advanceDue(_ c: Int, _ env: TrafficEnv) {
        let gap = Self.gap(rng.exponential(mean: clients[c].intervalNs))
        clients[c].nextDue = max(clients[c].nextDue + gap, env.now)
    }

    mutating func send(_ c: Int, _ env: TrafficEnv) {
        if clients[c].pending == nil { attempt(c, env) }
        guard let id = clients[c].pending else { return }
        clients[c].state = .busy
        let write = !clients[c].reader
        env.trafficSend(clients[c].conn, from: proc, .query(session: clients[c].session, id: write ? id : 0, bytes: Int32(cfg.writeBytes), write: write))
        armTimeout(c, at: env.now + cfg.queryTimeoutNs, env)
    }

    mutating func armTimeout(_ c: Int, at deadline: Nanos, _ env: TrafficEnv) {
        clients[c].deadline = deadline
        if !clients[c].timerArmed {
            clients[c].timerArmed = true
            env.trafficTimer(proc, after: deadline - env.now, .queryTimeout(UInt16(c), 0))
        }
    }

    mutating func serverMessage(_ m: PgMessage, _ env: TrafficEnv) {
        switch m {
        case .ready(let sid):
            guard let c = client(session: sid), clients[c].state == .starting else { return }
            clients[c].state = .ready
            clients[c].backoffNs = cfg.reconnectBackoffNs
            if clients[c].pending != nil || env.now >= clients[c].nextDue { send(c, env) } else {
                env.trafficTimer(proc, after: clients[c].nextDue - env.now, .clientDue(UInt16(c)))
            }
        case .result(let sid, _, let status, let at, let host):
            guard let c = client(session: sid), clients[c].state == .busy, let id = clients[c].pending else { return }
            if clients[c].reader {
                env.recorder.reads.append(ReadRecord(sentNs: clients[c].pendingSent, doneNs: env.now, host: host, ok: status == .ok, servedAt: at, mustSee: clients[c].pendingMustSee))
            } else {
                switch status {
                case .ok: env.recorder.finishWrite(id, .ok, error: .none, host: host, at: at, env.now)
                case .okLocalOnly: env.recorder.finishWrite(id, .ok, error: .syncWaitCancelled, host: host, at: at, env.now)
                case .readOnly: env.recorder.finishWrite(id, .failed, error: .readOnly, env.now)
                }
            }
            clients[c].pending = nil
            clients[c].state = .ready
            let wait = max(0, clients[c].nextDue - env.now)
            env.trafficTimer(proc, after: wait, .clientDue(UInt16(c)))
        case .closed(let sid, let reason):
            let why: WriteError
            switch reason {
            case .startingUp: why = .startingUp
            case .shuttingDown: why = .shuttingDown
            case .crashed: why = .serverClosed
            }
            broken(sid, env, why: why)
        default: break
        }
    }

    /// No answer within the client's timeout: cancel (a synchronous-replication wait then
    /// returns success, committed locally); if even that gets no answer, give up on the
    /// connection: the write is indeterminate.
    mutating func queryTimeout(_ c: Int, _ env: TrafficEnv) {
        guard c < clients.count else { return }
        clients[c].timerArmed = false
        guard clients[c].state == .busy, clients[c].pending != nil else { return }
        if env.now < clients[c].deadline {
            // A later transaction is in flight: wait for its own deadline.
            armTimeout(c, at: clients[c].deadline, env)
            return
        }
        if !clients[c].cancelled {
            clients[c].cancelled = true
            env.trafficSend(clients[c].conn, from: proc, .cancel(session: clients[c].session))
            armTimeout(c, at: env.now + 2 * Time.s, env)
            return
        }
        broken(clients[c].session, env, why: .queryTimedOut)
    }

    mutating func failPending(_ c: Int, _ outcome: WriteOutcome, _ why: WriteError, _ env: TrafficEnv) {
        guard let id = clients[c].pending else { return }
        clients[c].pending = nil
        if clients[c].reader {
            env.recorder.reads.append(ReadRecord(sentNs: clients[c].pendingSent, doneNs: env.now, host: -1, ok: false, servedAt: .none))
            return
        }
        env.recorder.finishWrite(id, outcome, error: why, env.now)
    }
}
