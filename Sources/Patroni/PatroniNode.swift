import SimCore
import Settings
import Recording
import Etcd
import Postgres

/// One Patroni daemon: the HA loop (`Ha._run_cycle`, scheduled as `Patroni.run` does), its
/// REST API, its etcd client and watch cache, and the async executor's jobs (promote, demote,
/// start, rewind, re-clone).
///
/// Patroni's code is sequential with blocking calls; here each blocking call (a DCS operation,
/// REST polls, a `time.sleep`) parks the cycle on a `Wait` with a continuation, and the cycle
/// resumes when the call's result arrives as an event. Everything lives in memory: a restarted
/// Patroni starts from scratch (new etcd lease, new leader expiry).
public struct PatroniNode {
    public let node: Int
    public internal(set) var config: PatroniConfig
    var tags: PatroniConfig.Tags
    var rng: Rng
    public var dcs: PatroniDCS
    let members: [Int]
    var name: String
    let values: PatroniValues

    // MARK: Ha state
    /// `Ha._leader_expiry`: `is_leader()` holds until the last good lock update + ttl.
    public internal(set) var leaderExpiry: Nanos = 0
    public internal(set) var cluster = ClusterView()
    var oldCluster: ClusterView? = nil
    public internal(set) var role: MemberData.Role = .replica
    var pgState: MemberData.State = .running
    var recovering = false
    /// When the key was last given up after a failed pre_promote script (the race backs off ttl).
    var releasedKeyAt: Nanos = -1 << 60
    /// The pre_promote script failed (`_async_response.result is False`).
    var prePromoteFailed = false
    /// The callback script running in the callback executor, and the on_reload one in its own
    /// (`CallbackExecutor`, `OnReloadExecutor`): a new call kills the one still running.
    var runningCallback: RunningCallback? = nil
    var runningReloadCallback: RunningCallback? = nil
    var callbackSeq: UInt32 = 0
    /// The leader's `_last_retain_slots`: when each member's slot was last seen with its member
    /// key (member node, time); bounded by the cluster's members.
    var retainSlotsSeen: [(member: Int, at: Nanos)] = []
    var lastWalLsn: Int64 = 0
    var startTimeoutAt: Nanos? = nil
    var rewindState: RewindState = .initial
    var rewindExecuted = false
    public internal(set) var watchdogRunning = false
    /// The timeout the device was armed or last set with (`Watchdog.active_config.timeout`).
    var watchdogActiveTimeoutS = 0
    var syncStrictActivated = false
    var wasPaused = false
    var cbCalled = false
    /// Failsafe: when the leader last POSTed /failsafe to this replica, and who it was.
    var failsafeLeader: (member: Int, until: Nanos)? = nil
    /// On the leader: failsafe mode kept it primary at this time (REST shows it).
    var failsafeActiveAt: Nanos = 0
    var disableSync = 0
    public internal(set) var running = false
    /// SIGTERM received: the HA loop is over; `shutdownStage` runs the rest.
    var stopping = false
    var shutdownStage: ShutdownStage = .none
    var shutdownTag: UInt32 = 0
    var lastCycleMessage = ""

    // MARK: Loop
    var nextRun: Nanos = 0
    /// The cycle's answer from PostgreSQL (`_cluster_info_state`: one query per cycle, reset
    /// when the next begins); nil outside a cycle.
    var pgInfo: PgView? = nil
    var nextPgQuery: UInt32 = 0
    /// The cycle's query in flight.
    var cycleQuery: UInt32 = 0
    /// The rewind check's connection to the leader's PostgreSQL, and its connect timeout.
    var rewindCheckConn: ConnID = .none
    var rewindCheckTimer = TimerToken.none
    var rewindCheckedThisCycle = false
    /// REST requests whose handler waits for its query to PostgreSQL.
    var restQueries: [(query: UInt32, request: RESTRequest)] = []
    /// The pending wake-up of the loop (its nap, or "run now"); each new schedule replaces it.
    var loopTimer = TimerToken.none
    /// The pending end of the cycle's `wait` (the cache wait, a sleep).
    var waitTimer = TimerToken.none
    /// The shutdown's pending timer (the sync poll, the on_shutdown second, the stop timeout).
    var shutdownTimer = TimerToken.none
    var inCycle = false
    var wait: Wait = .none
    var restCalls: [RestCall] = []
    var nextRest: UInt32 = 0
    /// A manual action requested through the REST API or patronictl.
    var wakeRequested = false
    /// DCS writes after which the loop wakes up (a switchover request: `ha.wakeup()` after the
    /// /failover key is written).
    var wakeAfter: [UInt32] = []
    var watchProbing = false
    var lastClusterLoad: Nanos = -1 << 60
    var raceContext: RaceContext? = nil
    var raceBackoffStart: Nanos = 0
    var failoverCheckLsn: Int64 = 0
    /// The check excludes the operator's candidate (`exclude_failover_candidate`).
    var failoverCheckExcludes = false
    var syncContext: SyncContext? = nil
    /// The primary's flush LSN when synchronous_standby_names last changed (a standby is
    /// "ready" as synchronous once it reached it).
    var ssnChangedLsn: Int64 = 0
    /// Quorum commit (`SyncHandler`): the standbys seen reaching `quorumFlushLsn` since they were
    /// listed (`_ready_replicas`), the primary's position when `synchronous_standby_names` last
    /// changed (`_primary_flush_lsn`), the value that change was noticed for, and the value this
    /// Patroni last wrote (its config's memory; nil after a start).
    var quorumReady: [Int] = []
    var quorumFlushLsn: Int64 = 0
    var quorumSeenSsn: SyncStandbyNames? = nil
    var writtenSsn: SyncStandbyNames? = nil
    /// `_promote_timestamp`: when quorum processing first ran since this node became primary
    /// (0: not yet); it then waits a loop_wait for the replicas to reconnect.
    var quorumFirstProcessed: Nanos = 0

    // MARK: Async executor
    public internal(set) var job: Job? = nil

    enum RewindState { case initial, check, need, notNeed, success, failed }

    public init(node: Int, name: String, members: [Int], config: PatroniConfig, dcs: PatroniDCS, values: PatroniValues, rng: Rng) {
        self.node = node
        self.name = name
        self.members = members
        self.config = config
        tags = config.tags(for: name)
        self.dcs = dcs
        self.values = values
        self.rng = rng
    }

    // MARK: - Queries

    public func isLeader(_ now: Nanos) -> Bool { leaderExpiry > now }
    public var paused: Bool { config.pause }
    var nofailover: Bool { tags.nofailover }
    public var hasLockView: Bool { cluster.leader?.member == node }
    public var lastMessage: String { lastCycleMessage }

    mutating func setIsLeader(_ v: Bool, _ env: PatroniEnv) {
        leaderExpiry = v ? env.now + config.ttlNs : 0
        // `set_is_leader(False)` forgets when quorum processing first ran as primary.
        if !v { quorumFirstProcessed = 0 }
    }

    func log(_ env: PatroniEnv, _ kind: String, _ detail: JSON) {
        env.recorder.log(env.now, name, "patroni", kind, detail)
    }

    // MARK: - Lifecycle

    /// The daemon is already running when the run starts (steady state): its first cycle comes
    /// at `phase`, it holds `lease`, and the primary's Patroni still holds `is_leader` from its
    /// last update.
    public mutating func startSteady(phase: Nanos, primary: Bool, lease: LeaseID, _ env: PatroniEnv) {
        start(env, loadMembers: false)
        // Its lease (holding its member key, and the leader key on the primary) was last
        // refreshed one loop before its first cycle here.
        dcs.adoptLease(lease, refreshedAt: env.now + phase - config.loopWaitNs)
        role = primary ? .primary : .replica
        if primary {
            // Primary long before the run: quorum processing is not in its post-promotion pause.
            quorumFirstProcessed = -2 * config.loopWaitNs
            leaderExpiry = env.now + config.ttlNs - config.loopWaitNs + phase
            if config.watchdog.mode != .off {
                watchdogRunning = env.watchdogActivate(node, timeoutS: config.watchdogTimeoutS)
                watchdogActiveTimeoutS = config.watchdogTimeoutS
            }
        }
        cbCalled = true
        nextRun = env.now + phase
        scheduleLoop(after: phase, env)
    }

    /// The daemon starts: a new etcd client and lease, the KV cache thread, and the first
    /// cycle right away.
    public mutating func start(_ env: PatroniEnv, loadMembers: Bool = true) {
        dcs.newProcess(loadMembers: loadMembers)
        running = true
        stopping = false
        shutdownStage = .none
        env.restListen(node, true)
        forgetProcessState()
        leaderExpiry = 0
        oldCluster = nil
        job = nil
        wait = .none
        inCycle = false
        restCalls.removeAll()
        cbCalled = false
        rewindState = .initial
        recovering = false
        dcs.buildCache(env)
        nextRun = env.now
        scheduleLoop(after: 0, env)
    }

    /// Crash or kill: memory is gone (the lease lives on in etcd until it expires).
    public mutating func crash() {
        running = false
        stopping = false
        shutdownStage = .none
        watchdogRunning = false
        leaderExpiry = 0
        job = nil
        wait = .none
        inCycle = false
        forgetProcessState()
    }

    /// What a process holds only while it lives: its pending timers (the kernel drops a dead
    /// incarnation's events, so they are forgotten, not cancelled), its queries and its
    /// connections in flight, and its async executor's last result.
    mutating func forgetProcessState() {
        pgInfo = nil
        quorumReady.removeAll()
        quorumFlushLsn = 0
        quorumSeenSsn = nil
        writtenSsn = nil
        quorumFirstProcessed = 0
        restQueries.removeAll()
        rewindCheckConn = .none
        rewindCheckTimer = .none
        rewindCheckedThisCycle = false
        prePromoteFailed = false
        // The scripts' processes are the executor threads' children: with the process gone,
        // nobody waits for them.
        runningCallback = nil
        runningReloadCallback = nil
        retainSlotsSeen.removeAll()
        loopTimer = .none
        waitTimer = .none
        shutdownTimer = .none
    }

    // MARK: - Inputs

    public mutating func handle(_ input: PatroniInput, _ env: PatroniEnv) {
        guard running else { return }
        switch input {
        case .timer(let t): timer(t, env)
        case .etcd(let r):
            if case .watchEvent(let ev) = r.result {
                // Only the current watch stream feeds the cache.
                guard r.req == dcs.client.watch?.req else { return }
                dcs.watchEvent(ev, raftTerm: r.raftTerm, amLeader: cluster.leader?.member == node, env)
                if dcs.event { dcsEvent(env) }
                return
            }
            if let done = dcs.client.receive(r, env) { dcs.callDone(done.tag, done.outcome, env) }
            drainDCS(env)
        case .etcdConn(let c, let e):
            if let d = dcs.client.connectionEvent(c, e, env) { dcs.callDone(d.tag, d.outcome, env) }
            if dcs.client.watchBroken { watchBroke(env) }
            drainDCS(env)
        case .pg(let n): pgNotification(n, env)
        case .pgAnswer(let id):
            guard let v = env.takePgAnswer(node, id: id) else { return }
            if id == cycleQuery, case .pgQuery = wait {
                wait = .none
                pgInfo = v
                cycleQueried(env)
            } else if id == cycleQuery, case .pgRequery(let k) = wait {
                wait = .none
                pgInfo = v
                resume(k, env)
            } else if let i = restQueries.firstIndex(where: { $0.query == id }) {
                restQueryAnswered(restQueries.remove(at: i).request, v, env)
            }
        case .leaderPgConn(let c, let e): leaderPgConnEvent(c, e, env)
        case .leaderPgReply(let c, let r, let end):
            if c == rewindCheckConn { rewindCheckDone((r, end), env) }
        case .rest(let r): rest(r, env)
        case .restResponse(let r): restAnswered(r.id, r, env)
        case .restConn(let c, let e): restConnEvent(c, e, env)
        case .operatorAction(let a): operatorAction(a, env)
        case .terminate: shutdown(env)
        }
    }

    mutating func timer(_ t: PatroniTimer, _ env: PatroniEnv) {
        switch t {
        case .loop:
            loopTimer = .none
            guard !inCycle, !stopping else { return }
            beginCycle(env)
        case .cacheWait:
            waitTimer = .none
            if case .cache = wait {
                wait = .none
                // get_cluster: "Exceeded retry deadline" → DCSError.
                proceed(.dcsError, env)
            }
        case .sleep:
            waitTimer = .none
            if case .sleep(let k) = wait {
                wait = .none
                resume(k, env)
            }
        case .jobSleep:
            guard job != nil else { return }
            job!.timer = .none
            jobSleepDone(env)
        case .leaderPgTimeout:
            rewindCheckTimer = .none
            if !rewindCheckConn.isNone { rewindCheckDone(nil, env) }
        case .jobTimeout:
            guard job != nil else { return }
            job!.timer = .none
            jobTimeout(env)
        case .callbackExited(let reload, let seq): callbackExited(reload: reload, seq: seq, env)
        case .rest(let id): restTimedOut(id, read: false, env)
        case .restRead(let id): restTimedOut(id, read: true, env)
        case .shutdownPoll:
            shutdownTimer = .none
            shutdownTimerFired(env)
        case .cacheRebuild:
            dcs.buildCache(env)
            drainDCS(env)
        case .client(let ct):
            if case .keepalive(let req, let failures) = ct {
                let idle = Nanos(config.loopWait + config.retryTimeout) * Time.s
                let intvl = max(Time.s, Nanos(max(1, (config.ttl - (config.loopWait + config.retryTimeout)) / 3)) * Time.s)
                if dcs.client.keepaliveProbe(req: req, failures: failures, idleNs: idle, intervalNs: intvl, env) { watchBroke(env) }
                return
            }
            if let d = dcs.client.timer(ct, env) { dcs.callDone(d.tag, d.outcome, env) }
            drainDCS(env)
        }
    }

    /// Routes finished DCS operations to whoever waits for them, and keeps the cache alive.
    mutating func drainDCS(_ env: PatroniEnv) {
        // Switching the client's current node restarts the watcher (`set_base_uri`): the cache
        // is not ready until rebuilt from the new node.
        if dcs.cacheReady && !dcs.watchAlive { watchBroke(env) }
        for (tag, result) in dcs.takeFinished() {
            if stopping {
                if tag == shutdownTag { shutdownDCSDone(env) }
                continue
            }
            if let i = wakeAfter.firstIndex(of: tag) {
                wakeAfter.remove(at: i)
                wakeup(env)
                continue
            }
            if case .dcs(let t, let k) = wait, t == tag {
                wait = .none
                resumeDCS(k, result, env)
            } else if let j = job, j.dcsTag == tag {
                jobDCSDone(result, env)
            }
        }
        if dcs.cacheReady, case .cache = wait {
            wait = .none
            cancelWaitTimer(env)
            afterLoadCluster(env)
        }
        if !dcs.cacheReady && dcs.cacheTag == nil && !dcs.watchAlive {
            if let at = dcs.cacheRebuildAt {
                dcs.cacheRebuildAt = nil
                env.patroniTimer(node, after: max(0, at - env.now), .cacheRebuild)
            }
        }
        if dcs.cacheReady, let w = dcs.client.watch, !watchProbing {
            watchProbing = true
            let idle = Nanos(config.loopWait + config.retryTimeout) * Time.s
            env.patroniTimer(node, after: idle, .client(.keepalive(w.req, failures: 0)))
        }
    }

    /// The watch stream died: the cache is not ready; `KVCache.run` rebuilds it at once.
    mutating func watchBroke(_ env: PatroniEnv) {
        dcs.watchDied(env)
        watchProbing = false
        dcs.buildCache(env)
    }

    /// A watch event that sets `dcs.event`: a napping loop wakes and runs at once.
    mutating func dcsEvent(_ env: PatroniEnv) {
        if !inCycle && job?.blocksLoop != true && !stopping {
            dcs.event = false
            nextRun = env.now
            scheduleLoop(after: 0, env)
        }
    }

    // MARK: - Scheduling

    /// `Patroni.schedule_next_run` and `Ha.watch`: fixed rate, `next_run += loop_wait`; a
    /// replica following a known leader waits 0.5 s longer; a DCS event (or a finished async
    /// job) wakes it early and re-phases the loop.
    mutating func scheduleNext(_ env: PatroniEnv) {
        inCycle = false
        pgInfo = nil
        dcs.forceLeaseRefreshNextCycle()
        nextRun += config.loopWaitNs
        let nap = nextRun - env.now
        if nap <= 0 {
            // "Loop time exceeded, rescheduling immediately."
            nextRun = env.now
            scheduleLoop(after: Time.ms, env)
            return
        }
        if dcs.event || wakeRequested {
            dcs.event = false
            wakeRequested = false
            nextRun = env.now
            scheduleLoop(after: 0, env)
            return
        }
        let watchesLeader = job == nil && !cluster.isUnlocked && !hasLockView
        scheduleLoop(after: nap + (watchesLeader ? 500 * Time.ms : 0), env)
    }

    /// `Ha.wakeup()`: an async job finished or a manual action was requested.
    mutating func wakeup(_ env: PatroniEnv) {
        if stopping { return }
        if inCycle { wakeRequested = true; return }
        nextRun = env.now
        scheduleLoop(after: 0, env)
    }

    // MARK: - Timers

    /// The loop's next wake-up replaces any pending one.
    mutating func scheduleLoop(after d: Nanos, _ env: PatroniEnv) {
        env.patroniCancel(loopTimer)
        loopTimer = env.patroniTimer(node, after: d, .loop)
    }

    /// Ends the cycle's `wait` on its timer after `d`.
    mutating func scheduleWaitTimer(after d: Nanos, _ t: PatroniTimer, _ env: PatroniEnv) {
        env.patroniCancel(waitTimer)
        waitTimer = env.patroniTimer(node, after: d, t)
    }

    mutating func cancelWaitTimer(_ env: PatroniEnv) {
        env.patroniCancel(waitTimer)
        waitTimer = .none
    }

    /// The job's sleep or timeout (one at a time).
    mutating func scheduleJobTimer(after d: Nanos, _ t: PatroniTimer, _ env: PatroniEnv) {
        guard job != nil else { return }
        env.patroniCancel(job!.timer)
        job!.timer = env.patroniTimer(node, after: d, t)
    }

    /// The job is over: its pending sleep or timeout goes with it.
    mutating func endJob(_ env: PatroniEnv) {
        if let j = job { env.patroniCancel(j.timer) }
        job = nil
    }

    mutating func scheduleShutdownTimer(after d: Nanos, _ env: PatroniEnv) {
        env.patroniCancel(shutdownTimer)
        shutdownTimer = env.patroniTimer(node, after: d, .shutdownPoll)
    }
}
