import SimCore
import Settings
import Recording
import Etcd
import Postgres

/// What a blocked cycle waits for, and how it continues.
enum Wait {
    case none
    /// The cycle's query to PostgreSQL (a frozen server holds the cycle here).
    case pgQuery
    /// A fresh query within the cycle (`reset_cluster_info_state`, then a read), then `K`.
    case pgRequery(K)
    /// The rewind check's connection to the leader's PostgreSQL.
    case rewindCheck(K)
    case cache
    case dcs(UInt32, K)
    case rest(K)
    case sleep(K)
    /// A job the cycle runs synchronously (offline demote: stop, then start read-only).
    case job(K)
}

/// Continuations of a parked cycle.
indirect enum K {
    case initialized
    case longActionLock
    case startingLock
    case recoverLock
    case recoverFailoverPossible
    case startingFailoverPossible
    case healthyLock
    case leaderFailoverPossible
    case acquired
    case raceStatuses
    case manualCandidateStatus
    case manualFailoverPossible
    case released(msg: String)
    case releaseThenSleep(msg: String)
    case failsafeChecked
    case sync(SyncStep)
    case prepromote(msg: String, promoteMsg: String)
    case historyWritten(msg: String)
    case failoverKeyCleared(msg: String)
    case afterSleep(String)
    case followAfterSleep(nofailover: Bool)
    case offlineDemoted
    case touched
    case then(String)
    /// Back into `follow` / `recover` after the rewind check.
    case refollow(demote: String, follow: String)
    case rerecover(timeoutS: Int?)
}

/// How a step of the cycle ended.
enum Outcome {
    case done(String)
    case waiting
    case dcsError
}

extension PatroniNode {
    /// PostgreSQL as the cycle sees it: the answer to its query. Outside a cycle (a job's
    /// step, the shutdown), only what the host's files say.
    func pg(_ env: PatroniEnv) -> PgView { pgInfo ?? env.pgLocalState(node) }
    func pgLocalState(_ env: PatroniEnv) -> PgView { env.pgLocalState(node) }

    // MARK: - The cycle

    mutating func beginCycle(_ env: PatroniEnv) {
        inCycle = true
        wait = .none
        cancelWaitTimer(env)
        // `Etcd3.watch` clears the event when it returns.
        dcs.event = false
        wakeRequested = false
        // `reset_cluster_info_state`, then the cycle's first query (`cluster_info_query`).
        pgInfo = nil
        rewindCheckedThisCycle = false
        nextPgQuery &+= 1
        cycleQuery = nextPgQuery
        wait = .pgQuery
        env.pgQuery(node, id: cycleQuery)
    }

    /// The cycle's query is answered: `load_cluster_from_dcs` next.
    mutating func cycleQueried(_ env: PatroniEnv) {
        if dcs.cacheReady {
            afterLoadCluster(env)
        } else {
            // get_cluster waits up to retry_timeout for the cache.
            wait = .cache
            scheduleWaitTimer(after: config.retryTimeoutNs, .cacheWait, env)
        }
    }

    /// `load_cluster_from_dcs` and the first half of `_run_cycle`.
    mutating func afterLoadCluster(_ env: PatroniEnv) {
        loadCluster(env)
        let v = pg(env)
        if paused {
            watchdogDisable(env)
            wasPaused = true
        } else {
            if wasPaused { rewindState = .initial }
            wasPaused = false
        }
        if hasLockView && !cluster.initialized {
            awaitDCS(.put(dcs.keys.initialize, .initialize, retry: true), .initialized, env)
            return
        }
        if hasLockView && cluster.config == nil {
            awaitDCS(.put(dcs.keys.config, .config(config), retry: false), .initialized, env)
            return
        }
        _ = v
        proceed(afterInitialized(env), env)
    }

    mutating func loadCluster(_ env: PatroniEnv) {
        var c = dcs.view()
        if !c.isUnlocked || oldCluster == nil { oldCluster = c }
        // Failsafe: a replica that accepted the leader's POST keeps seeing it as leader.
        if c.isUnlocked && config.failsafeMode, let fl = failsafeLeader, fl.until > env.now {
            c.leader = .init(member: fl.member, lease: 0, modRevision: 0)
        }
        if !c.isUnlocked { raceBackoffStart = 0 }
        cluster = c
        lastClusterLoad = env.now
        if cluster.leader?.member != node { setIsLeader(false, env) }
        if let (dyn, _) = cluster.config, dyn != dynamicPart(config) { applyDynamicConfig(dyn, env) }
    }

    mutating func afterInitialized(_ env: PatroniEnv) -> Outcome {
        if job != nil { return handleLongActionInProgress(env) }
        let v = pg(env)
        if let o = handleStartingInstance(v, env) { return o }
        if recovering {
            recovering = false
            if rewindState != .need {
                // post_recover: PostgreSQL failed to start after a crash.
                if !v.running && !v.starting {
                    watchdogDisable(env)
                    if hasLockView {
                        if role == .primary || role == .promoted { role = .demoted; callback("on_role_change", "demoted", env) }
                        return release(msg: "removed leader key after trying and failing to start postgres", env)
                    }
                    return .done("failed to start postgres")
                }
            }
        }
        if !v.hasData {
            // The data directory is empty (lost disk): stop, drop the watchdog, give up the key,
            // then clone from the leader.
            env.pgStop(node, immediate: true)
            watchdogDisable(env)
            role = .uninitialized
            if hasLockView { return release(msg: "released leader key voluntarily as data dir empty and currently leader", env) }
            if paused { return .done("running with empty data directory") }
            return bootstrapClone(env)
        }
        if !v.running {
            if paused {
                pgState = .stopped
                if hasLockView { return release(msg: "removed leader lock because postgres is not running", env) }
                if rewindState != .need { return .done("postgres is not running") }
            }
            if pgState == .running || pgState == .starting { pgState = .crashed }
            return recover(env)
        }
        pgState = .running
        if !v.reachable { return .done("Error communicating with PostgreSQL. Will try again later") }
        return cluster.isUnlocked ? processUnhealthyCluster(env) : processHealthyCluster(env)
    }

    /// Continues a parked cycle.
    mutating func resume(_ k: K, _ env: PatroniEnv) {
        switch k {
        case .afterSleep(let msg), .then(let msg): proceed(.done(msg), env)
        case .followAfterSleep(let nf):
            proceed(nf ? follow(demote: "demoting self because I am not allowed to become primary",
                                follow: "following a different leader because I am not allowed to promote", refresh: true, env)
                       : follow(demote: "demoting self because i am not the healthiest node",
                                follow: "following a different leader because i am not the healthiest node", refresh: true, env), env)
        case .releaseThenSleep(let msg):
            sleep(2 * Time.s, then: .then(msg), env)
        case .raceStatuses: proceed(raceDecided(env), env)
        case .manualCandidateStatus: proceed(manualCandidateChecked(env), env)
        case .manualFailoverPossible: proceed(manualFailoverPossibleChecked(env), env)
        case .leaderFailoverPossible: proceed(leaderFailoverPossibleChecked(env), env)
        case .recoverFailoverPossible: proceed(recoverFailoverPossibleChecked(env), env)
        case .startingFailoverPossible: proceed(startingFailoverPossibleChecked(env), env)
        case .failsafeChecked: proceed(failsafeChecked(env), env)
        case .sync(let s): proceed(syncStep(s, nil, env), env)
        case .offlineDemoted: proceed(.done("demoted self because DCS is not accessible and I was a leader"), env)
        case .refollow(let d, let f): proceed(follow(demote: d, follow: f, refresh: false, env), env)
        case .rerecover(let t): proceed(recoverContinue(timeoutS: t, env), env)
        default: proceed(.done(lastCycleMessage), env)
        }
    }

    /// A DCS operation the cycle waited for finished.
    mutating func resumeDCS(_ k: K, _ r: DCSResult, _ env: PatroniEnv) {
        switch k {
        case .initialized:
            if r == .error { proceed(.dcsError, env); return }
            if hasLockView && cluster.config == nil, case .ok = r {
                cluster.config = (config, 0)
                awaitDCS(.put(dcs.keys.config, .config(config), retry: false), .initialized, env)
                return
            }
            proceed(afterInitialized(env), env)
        case .longActionLock: proceed(longActionLocked(r, env), env)
        case .startingLock: proceed(startingLocked(r, env), env)
        case .recoverLock: proceed(recoverLocked(r, env), env)
        case .healthyLock: proceed(healthyLocked(r, env), env)
        case .acquired: proceed(acquired(r, env), env)
        case .released(let msg):
            if r == .error { proceed(.dcsError, env); return }
            proceed(.done(msg), env)
        case .releaseThenSleep(let msg):
            sleep(2 * Time.s, then: .then(msg), env)
        case .sync(let s): proceed(syncStep(s, r, env), env)
        case .prepromote(let msg, let promoteMsg): proceed(prepromoteWritten(r, msg: msg, promoteMsg: promoteMsg, env), env)
        case .historyWritten(let msg), .failoverKeyCleared(let msg): proceed(.done(msg), env)
        case .touched: scheduleNext(env)
        default: proceed(.done(lastCycleMessage), env)
        }
    }

    /// Where a step leads: the end of the cycle, a wait, or the DCS error handler.
    mutating func proceed(_ o: Outcome, _ env: PatroniEnv) {
        switch o {
        case .waiting: return
        case .dcsError: proceed(handleDCSError(env), env, dcsFailed: true)
        case .done(let msg): endCycle(msg, dcsFailed: false, env)
        }
    }

    mutating func proceed(_ o: Outcome, _ env: PatroniEnv, dcsFailed: Bool) {
        switch o {
        case .waiting: return
        case .dcsError: endCycle("DCS is not accessible", dcsFailed: true, env)
        case .done(let msg): endCycle(msg, dcsFailed: dcsFailed, env)
        }
    }

    /// The `finally` of `_run_cycle`: unless the DCS failed, touch the member key; then sleep.
    mutating func endCycle(_ msg: String, dcsFailed: Bool, _ env: PatroniEnv) {
        // `Ha.run_cycle`: in maintenance mode every cycle's message says so.
        let msg = paused ? "PAUSE: " + msg : msg
        if msg != lastCycleMessage { log(env, Kind.patroni, .object([("msg", .string(msg))])) }
        lastCycleMessage = msg
        if dcsFailed {
            scheduleNext(env)
            return
        }
        if isLeader(env.now) && failsafeActiveAt != env.now { failsafeActiveAt = 0 }
        syncReplicationSlots(env)
        awaitDCS(.touch(memberData(env)), .touched, env)
    }

    mutating func awaitDCS(_ r: PatroniDCS.Request, _ k: K, _ env: PatroniEnv) {
        let tag = dcs.start(r, env)
        wait = .dcs(tag, k)
        drainDCS(env)
    }

    /// `reset_cluster_info_state(None)` and the next read: a new query, answered as the
    /// cycle's first is (a frozen server holds the cycle here too).
    mutating func requery(then k: K, _ env: PatroniEnv) {
        nextPgQuery &+= 1
        cycleQuery = nextPgQuery
        wait = .pgRequery(k)
        env.pgQuery(node, id: cycleQuery)
    }

    mutating func sleep(_ d: Nanos, then k: K, _ env: PatroniEnv) {
        wait = .sleep(k)
        scheduleWaitTimer(after: d, .sleep, env)
    }

    /// The member key's data (`touch_member`).
    func memberData(_ env: PatroniEnv) -> MemberData {
        let v = pg(env)
        let state: MemberData.State = v.running ? .running : v.starting ? .starting : v.stopping ? .stopping : (pgState == .crashed || pgState == .startFailed ? pgState : .stopped)
        var d = MemberData(role: role, state: state, xlogLocation: v.running ? v.lastOperation : 0,
                           timeline: v.timeline, streaming: v.streamingFrom != nil,
                           nofailover: nofailover, failoverPriority: tags.failoverPriority, nosync: tags.nosync || disableSync > 0, syncPriority: tags.syncPriority,
                           pause: paused, checkpointAfterPromote: true)
        if let rf = tags.replicatefrom { d.replicatefrom = cluster.members.first { env.nodeName($0.member) == rf }?.member ?? -1 }
        d.nostream = tags.nostream
        return d
    }

    // MARK: - DCS unavailable

    /// `_handle_dcs_error`: a primary keeps its role only through failsafe mode (every member in
    /// `/failsafe` accepts its POST); otherwise it demotes offline. Replicas carry on.
    mutating func handleDCSError(_ env: PatroniEnv) -> Outcome {
        let v = pg(env)
        guard !paused, v.running else { return .done("DCS is not accessible") }
        if v.isPrimary {
            if config.failsafeMode {
                if let o = startFailsafeCheck(env) { return o }
            }
            return demoteOffline(env)
        }
        return .done("DCS is not accessible")
    }

    mutating func demoteOffline(_ env: PatroniEnv) -> Outcome {
        failsafeActiveAt = 0
        log(env, Kind.demote, .object([("mode", "offline"), ("why", "DCS is not accessible and I was a leader")]))
        startJob(.demoteOffline, env)
        wait = .job(.offlineDemoted)
        return .waiting
    }

    // MARK: - Dynamic configuration

    func dynamicPart(_ c: PatroniConfig) -> PatroniConfig {
        var d = c
        d.tags = [:]
        return d
    }

    mutating func applyDynamicConfig(_ dyn: PatroniConfig, _ env: PatroniEnv) {
        var c = dyn
        c.tags = config.tags
        c.watchdog = config.watchdog
        c.prePromote = config.prePromote   // local (patroni.yml), not dynamic
        let wasPaused = config.pause
        config = c
        dcs.setConfig(c)
        if wasPaused != c.pause {
            log(env, "pause", .object([("paused", .bool(c.pause))]))
        }
        if c.pause { watchdogDisable(env) }
    }
}
