import SimCore
import Recording
import Etcd
import Postgres

/// Where a graceful shutdown is.
enum ShutdownStage: Equatable {
    case none
    /// `while_not_sync_standby`: waiting (until the deadline) for the primary to drop us.
    case leavingSync(until: Nanos)
    /// PostgreSQL is stopping (fast).
    case stoppingPostgres
    /// The leader waits a second, then asks whether a replica has the shutdown checkpoint.
    case onShutdown
    case pollingCandidates
    /// The leader key's delete and the last member-key update are on their way.
    case releasing
    case touching
}

extension PatroniNode {
    /// SIGTERM (`systemctl stop patroni`), as `Patroni._shutdown` runs it: the REST API stops
    /// (its port refuses connections), then `Ha.shutdown`. In maintenance mode PostgreSQL is
    /// left running and the leader key is kept; otherwise a synchronous standby first asks to
    /// be dropped from `/sync` (`while_not_sync_standby`), PostgreSQL is stopped in fast mode
    /// (within `primary_stop_timeout` in synchronous mode, then SIGKILL), the watchdog is
    /// disabled at the safepoint, and the leader deletes its key — as soon as a replica has
    /// the shutdown checkpoint, or right after the stop — so that a replica takes over at once
    /// instead of after ttl. The HA loop does not run again.
    mutating func shutdown(_ env: PatroniEnv) {
        guard shutdownStage == .none else { return }
        log(env, Kind.patroni, .object([("msg", "Received SIGTERM, shutting down")]))
        stopping = true
        inCycle = false
        wait = .none
        // No cycle, sleep or job of the loop's fires again.
        env.patroniCancel(loopTimer)
        loopTimer = .none
        cancelWaitTimer(env)
        closeRestCalls(env)
        endJob(env)
        pgInfo = nil
        restQueries.removeAll()   // the REST API shuts down with the loop
        env.restListen(node, false)
        if paused {
            // "Leader key is not deleted and Postgresql is not stopped due paused state"
            watchdogDisable(env)
            log(env, Kind.patroni, .object([("msg", "Leader key is not deleted and Postgresql is not stopped due paused state")]))
            env.patroniExited(node)
            return
        }
        if !isLeader(env.now) && config.synchronousMode != .off && !tags.nosync && (cluster.sync?.standbys.contains(node) ?? false) {
            disableSync += 1
            shutdownStage = .leavingSync(until: env.now + 2 * config.loopWaitNs)
            shutdownTag = dcs.start(.touch(memberData(env)), env)
            drainDCS(env)
            return
        }
        shutdownStopPostgres(env)
    }

    /// The touch that announced `nosync` is done: poll `/sync` every 2 s.
    mutating func shutdownTouchedForSync(_ env: PatroniEnv) {
        guard case .leavingSync = shutdownStage else { return }
        scheduleShutdownTimer(after: 2 * Time.s, env)
    }

    mutating func shutdownPolled(_ env: PatroniEnv) {
        guard case .leavingSync(let until) = shutdownStage else { return }
        let stillSync = dcs.view().sync?.standbys.contains(node) ?? false
        if !stillSync || env.now + 2 * Time.s > until {
            shutdownStopPostgres(env)
            return
        }
        log(env, Kind.patroni, .object([("msg", "Waiting for primary to release us from synchronous standby")]))
        scheduleShutdownTimer(after: 2 * Time.s, env)
    }

    mutating func shutdownStopPostgres(_ env: PatroniEnv) {
        shutdownStage = .stoppingPostgres
        let v = pg(env)
        if !v.running && !v.starting {
            shutdownPostgresStopped(env)
            return
        }
        // The watchdog is disabled at the stop's safepoint (no user backends left).
        watchdogDisable(env)
        env.pgStop(node, immediate: false)
        if let t = primaryStopTimeoutNs { scheduleShutdownTimer(after: t, env) }
    }

    /// `Ha.primary_stop_timeout`: in force only in synchronous mode (and when positive).
    var primaryStopTimeoutNs: Nanos? {
        config.synchronousMode != .off && config.primaryStopTimeout > 0 ? Nanos(config.primaryStopTimeout) * Time.s : nil
    }

    /// `primary_stop_timeout` ran out in synchronous mode: PostgreSQL gets SIGKILL.
    mutating func shutdownStopTimedOut(_ env: PatroniEnv) {
        guard shutdownStage == .stoppingPostgres else { return }
        log(env, Kind.patroni, .object([("msg", "Sending SIGKILL to Postmaster and its children")]))
        env.pgStop(node, immediate: true)
    }

    mutating func shutdownPostgresStopped(_ env: PatroniEnv) {
        guard shutdownStage == .stoppingPostgres else { return }
        if role == .primary || role == .promoted { callback("on_stop", role.rawValue, env) }
        if isLeader(env.now) || hasLockView {
            // on_shutdown: "give replicas some more time to catch up", then
            // is_failover_possible(cluster_lsn=checkpoint location).
            shutdownStage = .onShutdown
            scheduleShutdownTimer(after: Time.s, env)
            return
        }
        shutdownTouch(env)
    }

    mutating func shutdownAfterSecond(_ env: PatroniEnv) {
        shutdownStage = .pollingCandidates
        failoverCheckLsn = pg(env).position.lsn
        let cands = failoverCandidates(excludeCandidate: false)
        closeRestCalls(env)
        if cands.isEmpty { shutdownRelease(env); return }
        for p in cands { _ = issueRest(to: p, .get(.patroni, lag: nil), env) }
    }

    /// The candidates answered (or not): the key goes either way (`delete_leader` with the
    /// checkpoint location, if the early release did not happen).
    mutating func shutdownPollsAnswered(_ env: PatroniEnv) {
        guard shutdownStage == .pollingCandidates, restCalls.allSatisfy(\.done) else { return }
        let early = failoverPossible(env)
        log(env, "leader_key_release", .object([("why", .string(early ? "shutdown: a replica has the shutdown checkpoint" : "shutdown: PostgreSQL stopped"))]))
        shutdownRelease(env)
    }

    mutating func shutdownRelease(_ env: PatroniEnv) {
        shutdownStage = .releasing
        role = .demoted
        setIsLeader(false, env)
        shutdownTag = dcs.start(.deleteLeader, env)
        drainDCS(env)
    }

    mutating func shutdownTouch(_ env: PatroniEnv) {
        shutdownStage = .touching
        shutdownTag = dcs.start(.touch(memberData(env)), env)
        drainDCS(env)
    }

    /// A DCS operation of the shutdown finished.
    mutating func shutdownDCSDone(_ env: PatroniEnv) {
        switch shutdownStage {
        case .leavingSync: shutdownTouchedForSync(env)
        case .releasing: shutdownTouch(env)
        case .touching:
            shutdownStage = .none
            env.patroniExited(node)
        default: break
        }
    }

    /// The shutdown's timer (the sync poll, the on_shutdown second, the stop timeout).
    mutating func shutdownTimerFired(_ env: PatroniEnv) {
        switch shutdownStage {
        case .leavingSync: shutdownPolled(env)
        case .onShutdown: shutdownAfterSecond(env)
        case .stoppingPostgres: shutdownStopTimedOut(env)
        default: break
        }
    }
}
