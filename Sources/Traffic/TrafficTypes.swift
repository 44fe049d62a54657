import SimCore
import Recording
import Postgres
import Patroni

/// Inputs of the traffic processes (clients, proxies, poolers, keepalived).
public enum TrafficInput: Sendable {
    case timer(TrafficTimer)
    /// A PostgreSQL server (or a proxy relaying one) answers on a session.
    case server(PgMessage)
    /// A client-side process sends on a session to this proxy.
    case client(from: UInt32, PgMessage)
    /// A health check's answer (HTTP status), refusal, or (via timer) silence.
    case checkAnswer(id: UInt32, status: Int16)
    case checkRefused(id: UInt32)
    /// A TCP connect this process made got an answer (accepted or refused).
    case connectResult(id: UInt32, accepted: Bool)
    /// A connection this process had was reset (its peer's process died on a live host).
    case reset(session: UInt32)
    /// A VRRP advertisement (keepalived).
    case advert(from: Int, priority: UInt8)

    public var code: UInt64 {
        switch self {
        case .timer(let t): return 1 | UInt64(truncatingIfNeeded: t.code) << 8
        case .server(let m): return 2 | m.traceCode << 8
        case .client(_, let m): return 3 | m.traceCode << 8
        case .checkAnswer(let id, let s): return 4 | UInt64(id) << 8 | UInt64(UInt16(bitPattern: s)) << 40
        case .checkRefused(let id): return 5 | UInt64(id) << 8
        case .connectResult(let id, let a): return 6 | UInt64(id) << 8 | (a ? 1 << 40 : 0)
        case .reset(let s): return 7 | UInt64(s) << 8
        case .advert(let f, let p): return 8 | UInt64(f) << 8 | UInt64(p) << 20
        }
    }
}

public enum TrafficTimer: Sendable, Equatable {
    /// A health check is due (server index in its backend, backend 0 write / 1 read).
    case check(backend: UInt8, server: UInt8)
    case checkTimeout(id: UInt32)
    case connectTimeout(id: UInt32)
    /// A proxy retries a backend connect (`retries`, after the turnaround).
    case retryConnect(session: UInt32)
    /// A client's next write or read is due; its query timed out; its backoff ended.
    case clientDue(UInt16)
    case queryTimeout(UInt16, UInt32)
    case readDue(UInt16)
    /// keepalived: advert interval, master-down timer, track script.
    case advertTick
    case masterDown(UInt32)
    case trackScript
    /// PgBouncer: server_login_retry ended.
    case loginRetry

    var code: Int {
        switch self {
        case .check(let b, let s): return 1 | Int(b) << 8 | Int(s) << 16
        case .checkTimeout(let i): return 2 | Int(i) << 8
        case .connectTimeout(let i): return 3 | Int(i) << 8
        case .retryConnect(let s): return 4 | Int(s) << 8
        case .clientDue(let c): return 5 | Int(c) << 8
        case .queryTimeout(let c, let q): return 6 | Int(c) << 8 | Int(q) << 24
        case .readDue(let c): return 7 | Int(c) << 8
        case .advertTick: return 8
        case .masterDown(let g): return 9 | Int(g) << 8
        case .trackScript: return 10
        case .loginRetry: return 11
        }
    }
}

/// Where a client-side connection goes.
public enum Endpoint: Sendable, Equatable {
    /// A PostgreSQL server directly (its DB node index).
    case server(Int)
    /// Another traffic process (a proxy or pooler), by process id.
    case proc(UInt32)
    /// Whatever process holds the virtual IP (keepalived) when the connection is made.
    case vip(Service)

    /// The kinds of front process a VIP may lead to.
    public enum Service: UInt8, Sendable { case proxy, pooler }
}

/// What the traffic processes need from the world.
public protocol TrafficEnv: AnyObject {
    var now: Nanos { get }
    var recorder: Recorder { get }
    func trafficTimer(_ proc: UInt32, after: Nanos, _ t: TrafficTimer)
    /// Opens a TCP connection to an endpoint and registers it for resets (to `from` with
    /// `session`). The result comes back as `.connectResult(id, …)`, or never (silence).
    func trafficConnect(from: UInt32, to: Endpoint, session: UInt32, id: UInt32)
    func trafficClose(from: UInt32, session: UInt32)
    /// Sends a PostgreSQL protocol message over an established session.
    func trafficSend(from: UInt32, to: Endpoint, _ m: PgMessage)
    /// Answers a client-side process that is connected to this proxy.
    func trafficReply(from: UInt32, to: UInt32, _ m: PgMessage)
    /// An HTTP health check of a DB node's Patroni REST API; returns how the connect went (the
    /// answer or refusal then arrives as an input; silence is the caller's timeout).
    func healthCheck(from: UInt32, node: Int, path: RESTPath, lag: Int64?, id: UInt32) -> ConnectOutcomeLite
    /// A VRRP advertisement to another keepalived (UDP multicast: may be lost).
    func vrrpSend(from: UInt32, to: UInt32, priority: UInt8)
    /// The virtual IP now belongs to this keepalived's host (gratuitous ARP).
    func vrrpTakeVIP(from: UInt32)
    func vrrpReleaseVIP(from: UInt32)
    /// Whether the HAProxy process on the same host is alive (keepalived's track script).
    func localProxyAlive(_ proc: UInt32) -> Bool
    func nodeName(_ node: Int) -> String
}
