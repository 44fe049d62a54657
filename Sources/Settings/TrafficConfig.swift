import SimCore

/// HAProxy's health-check and routing settings (HAProxy manual §5.2; traffic-and-data.md §1).
/// Defaults are HAProxy's own; where HAProxy has none (timeouts), Patroni's template
/// `haproxy.cfg` values are used.
public struct HAProxyConfig: Sendable, Equatable {
    public enum OnMarkedDown: String, Sendable, CaseIterable { case none, shutdownSessions = "shutdown-sessions" }
    public enum Balance: String, Sendable, CaseIterable { case roundrobin, leastconn, first }

    public var interNs: Nanos = 2 * Time.s
    /// nil: same as `inter`.
    public var fastinterNs: Nanos? = nil
    public var downinterNs: Nanos? = nil
    public var fall = 3
    public var rise = 2
    /// `timeout check`; nil: the whole check is bounded by `inter`.
    public var timeoutCheckNs: Nanos? = nil
    /// `timeout connect` (template: 4s).
    public var timeoutConnectNs: Nanos = 4 * Time.s
    /// `retries` (HAProxy default 3; template 2).
    public var retries = 3
    public var redispatch = false
    /// `spread-checks` in percent (0–50).
    public var spreadChecksPercent = 0
    public var onMarkedDown: OnMarkedDown = .none
    public var balance: Balance = .roundrobin
    /// The Patroni endpoint each backend checks (`option httpchk OPTIONS /` means `/primary`).
    public var writeCheck = "/primary"
    public var readCheck = "/replica"
    /// Whether a read frontend exists.
    public var readFrontend = true

    public init() {}

    public var fastinter: Nanos { fastinterNs ?? interNs }
    public var downinter: Nanos { downinterNs ?? interNs }
}

/// keepalived VRRP for an HAProxy pair (keepalived.conf(5) 2.2.7).
public struct KeepalivedConfig: Sendable, Equatable {
    public var advertIntNs: Nanos = 1 * Time.s
    /// Priority of the first (preferred) node; each next node gets one less...
    public var priority = 101
    /// ...unless each node's own `priority` is given, in host order.
    public var priorities: [Int] = []
    public var vrrpVersion = 2
    /// `vrrp_script` checking the HAProxy process: interval, fall, rise, weight.
    public var trackInterval: Nanos = 1 * Time.s
    public var trackFall = 1
    public var trackRise = 1
    public var trackWeight = 0
    public var nopreempt = false
    public var preemptDelayNs: Nanos = 0
    public init() {}
}

/// PgBouncer between the front and PostgreSQL (pgbouncer(5) 1.18).
public struct PgBouncerConfig: Sendable, Equatable {
    public enum PoolMode: String, Sendable, CaseIterable { case session, transaction }
    public var poolMode: PoolMode = .session
    public var serverLoginRetryNs: Nanos = 15 * Time.s
    public var serverConnectTimeoutNs: Nanos = 15 * Time.s
    public var queryWaitTimeoutNs: Nanos = 120 * Time.s
    public var serverCheckDelayNs: Nanos = 30 * Time.s
    public var serverLifetimeNs: Nanos = 3600 * Time.s
    public init() {}
}

/// Envoy's active HTTP health check on Patroni's REST port (health_check.proto).
public struct EnvoyConfig: Sendable, Equatable {
    public var intervalNs: Nanos = 3 * Time.s
    public var timeoutNs: Nanos = 2 * Time.s
    public var unhealthyThreshold = 3
    public var healthyThreshold = 2
    /// Percent of healthy hosts below which Envoy ignores health (default 50).
    public var panicThresholdPercent = 50.0
    public var closeConnectionsOnHostHealthFailure = false
    public var connectTimeoutNs: Nanos = 5 * Time.s
    public init() {}
}

/// A cloud load balancer's health check (seed 004: Linode NodeBalancer on `/primary`).
public struct CloudLBConfig: Sendable, Equatable {
    public var checkIntervalNs: Nanos = 5 * Time.s
    public var checkTimeoutNs: Nanos = 2 * Time.s
    public var healthyThreshold = 2
    public var unhealthyThreshold = 3
    public var checkPath = "/primary"
    public init() {}
}

/// The clients writing (and reading) through the front, with libpq-like behaviour.
public struct WorkloadConfig: Sendable, Equatable {
    /// Number of write clients, each with one connection.
    public var clients = 4
    /// Total write rate across clients, per second (each client paced at rate/clients).
    public var rate: Double = 100
    /// WAL bytes one write transaction generates.
    public var writeBytes: Int64 = 1024
    /// Reads per second through the read endpoint (0: no readers).
    public var readRate: Double = 0
    public var readClients = 2
    /// libpq `connect_timeout` (libpq raises anything under 2 s to 2 s).
    public var connectTimeoutNs: Nanos = 2 * Time.s
    /// Reconnect backoff: first wait and cap (doubling).
    public var reconnectBackoffNs: Nanos = 100 * Time.ms
    public var reconnectBackoffMaxNs: Nanos = 2 * Time.s
    /// A statement that gets no answer is cancelled after this long (the application's
    /// statement_timeout: its cancel also ends a synchronous-replication wait, with the commit
    /// kept locally and a WARNING, syncrep.c); if the cancel gets no answer within 2 s either,
    /// the client gives up on the connection.
    public var queryTimeoutNs: Nanos = 30 * Time.s
    /// Clients pointed at one host directly, bypassing the front (a stale connection string or
    /// a direct pool): host name → number of clients.
    public var direct: [(host: String, clients: Int)] = []
    /// Monitoring that scrapes Patroni's REST API.
    public var monitor: [MonitorConfig] = []
    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.clients == b.clients && a.rate == b.rate && a.writeBytes == b.writeBytes && a.readRate == b.readRate
            && a.readClients == b.readClients && a.connectTimeoutNs == b.connectTimeoutNs
            && a.reconnectBackoffNs == b.reconnectBackoffNs && a.reconnectBackoffMaxNs == b.reconnectBackoffMaxNs
            && a.queryTimeoutNs == b.queryTimeoutNs
            && a.direct.map(\.host) == b.direct.map(\.host) && a.direct.map(\.clients) == b.direct.map(\.clients)
            && a.monitor == b.monitor
    }
}

/// One scrape job (`workload.monitor` entry): Prometheus scraping Patroni's `/metrics`, a
/// `patronictl list`, a status page. Each scrape is a new connection to the target's REST
/// port, a GET, and a wait of up to `timeout` (Prometheus's `scrape_timeout`, 10 s).
public struct MonitorConfig: Sendable, Equatable {
    public var endpoint = "/metrics"
    public var intervalNs: Nanos = 15 * Time.s
    public var timeoutNs: Nanos = 10 * Time.s
    /// DB host names; empty: every DB host.
    public var hosts: [String] = []
    public init() {}
}
