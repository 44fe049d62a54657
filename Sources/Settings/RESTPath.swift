import SimCore

/// The REST endpoints health checks and peers use (api.py `do_GET`).
public enum RESTPath: UInt8, Sendable {
    case primary, leader, replica, readOnly, health, sync, async, readOnlySync, liveness, readiness, patroni
    /// `/metrics` (Prometheus): what a monitoring scraper reads.
    case metrics
    /// `/quorum`, `/read-only-quorum`: a quorum standby (and the primary, for read-only).
    case quorum, readOnlyQuorum

    /// Parses `/primary`, `/master`, `/read-write`, `/`, `/replica?lag=1MB` ...; the lag (bytes)
    /// as the second value.
    public static func parse(_ s: String) -> (RESTPath, Int64?)? {
        let parts = s.split(separator: "?", maxSplits: 1)
        var lag: Int64? = nil
        if parts.count == 2 {
            for kv in parts[1].split(separator: "&") {
                let p = kv.split(separator: "=", maxSplits: 1)
                if p.count == 2, p[0] == "lag" { lag = try? ByteText.parse(String(p[1])) }
            }
        }
        switch parts.first.map(String.init) ?? "/" {
        case "/", "/primary", "/master", "/read-write": return (.primary, lag)
        case "/leader": return (.leader, lag)
        case "/replica": return (.replica, lag)
        case "/read-only": return (.readOnly, lag)
        case "/health": return (.health, lag)
        case "/sync", "/synchronous": return (.sync, lag)
        case "/async", "/asynchronous": return (.async, lag)
        case "/read-only-sync", "/read-only-synchronous": return (.readOnlySync, lag)
        case "/quorum": return (.quorum, lag)
        case "/read-only-quorum": return (.readOnlyQuorum, lag)
        case "/liveness": return (.liveness, lag)
        case "/readiness": return (.readiness, lag)
        case "/patroni": return (.patroni, lag)
        case "/metrics": return (.metrics, lag)
        default: return nil
        }
    }

    /// The endpoint as Patroni's API names it (the main spelling of each).
    public var url: String {
        switch self {
        case .primary: "/primary"
        case .leader: "/leader"
        case .replica: "/replica"
        case .readOnly: "/read-only"
        case .health: "/health"
        case .sync: "/sync"
        case .async: "/async"
        case .readOnlySync: "/read-only-sync"
        case .liveness: "/liveness"
        case .readiness: "/readiness"
        case .patroni: "/patroni"
        case .metrics: "/metrics"
        case .quorum: "/quorum"
        case .readOnlyQuorum: "/read-only-quorum"
        }
    }
}
