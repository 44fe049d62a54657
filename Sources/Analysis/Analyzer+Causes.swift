import SimCore
import Recording
import Scenario

/// Why each RTO phase took what it took, read from the recorded history (lease renewals, lease
/// resets, the leader race's polls, check results, the clients' errors) and the settings that
/// set those timers. Text for people; the numbers in it are the history's.
extension Analyzer {
    static func explain(_ r: inout FaultRTO, _ run: RunRecord, _ s: Scenario) {
        guard r.outage else { return }
        let t0 = r.atNs
        let fault = run.faults.first { $0.index == r.faultIndex }
        let what = fault.map { "the \($0.kind)" } ?? "the fault"
        for i in r.phases.indices {
            let p = r.phases[i]
            guard let at = p.atNs, let d = p.durationNs else { continue }
            let start = at - d
            switch p.name {
            case "detection": r.phases[i].cause = detectionCause(run, s, r, at: at, t0: t0, what: what)
            case "election": r.phases[i].cause = electionCause(run, s, r, start: start, at: at)
            case "promotion": r.phases[i].cause = promotionCause(run, r, start: start, at: at)
            case "traffic": r.phases[i].cause = trafficCause(run, s, r, start: start, at: at)
            case "clients": r.phases[i].cause = clientsCause(run, s, r, start: start, at: at)
            default: break
            }
        }
    }

    static func sec(_ ns: Nanos) -> String { DurationText.seconds3(ns) + " s" }

    static func detectionCause(_ run: RunRecord, _ s: Scenario, _ r: FaultRTO, at: Nanos, t0: Nanos, what: String) -> String {
        let old = r.oldPrimary ?? "the old primary"
        if let k = run.timeline.last(where: { $0.kind == Kind.leaderKey && $0.timeNs == at && $0.detail["holder"]?.stringValue == nil }) {
            let cause = k.detail["cause"]?.stringValue ?? ""
            if cause == "expired" {
                let renewals = run.timeline.filter { $0.kind == Kind.leaderLease && $0.timeNs <= at && $0.detail["holder"]?.stringValue == r.oldPrimary }
                let reset = run.timeline.last { $0.kind == Kind.leaseReset && $0.timeNs <= at && $0.timeNs >= (renewals.last?.timeNs ?? 0) }
                if let reset, let exp = reset.detail["expire_in_s"]?.intValue {
                    return "the leader key expired \(sec(at - t0)) after \(what): etcd's new leader reset every lease at \(TextClock.clock(reset.timeNs)) "
                        + "to ttl + election timeout (\(exp) s), plus the lessor's next 500 ms scan"
                }
                if let last = renewals.last {
                    let ttl = (last.detail["ttl_s"]?.intValue).map { Nanos($0) * Time.s } ?? s.patroni.ttlNs
                    let scan = at - (last.timeNs + ttl)
                    var text = "the leader key expired \(sec(at - t0)) after \(what) = its last refresh "
                    text += last.timeNs <= t0 ? "\(sec(t0 - last.timeNs)) before it" : "\(sec(last.timeNs - t0)) after it"
                    text += " + ttl \(ttl / Time.s) s"
                    if scan > 0 { text += " + \(sec(scan)) to the lessor's next 500 ms scan" }
                    return text
                }
                return "the leader key's lease (ttl \(s.patroni.ttl) s) expired \(sec(at - t0)) after \(what)"
            }
            return "\(old) released the leader key \(sec(at - t0)) after \(what)"
        }
        if let dm = run.timeline.last(where: { $0.kind == Kind.demote && $0.timeNs == at && $0.host == r.oldPrimary }) {
            let why = dm.detail["why"]?.stringValue ?? ""
            let mode = dm.detail["mode"]?.stringValue ?? ""
            var text = "\(old)'s Patroni demoted it (\(mode)): \"\(why)\""
            if why.contains("DCS is not accessible"), let last = run.timeline.last(where: { $0.kind == Kind.leaderLease && $0.timeNs <= at && $0.detail["holder"]?.stringValue == r.oldPrimary }) {
                text += " \(sec(at - last.timeNs)) after its last successful refresh (\(TextClock.clock(last.timeNs))): its next cycle came loop_wait "
                    + "(\(s.patroni.loopWait) s) later, and its etcd client gave up after trying every member and re-reading the member list "
                    + "(retry_timeout \(s.patroni.retryTimeout) s split between them)"
            }
            return text
        }
        return ""
    }

    static func electionCause(_ run: RunRecord, _ s: Scenario, _ r: FaultRTO, start: Nanos, at: Nanos) -> String {
        guard let np = r.newPrimary else { return "" }
        let race = run.timeline.last { $0.kind == "race" && $0.host == np && $0.timeNs <= at && $0.timeNs >= start && $0.detail["result"] != nil }
        // The key may still have been valid when the phase began (a primary that demoted itself
        // keeps its key until the lease expires): the race could only start once it was gone.
        let gone = run.timeline.first { $0.kind == Kind.leaderKey && $0.timeNs >= start && $0.timeNs <= at && $0.detail["holder"]?.stringValue == nil }
        var parts: [String] = []
        var from = start
        if let g = gone, g.timeNs > start {
            parts.append("the old key lasted until \(TextClock.clock(g.timeNs)) (\(g.detail["cause"]?.stringValue ?? "gone"), \(sec(g.timeNs - start)) into the phase)")
            from = g.timeNs
        }
        if let race, let polled = race.detail["polled"]?.intValue {
            // Each unusable answer as it was: refused at once, reset, timed out after 2 s, or
            // answered by a Patroni whose PostgreSQL is down.
            let silent = (race.detail["no_answer"]?.arrayValue ?? []).compactMap { e -> String? in
                guard let m = e["member"]?.stringValue else { return e.stringValue }
                switch e["why"]?.stringValue ?? "" {
                case "connection refused": return "\(m) refused the connection"
                case "connection reset": return "\(m) reset the connection"
                case "answered: PostgreSQL not running": return "\(m) answered that its PostgreSQL is not running"
                default: return "\(m) did not answer within Patroni's 2 s timeout"
                }
            }
            let ms = race.detail["poll_ms"]?.intValue ?? 0
            let wake = race.timeNs - Nanos(ms) * Time.ms - from
            parts.append("\(np)'s HA cycle began the leader race \(sec(max(0, wake))) after the key was gone (woken by the watch, or at its loop_wait of \(s.patroni.loopWait) s)")
            parts.append("it polled \(polled) member\(polled == 1 ? "" : "s") (GET /patroni)"
                         + (silent.isEmpty ? " in \(ms) ms" : " in \(ms) ms: \(silent.joined(separator: ", "))"))
        } else if let race {
            parts.append("\(np)'s HA cycle raced \(sec(race.timeNs - from)) after the key was gone")
        }
        return parts.joined(separator: "; ")
    }

    static func promotionCause(_ run: RunRecord, _ r: FaultRTO, start: Nanos, at: Nanos) -> String {
        guard let np = r.newPrimary else { return "" }
        if let p = run.timeline.last(where: { $0.kind == Kind.promoteStarted && $0.host == np && $0.timeNs <= at }) {
            return "pg_ctl promote on \(np) took \(sec(at - p.timeNs)) (end of recovery and the new timeline)"
        }
        return ""
    }

    static func trafficCause(_ run: RunRecord, _ s: Scenario, _ r: FaultRTO, start: Nanos, at: Nanos) -> String {
        guard let np = r.newPrimary,
              let up = run.timeline.last(where: { $0.kind == Kind.serverState && $0.timeNs == at && $0.detail["server"]?.stringValue == np && $0.detail["up"]?.boolValue == true }) else { return "" }
        let checks = up.detail["checks"]?.stringValue ?? ""
        switch up.component {
        case "envoy":
            return "\(up.host) saw \(s.envoy.healthyThreshold) passing checks (healthy_threshold, interval \(DurationText.format(s.envoy.intervalNs))): \(checks)"
        case "lb":
            return "\(up.host) saw \(s.cloudLB.healthyThreshold) passing checks (healthy_threshold, interval \(DurationText.format(s.cloudLB.checkIntervalNs))): \(checks)"
        default:
            // rise passing checks: the first at its point of the check schedule, the rest at the
            // transitional interval (fastinter, default inter).
            let rest = Nanos(max(0, s.haproxy.rise - 1)) * s.haproxy.fastinter
            let first = at - rest - start
            return "rise \(s.haproxy.rise) passing checks (\(checks)): the first \(sec(max(0, first))) after the promotion, where this server's "
                + "check schedule (inter \(DurationText.format(s.haproxy.interNs))) happened to be, then \(s.haproxy.rise - 1) more "
                + "\(DurationText.format(s.haproxy.fastinter)) apart"
        }
    }

    static func clientsCause(_ run: RunRecord, _ s: Scenario, _ r: FaultRTO, start: Nanos, at: Nanos) -> String {
        // The front's last bad write before the recovery says what the clients waited for.
        var last: WriteRecord? = nil
        for w in run.keptWrites where w.directHost < 0 && w.outcome != .ok && w.doneNs >= start && w.doneNs <= at {
            if last.map({ w.doneNs > $0.doneNs }) ?? true { last = w }
        }
        let old = r.oldPrimary ?? "the old primary"
        let shutdown = s.haproxy.onMarkedDown == .shutdownSessions
        guard let w = last else { return "no write failed after the switch; the first one acknowledged came \(sec(at - start)) after it" }
        switch w.error {
        case .queryTimedOut:
            return "sessions opened to \(old) hung until the clients' query_timeout (\(DurationText.format(s.workload.queryTimeoutNs)))"
                + (shutdown ? "" : "; HAProxy's on-marked-down shutdown-sessions is not set, so it did not close them")
        case .connectTimeout:
            return "connects timed out (connect_timeout \(DurationText.format(s.workload.connectTimeoutNs))) before one reached the new primary"
        case .readOnly:
            return "sessions still on the demoted \(old) got read-only errors until they reconnected"
                + (shutdown ? "" : " (without shutdown-sessions, HAProxy leaves them open)")
        case .connectionRefused:
            return "connects were refused until the load balancer routed to the new primary; then the clients' reconnect backoff "
                + "(\(DurationText.format(s.workload.reconnectBackoffNs)) doubling to \(DurationText.format(s.workload.reconnectBackoffMaxNs)))"
        case .serverClosed, .shuttingDown, .startingUp:
            return "sessions were closed (\(w.error.message)); the clients reconnected after their backoff "
                + "(\(DurationText.format(s.workload.reconnectBackoffNs)) doubling to \(DurationText.format(s.workload.reconnectBackoffMaxNs)))"
        case .clientKilled:
            return "the application itself was killed; its writes resumed when it was started again"
        case .none, .syncWaitCancelled:
            return w.outcome == .indeterminate ? "a COMMIT in flight was cut off (indeterminate); the next write waited for a new session" : ""
        }
    }
}
