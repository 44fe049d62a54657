import SimCore
import Settings
import Recording
import Postgres
import Patroni

/// Inputs of the traffic processes (clients, proxies, poolers, keepalived).
public enum TrafficInput: Sendable {
    case timer(TrafficTimer)
    /// A server (PostgreSQL, or a proxy or pooler relaying one) answers on a connection this
    /// process opened.
    case server(ConnID, PgMessage)
    /// A client-side process sends on a connection it opened to this one.
    case client(ConnID, PgMessage)
    /// A health check's HTTP answer on its connection.
    case checkAnswer(ConnID, status: Int16)
    /// A connection this process has connected, was refused, timed out, or was reset.
    case conn(ConnID, ConnEvent)
    /// A VRRP advertisement (keepalived).
    case advert(from: Int, priority: UInt8)

    public var code: UInt64 {
        switch self {
        case .timer(let t): return 1 | UInt64(truncatingIfNeeded: t.code) << 8
        case .server(let c, let m): return 2 | m.traceCode << 8 ^ UInt64(c.slot) << 48
        case .client(let c, let m): return 3 | m.traceCode << 8 ^ UInt64(c.slot) << 48
        case .checkAnswer(let c, let s): return 4 | UInt64(c.slot) << 8 | UInt64(UInt16(bitPattern: s)) << 40
        case .conn(let c, let e): return 6 | UInt64(c.slot) << 8 | UInt64(e.rawValue) << 40
        case .advert(let f, let p): return 8 | UInt64(f) << 8 | UInt64(p) << 20
        }
    }
}

public enum TrafficTimer: Sendable, Equatable {
    /// A health check is due (server index in its backend, backend 0 write / 1 read).
    case check(backend: UInt8, server: UInt8)
    /// A check's connect phase or its whole budget ran out (by check id).
    case checkTimeout(id: UInt32)
    /// A check's read phase (`timeout check`) ran out.
    case checkReadTimeout(id: UInt32)
    case connectTimeout(id: UInt32)
    /// A proxy retries a backend connect (`retries`, after the turnaround).
    case retryConnect(session: UInt32)
    /// A client's next write or read is due; its query timed out; its backoff ended.
    case clientDue(UInt16)
    case queryTimeout(UInt16, UInt32)
    case readDue(UInt16)
    /// keepalived: advert interval, master-down timer, track script.
    case advertTick
    case masterDown
    case trackScript
    /// PgBouncer: server_login_retry ended.
    case loginRetry
    /// A monitoring scrape of a target is due, or its scrape_timeout ran out.
    case scrape(UInt16)
    case scrapeTimeout(UInt16)

    var code: Int {
        switch self {
        case .check(let b, let s): return 1 | Int(b) << 8 | Int(s) << 16
        case .checkTimeout(let i): return 2 | Int(i) << 8
        case .checkReadTimeout(let i): return 12 | Int(i) << 8
        case .connectTimeout(let i): return 3 | Int(i) << 8
        case .retryConnect(let s): return 4 | Int(s) << 8
        case .clientDue(let c): return 5 | Int(c) << 8
        case .queryTimeout(let c, let q): return 6 | Int(c) << 8 | Int(q) << 24
        case .readDue(let c): return 7 | Int(c) << 8
        case .advertTick: return 8
        case .masterDown: return 9
        case .trackScript: return 10
        case .loginRetry: return 11
        case .scrape(let t): return 13 | Int(t) << 8
        case .scrapeTimeout(let t): return 14 | Int(t) << 8
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
    /// A timer; its token cancels it while pending (and must be forgotten once it fired).
    @discardableResult func trafficTimer(_ proc: UInt32, after: Nanos, _ t: TrafficTimer) -> TimerToken
    func trafficCancel(_ t: TimerToken)
    /// Opens a TCP connection to an endpoint (a VIP resolves to its holder now); the outcome
    /// comes back as `.conn(c, event)`. `.none` when the address has no owner at all (nothing
    /// ever answers: the caller's connect timeout decides).
    func trafficConnect(from: UInt32, to: Endpoint) -> ConnID
    /// Sends a PostgreSQL protocol message on a connection (either end).
    func trafficSend(_ c: ConnID, from: UInt32, _ m: PgMessage)
    func trafficClose(_ c: ConnID)
    /// A new connection to a DB node's Patroni REST API (a health check, a scrape); the outcome
    /// comes back as `.conn(c, event)`.
    func httpConnect(from: UInt32, toNode: Int) -> ConnID
    /// `GET path` on an established connection; the answer comes back as `.checkAnswer`.
    func httpGet(_ c: ConnID, from: UInt32, path: RESTPath, lag: Int64?, id: UInt32)
    /// A VRRP advertisement to another keepalived (UDP multicast: may be lost).
    func vrrpSend(from: UInt32, to: UInt32, priority: UInt8)
    /// The virtual IP now belongs to this keepalived's host (gratuitous ARP).
    func vrrpTakeVIP(from: UInt32)
    func vrrpReleaseVIP(from: UInt32)
    /// Whether the HAProxy process on the same host is alive (keepalived's track script).
    func localProxyAlive(_ proc: UInt32) -> Bool
    func nodeName(_ node: Int) -> String
}
