/// Constructors for the timeline details the analysis reads, so that the models that write them
/// and the analysis that reads them agree on one shape.
public enum Detail {
    /// The leader key changed in etcd's committed state. `holder` nil: the key is gone.
    /// `cause`: acquired, released (deleted by its owner), expired (its lease ran out), updated.
    public static func leaderKey(holder: String?, cause: String, revision: Int64) -> JSON {
        .object([("holder", holder.map(JSON.string) ?? .null), ("cause", .string(cause)), ("revision", .int(revision))])
    }

    /// A PostgreSQL instance started or stopped accepting writes.
    public static func pgWritable(_ writable: Bool, fork: UInt32, timeline: Int, why: String) -> JSON {
        .object([("writable", .bool(writable)), ("fork", .int(Int64(fork))), ("timeline", .int(Int64(timeline))), ("why", .string(why))])
    }

    /// A load balancer marked a server UP or DOWN, with the check results that decided it.
    /// `check`: the health check's request (`GET /sync?lag=1048576`), whose answers (`checks`,
    /// HAProxy's check status words: L7OK, L7STS/503, L4CON...) made the decision.
    public static func serverState(backend: String, server: String, up: Bool, checks: String, check: String? = nil) -> JSON {
        var f: [(String, JSON)] = [("backend", .string(backend)), ("server", .string(server)), ("up", .bool(up)), ("checks", .string(checks))]
        if let c = check { f.append(("check", .string(c))) }
        return .object(f)
    }

    /// Promotion finished: the instance is out of recovery on a new timeline.
    public static func promoted(timeline: Int, fork: UInt32, lsn: Int64) -> JSON {
        .object([("timeline", .int(Int64(timeline))), ("fork", .int(Int64(fork))), ("lsn", .int(lsn))])
    }
}
