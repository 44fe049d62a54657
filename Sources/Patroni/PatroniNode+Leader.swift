import Settings
import SimCore
import Recording
import Etcd
import Postgres

extension PatroniNode {
    // MARK: - update_lock

    /// `update_lock(update_status)`: refresh the leader key (lease keepalive), publish `/status`
    /// and `/failsafe`; on success `set_is_leader(True)` and ping the watchdog.
    mutating func updateLock(_ k: K, status: Bool, _ env: PatroniEnv) -> Outcome {
        let v = pg(env)
        let optime: Int64? = status && v.reachable && v.running ? v.lastOperation : nil
        if let o = optime { lastWalLsn = o }
        let failsafe: [Int]? = config.failsafeMode ? Array(Set(cluster.members.map(\.member) + [node])).sorted() : nil
        awaitDCS(.updateLeader(optime: optime, failsafe: failsafe, leaderLease: cluster.leader?.lease), k, env)
        return .waiting
    }

    /// Applies an update_lock result; nil on DCSError.
    mutating func lockUpdated(_ r: DCSResult, _ env: PatroniEnv) -> Bool? {
        switch r {
        case .error: return nil
        case .ok(let ok):
            setIsLeader(ok, env)
            if ok { watchdogKeepalive(env) }
            return ok
        case .revision:
            setIsLeader(false, env)
            return false
        }
    }

    // MARK: - process_healthy_cluster

    mutating func processHealthyCluster(_ env: PatroniEnv) -> Outcome {
        let v = pg(env)
        if hasLockView {
            if paused && !v.isPrimary {
                if cluster.failover?.candidate == node { return .done("waiting to become primary after promote...") }
                return release(msg: "removed leader lock because postgres is not running as primary", env)
            }
            return updateLock(.healthyLock, status: true, env)
        }
        let owner = cluster.leader.map { env.nodeName($0.member) } ?? "none"
        return follow(demote: "demoting self because I do not have the lock and I was a leader",
                      follow: "no action. I am (\(name)), a secondary, and following a leader (\(owner))", refresh: false, env)
    }

    mutating func healthyLocked(_ r: DCSResult, _ env: PatroniEnv) -> Outcome {
        guard let ok = lockUpdated(r, env) else { return .dcsError }
        let v = pg(env)
        if !ok {
            // "failed to update leader lock": refused, not unreachable (that is a DCSError).
            if v.isPrimary {
                if paused { return .done("continue to run as primary after failing to update leader lock in DCS") }
                demote(.immediateNolock, reason: "failed to update leader lock in DCS", env)
                return .done("demoted self because failed to update leader lock in DCS")
            }
            return .done("not promoting because failed to update leader lock in DCS")
        }
        if let o = processManualFailoverFromLeader(env) { return o }
        return enforcePrimaryRole(msg: "no action. I am (\(name)), the leader with the lock",
                                  promoteMsg: "promoted self to leader because I had the session lock", env)
    }

    // MARK: - enforce_primary_role

    mutating func enforcePrimaryRole(msg: String, promoteMsg: String, _ env: PatroniEnv) -> Outcome {
        let v = pg(env)
        if !paused {
            if !watchdogRunning && !activateWatchdog(env) {
                if v.isPrimary {
                    demote(.immediate, reason: "watchdog could not be activated", env)
                    return .done("Demoting self because watchdog could not be activated")
                }
                return release(msg: "Not promoting self because watchdog could not be activated", env)
            }
            if prePromoteFailed {
                prePromoteFailed = false
                log(env, Kind.patroni, .object([("msg", "Releasing the leader key voluntarily because the pre-promote script failed")]))
                releasedKeyAt = env.now
                return release(msg: "Promotion cancelled because the pre-promote script failed", env)
            }
        }
        if v.isPrimary {
            if role != .primary {
                role = .primary
            }
            return processSyncReplication(then: msg, env)
        }
        if role == .primary || role == .promoted {
            return processSyncReplication(then: msg, env)
        }
        return processSyncPrepromote(msg: msg, promoteMsg: promoteMsg, env)
    }

    /// Starts the promotion (an async job): pg_ctl promote, on_role_change(primary).
    mutating func startPromote(_ promoteMsg: String, _ env: PatroniEnv) -> Outcome {
        failsafeActiveAt = 0
        log(env, Kind.promoteStarted, .object([("msg", .string(promoteMsg))]))
        startJob(.promote, env)
        return .done(promoteMsg)
    }

    // MARK: - Demote

    enum DemoteMode: String { case offline, graceful, immediate, immediateNolock = "immediate-nolock" }

    /// `Ha.demote` for the synchronous modes (immediate, immediate-nolock): PostgreSQL is
    /// stopped at once, the watchdog disabled at the safepoint, the key released (immediate
    /// only), and it starts again as a replica of the leader in the background.
    mutating func demote(_ mode: DemoteMode, reason: String, _ env: PatroniEnv) {
        log(env, Kind.demote, .object([("mode", .string(mode.rawValue)), ("why", .string(reason))]))
        triggerRewindCheck()
        env.pgStop(node, immediate: true)
        watchdogDisable(env)
        callback("on_stop", role.rawValue, env)
        role = .demoted
        setIsLeader(false, env)
        if config.synchronousMode != .off { writeSyncNames(.none, env) }
        let follow = nodeToFollow(env)
        if mode == .immediate {
            releaseInBackground(env)
        }
        startJob(.startStandby(upstream: follow, afterDemote: true), env)
    }

    /// `release_leader_key_voluntarily` within a cycle: CAS-delete the key (value == me).
    mutating func release(msg: String, _ env: PatroniEnv) -> Outcome {
        setIsLeader(false, env)
        log(env, "leader_key_release", .object([("why", .string(msg))]))
        awaitDCS(.deleteLeader, .released(msg: msg), env)
        return .waiting
    }

    /// Releases the key without blocking the cycle (the demote path keeps going).
    mutating func releaseInBackground(_ env: PatroniEnv) {
        log(env, "leader_key_release", .object([("why", "demote")]))
        dcs.start(.deleteLeader, env)
        drainDCS(env)
    }

    // MARK: - Manual switchover / failover from the leader

    /// `process_manual_failover_from_leader`: with a `/failover` key naming this leader (or
    /// none) and another candidate, and a healthy candidate available, demote gracefully.
    mutating func processManualFailoverFromLeader(_ env: PatroniEnv) -> Outcome? {
        guard let f = cluster.failover, !(paused && !pg(env).isPrimary) else { return nil }
        if f.leader == nil || f.leader == node {
            if f.candidate == nil || f.candidate != node {
                if f.candidate == nil && paused {
                    // switchover in pause needs a candidate
                } else {
                    return startFailoverPossibleCheck(candidates: failoverCandidates(excludeCandidate: false), clusterLsn: 0, k: .leaderFailoverPossible, env)
                }
            }
        }
        return clearFailoverKey(msg: "no action", env)
    }

    /// `_get_failover_action_name`: "switchover" when `/failover` names a leader, else
    /// "manual failover".
    var failoverAction: String { cluster.failover?.leader != nil ? "switchover" : "manual failover" }

    mutating func leaderFailoverPossibleChecked(_ env: PatroniEnv) -> Outcome {
        let action = failoverAction
        if failoverPossible(env) {
            log(env, Kind.demote, .object([("mode", "graceful"), ("why", .string(action))]))
            startJob(.demoteGraceful(manualFailover: cluster.failover?.leader == nil), env)
            return .done("\(action): demoting myself")
        }
        // Patroni logs the warning, cleans the key up and goes on with its cycle.
        let bare = action == "manual failover" ? "failover" : action
        log(env, Kind.patroni, .object([("msg", .string("\(action): no healthy members found, \(bare) is not possible"))]))
        return clearFailoverKey(msg: "no action. I am (\(name)), the leader with the lock", env)
    }

    mutating func clearFailoverKey(msg: String, _ env: PatroniEnv) -> Outcome {
        guard let f = cluster.failover else { return .done(msg) }
        awaitDCS(.casDelete(dcs.keys.failover, modRevision: f.version), .failoverKeyCleared(msg: msg), env)
        return .waiting
    }

    /// Members eligible for a manual or automatic failover (`get_failover_candidates`).
    func failoverCandidates(excludeCandidate: Bool) -> [Int] {
        let f = cluster.failover
        return cluster.members.compactMap { m in
            if m.member == node { return nil }
            if let c = f?.candidate, excludeCandidate, m.member == c { return nil }
            if syncModeActive, !syncMatches(m.member, checkLeader: false), !(f != nil && f?.leader == nil) { return nil }
            if m.data.nofailover { return nil }
            if !excludeCandidate, let c = f?.candidate, m.member != c { return nil }
            return m.member
        }
    }

    // MARK: - Watchdog

    /// `Watchdog.activate`: mode off or automatic without a device: nothing to activate (success);
    /// required without a device: failure.
    mutating func activateWatchdog(_ env: PatroniEnv) -> Bool {
        switch config.watchdog.mode {
        case .off: return true
        case .automatic, .required:
            if env.watchdogActivate(node, timeoutS: config.watchdogTimeoutS) {
                watchdogRunning = true
                watchdogActiveTimeoutS = config.watchdogTimeoutS
                return true
            }
            return config.watchdog.mode == .automatic
        }
    }

    /// `Watchdog.is_healthy`: under `required`, only with a usable device on this host.
    var watchdogHealthy: Bool { config.watchdog.mode != .required || config.watchdog.hasDevice(on: name) }

    /// `Watchdog.keepalive`: the ping, then any configuration change since the device was armed
    /// (a new ttl or safety_margin through edit_config): the new timeout is set on the device
    /// now, so that it matches the leader key update just made.
    mutating func watchdogKeepalive(_ env: PatroniEnv) {
        guard watchdogRunning else { return }
        env.watchdogKeepalive(node)
        let timeout = config.watchdogTimeoutS
        guard timeout != watchdogActiveTimeoutS else { return }
        env.watchdogSetTimeout(node, timeoutS: timeout)
        watchdogActiveTimeoutS = timeout
        // softdog's identity (WDIOC_GETSUPPORT) is "Software Watchdog"; timing slack is the
        // timeout minus loop_wait (`WatchdogConfig.timing_slack`).
        log(env, Kind.patroni, .object([("msg", .string("Software Watchdog updated with \(timeout) second timeout, timing slack \(timeout - config.loopWait) seconds"))]))
    }

    mutating func watchdogDisable(_ env: PatroniEnv) {
        if watchdogRunning {
            watchdogRunning = false
            env.watchdogDisable(node)
        }
    }

    mutating func callback(_ name: String, _ role: String, _ env: PatroniEnv) {
        // Reloads are frequent (every synchronous_standby_names change): recorded only where a
        // script is configured for them.
        if name == "on_reload" && config.callback(.onReload, host: self.name) == nil { return }
        env.recorder.log(env.now, self.name, "patroni", Kind.callback, .object([("callback", .string(name)), ("role", .string(role))]))
        if let a = PatroniConfig.Callback.Action(rawValue: name) { runCallback(a, role: role, env) }
    }
}
