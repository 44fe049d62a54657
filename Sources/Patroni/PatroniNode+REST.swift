import SimCore
import Settings
import Recording
import Etcd
import Postgres

extension PatroniNode {
    // MARK: - REST API

    /// Answers a REST request (api.py `do_GET`/`do_POST_*`). The API runs in its own thread:
    /// it answers while the HA loop is busy, not while the process is frozen (the kernel holds
    /// the request then) and not when it is dead (the world refuses the connection). Most
    /// handlers first query PostgreSQL (`get_postgresql_status`): the answer comes when the
    /// server answers, and a frozen server holds it up (and the health check with it).
    mutating func rest(_ r: RESTRequest, _ env: PatroniEnv) {
        switch r.kind {
        case .get(.liveness, _):
            // `do_GET_liveness` looks only at the HA loop's heartbeat.
            let (code, status) = get(.liveness, lag: nil, pgLocalState(env), env)
            env.restRespond(node, RESTResponse(conn: r.conn, id: r.id, status: code, member: status))
        case .get, .failsafe:
            nextPgQuery &+= 1
            restQueries.append((nextPgQuery, r))
            env.pgQuery(node, id: nextPgQuery)
        case .switchover(let leader, let candidate):
            let ok = requestSwitchover(leader: leader, candidate: candidate, env)
            env.restRespond(node, RESTResponse(conn: r.conn, id: r.id, status: ok ? 200 : 412))
        case .failover(let candidate):
            let ok = requestSwitchover(leader: nil, candidate: candidate, env)
            env.restRespond(node, RESTResponse(conn: r.conn, id: r.id, status: ok ? 200 : 412))
        }
    }

    /// The REST handler's query was answered: it answers its caller.
    mutating func restQueryAnswered(_ r: RESTRequest, _ v: PgView, _ env: PatroniEnv) {
        switch r.kind {
        case .get(let path, let lag):
            let (code, status) = get(path, lag: lag, v, env)
            env.restRespond(node, RESTResponse(conn: r.conn, id: r.id, status: code, member: status))
        case .failsafe(let leader):
            // `do_POST_failsafe`: refused by a node that runs as primary itself.
            if v.isPrimary && role == .primary {
                env.restRespond(node, RESTResponse(conn: r.conn, id: r.id, status: 500))
            } else {
                failsafeLeader = (leader, env.now + config.ttlNs)
                env.restRespond(node, RESTResponse(conn: r.conn, id: r.id, status: 200, lsn: v.lastOperation))
            }
        case .switchover, .failover: break
        }
    }

    /// The REST view of this member for a peer's race poll (`GET /patroni`); nil when
    /// PostgreSQL is not running (the JSON then lacks the WAL fields and the poller counts it
    /// unreachable).
    func memberStatus(_ v: PgView) -> MemberStatus? {
        guard v.running else { return nil }
        return MemberStatus(inRecovery: v.inRecovery, walPosition: v.inRecovery ? max(v.received, v.replayed) : v.lastOperation,
                            timeline: v.timeline, nofailover: nofailover, failoverPriority: tags.failoverPriority,
                            watchdogFailed: !watchdogHealthy)
    }

    /// Status codes as api.py computes them (patroni.md §7).
    func get(_ path: RESTPath, lag: Int64?, _ v: PgView, _ env: PatroniEnv) -> (Int16, MemberStatus?) {
        let leader = isLeader(env.now) || (config.failsafeMode && failsafeActiveAt > 0 && env.now - failsafeActiveAt < config.ttlNs)
        let replica = v.running && v.inRecovery && !tags.noloadbalance && !lagging(v, lag ?? Int64.max)
        let cached = env.now - lastClusterLoad < config.ttlNs
        // api.py: a voter in `/sync` is a `quorum_standby` under quorum commit, else a
        // `sync_standby`; /async is neither.
        let listed = config.synchronousMode != .off && syncMatches(node, checkLeader: false)
        let inSync = listed && config.synchronousMode != .quorum
        let inQuorum = listed && config.synchronousMode == .quorum
        func code(_ ok: Bool) -> Int16 { ok ? 200 : 503 }
        switch path {
        case .primary: return (code(leader), nil)
        case .leader: return (code(leader), nil)
        case .replica: return (code(replica), nil)
        case .readOnly: return (code(v.isPrimary || replica), nil)
        case .health: return (code(v.running), nil)
        case .sync: return (code(cached && inSync && replica), nil)
        case .async: return (code(cached && !inSync && !inQuorum && replica), nil)
        case .readOnlySync: return (code(v.isPrimary || (cached && inSync && replica)), nil)
        case .quorum: return (code(cached && inQuorum && replica), nil)
        case .readOnlyQuorum: return (code(v.isPrimary || (cached && inQuorum && replica)), nil)
        case .liveness:
            let limit = nextRun + (leader ? 1 : 2) * config.ttlNs
            return (code(paused || limit > env.now), nil)
        case .readiness:
            let ok = leader || (v.running && v.streamingFrom != nil && !lagging(v, lag ?? config.maximumLagOnFailover))
            return (code(ok), nil)
        case .patroni:
            let st = memberStatus(v)
            return (code(v.running), st)
        case .metrics:
            // The Prometheus endpoint answers whatever the state.
            return (200, nil)
        }
    }

    /// `?lag=`: lag = max(`/status` optime, the receiver's position) − replayed.
    func lagging(_ v: PgView, _ maxLag: Int64) -> Bool {
        guard maxLag != Int64.max else { return false }
        return max(cluster.optime, v.received) - v.replayed > maxLag
    }

    // MARK: - Failsafe (leader side)

    /// `check_failsafe_topology`: POST /failsafe to every other member of the last-read
    /// `/failsafe` (2 s timeout); all must accept. nil when the topology says no at once.
    mutating func startFailsafeCheck(_ env: PatroniEnv) -> Outcome? {
        guard let fs = cluster.failsafe, fs.contains(node) else { return nil }
        let others = fs.filter { $0 != node }
        if others.isEmpty { return failsafeKept(env) }
        startPolls(others, .failsafe(leader: node), then: .failsafeChecked, env)
        return .waiting
    }

    mutating func failsafeChecked(_ env: PatroniEnv) -> Outcome {
        let all = restCalls.allSatisfy(\.accepted)
        // The decision rests on every member's answer to POST /failsafe: recorded with them.
        log(env, "failsafe_check", .object([("accepted", .bool(all)),
                                            ("answers", .array(restCalls.map { c in
                                                .object([("member", .string(env.nodeName(c.peer))), ("status", c.httpStatus == 0 ? .null : .int(Int64(c.httpStatus)))])
                                            }))]))
        restCalls.removeAll()
        return all ? failsafeKept(env) : demoteOffline(env)
    }

    mutating func failsafeKept(_ env: PatroniEnv) -> Outcome {
        setIsLeader(true, env)
        failsafeActiveAt = env.now
        watchdogKeepalive(env)
        return .done("continue to run as a leader because failsafe mode is enabled and all members are accessible")
    }

    // MARK: - Operator actions

    mutating func operatorAction(_ a: OperatorAction, _ env: PatroniEnv) {
        switch a {
        case .setPause(let p):
            var c = config
            c.pause = p
            writeConfig(c, env)
        case .editConfig(let i):
            writeConfig(env.editedConfig(i), env)
        case .reloadTags(let i):
            // `Patroni.reload_config`: the new tags take effect at once; the next cycle's
            // touch_member publishes them.
            tags = env.editedTags(i)
            // `patronictl reload` is a SIGHUP: postgresql.conf is rewritten and PostgreSQL
            // reloaded (`ConfigHandler.reload_config(sighup=True)`), which calls on_reload.
            if env.pgLocalState(node).running { callback("on_reload", callbackRole, env) }
            log(env, "reload", .object([("msg", "reloading configuration"), ("nofailover", .bool(tags.nofailover)),
                                        ("failover_priority", .int(Int64(tags.failoverPriority))), ("nosync", .bool(tags.nosync)),
                                        ("sync_priority", .int(Int64(tags.syncPriority))), ("noloadbalance", .bool(tags.noloadbalance)),
                                        ("replicatefrom", tags.replicatefrom.map { .string($0) } ?? .null)]))
        case .switchover(let l, let c):
            _ = requestSwitchover(leader: l, candidate: c, env)
        case .failover(let c):
            _ = requestSwitchover(leader: nil, candidate: c, env)
        case .restartPostgres:
            guard job == nil, pgLocalState(env).running else { return }
            log(env, "restart", .object([("requested", true)]))
            startJob(.restart, env)
        case .reinit:
            // `Ha.reinitialize` (POST /reinitialize answers 503 with its text).
            func refuse(_ why: String) { log(env, "reinit", .object([("status", 503), ("refused", .string(why))])) }
            guard let l = cluster.leader?.member else { return refuse("Cluster has no leader, can not reinitialize") }
            if l == node { return refuse("I am the leader, can not reinitialize") }
            if let j = job { return refuse("\(j.name) already in progress") }
            startJob(.reinit(from: l), env)
        }
    }

    mutating func writeConfig(_ c: PatroniConfig, _ env: PatroniEnv) {
        var d = dynamicPart(c)
        d.watchdog = config.watchdog
        let version = cluster.config?.version ?? 0
        wakeAfter.append(dcs.start(version == 0 ? .put(dcs.keys.config, .config(d), retry: true) : .cas(dcs.keys.config, .config(d), modRevision: version), env))
        drainDCS(env)
        applyDynamicConfig(d, env)
    }

    /// POST /switchover or /failover (`do_POST_failover`): the checks and their answers as
    /// api.py words them (412 with the reason, recorded with the request), then the `/failover`
    /// key and a wake-up. The candidates' health comes from their member keys here, where
    /// Patroni polls them (`fetch_nodes_statuses`, `failover_limitation`). False for a refusal.
    mutating func requestSwitchover(leader: Int?, candidate: Int?, _ env: PatroniEnv) -> Bool {
        // "received failover request with leader specified - performing switchover instead"
        let action = leader != nil ? "switchover" : "failover"
        func refuse(_ status: Int, _ body: String) -> Bool {
            log(env, action, .object([("leader", leader.map { .string(env.nodeName($0)) } ?? .null),
                                      ("candidate", candidate.map { .string(env.nodeName($0)) } ?? .null),
                                      ("status", .int(Int64(status))), ("refused", .string(body))]))
            return false
        }
        if leader == nil && candidate == nil { return refuse(400, "Failover could be performed only to a specific candidate") }
        if paused && candidate == nil { return refuse(400, "Switchover is possible only to a specific candidate in a paused state") }
        if leader != nil && leader == candidate { return refuse(400, "Switchover target and source are the same") }
        // `is_failover_possible`
        if let l = leader, cluster.leader?.member != l { return refuse(412, "leader name does not match") }
        let strictSync = config.synchronousMode == .on
        var members: [Int]
        if let c = candidate {
            if action == "switchover" && strictSync && !syncMatches(c, checkLeader: false) {
                return refuse(412, "candidate name does not match with sync_standby")
            }
            guard cluster.hasMember(c) else { return refuse(412, "candidate does not exists") }
            members = [c]
        } else if strictSync {
            members = cluster.members.map(\.member).filter { syncMatches($0, checkLeader: false) }
            if members.isEmpty { return refuse(412, action + " is not possible: can not find sync_standby") }
        } else {
            members = cluster.members.map(\.member).filter { $0 != cluster.leader?.member }
            if members.isEmpty { return refuse(412, action + " is not possible: cluster does not have members except leader") }
        }
        let good = members.contains { m in cluster.member(m).map { $0.state == .running && !$0.nofailover } ?? false }
        if !good { return refuse(412, action + " is not possible: no good candidates have been found") }
        // A failover (no leader named) may go to a node that is not a synchronous standby:
        // Patroni allows it, and patronictl warns it may lose data (api.py is_failover_possible).
        let asyncCandidate = leader == nil && syncModeActive && candidate.map { !syncMatches($0, checkLeader: false) } == true
        log(env, leader == nil ? "failover" : "switchover", .object([("leader", leader.map { .string(env.nodeName($0)) } ?? .null),
                                                                   ("candidate", candidate.map { .string(env.nodeName($0)) } ?? .null),
                                                                   ("async_candidate", .bool(asyncCandidate))]))
        wakeAfter.append(dcs.start(.put(dcs.keys.failover, .failover(leader: leader, candidate: candidate), retry: true), env))
        drainDCS(env)
        return true
    }
}
