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
    let tags: PatroniConfig.Tags
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
    var releasedKeyAt: Nanos = -1 << 60
    var lastWalLsn: Int64 = 0
    var startTimeoutAt: Nanos? = nil
    var rewindState: RewindState = .initial
    var rewindExecuted = false
    public internal(set) var watchdogRunning = false
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
    var gen: UInt32 = 0
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
    var syncContext: SyncContext? = nil
    /// The primary's flush LSN when synchronous_standby_names last changed (a standby is
    /// "ready" as synchronous once it reached it).
    var ssnChangedLsn: Int64 = 0

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
    var nofailover: Bool { tags.nofailover || tags.failoverPriority <= 0 }
    public var hasLockView: Bool { cluster.leader?.member == node }
    public var lastMessage: String { lastCycleMessage }

    mutating func setIsLeader(_ v: Bool, _ env: PatroniEnv) {
        leaderExpiry = v ? env.now + config.ttlNs : 0
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
            leaderExpiry = env.now + config.ttlNs - config.loopWaitNs + phase
            if config.watchdog.mode != .off { watchdogRunning = env.watchdogActivate(node, timeoutS: config.watchdogTimeoutS) }
        }
        cbCalled = true
        gen &+= 1
        nextRun = env.now + phase
        env.patroniTimer(node, after: phase, .loop(gen))
    }

    /// The daemon starts: a new etcd client and lease, the KV cache thread, and the first
    /// cycle right away.
    public mutating func start(_ env: PatroniEnv, loadMembers: Bool = true) {
        dcs.newProcess(loadMembers: loadMembers)
        running = true
        stopping = false
        shutdownStage = .none
        env.restListen(node, true)
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
        gen &+= 1
        env.patroniTimer(node, after: 0, .loop(gen))
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
        case .rest(let r): rest(r, env)
        case .restResponse(let r): restAnswered(r.id, r, env)
        case .restConn(let c, let e): restConnEvent(c, e, env)
        case .operatorAction(let a): operatorAction(a, env)
        case .terminate: shutdown(env)
        }
    }

    mutating func timer(_ t: PatroniTimer, _ env: PatroniEnv) {
        switch t {
        case .loop(let g):
            guard g == gen, !inCycle, !stopping else { return }
            beginCycle(env)
        case .cacheWait(let g):
            if case .cache(let wg) = wait, wg == g {
                wait = .none
                // get_cluster: "Exceeded retry deadline" → DCSError.
                proceed(.dcsError, env)
            }
        case .sleep(let g):
            if case .sleep(let sg, let k) = wait, sg == g {
                wait = .none
                resume(k, env)
            } else if let j = job, j.sleepGen == g {
                jobSleepDone(env)
            }
        case .rest(let id): restTimedOut(id, read: false, env)
        case .restRead(let id): restTimedOut(id, read: true, env)
        case .shutdownPoll(let g): shutdownTimer(g, env)
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
        case .job(let g): if let j = job, j.gen == g { jobTimeout(env) }
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
            gen &+= 1
            env.patroniTimer(node, after: 0, .loop(gen))
        }
    }

    // MARK: - Scheduling

    /// `Patroni.schedule_next_run` and `Ha.watch`: fixed rate, `next_run += loop_wait`; a
    /// replica following a known leader waits 0.5 s longer; a DCS event (or a finished async
    /// job) wakes it early and re-phases the loop.
    mutating func scheduleNext(_ env: PatroniEnv) {
        inCycle = false
        dcs.forceLeaseRefreshNextCycle()
        nextRun += config.loopWaitNs
        let nap = nextRun - env.now
        gen &+= 1
        if nap <= 0 {
            // "Loop time exceeded, rescheduling immediately."
            nextRun = env.now
            env.patroniTimer(node, after: Time.ms, .loop(gen))
            return
        }
        if dcs.event || wakeRequested {
            dcs.event = false
            wakeRequested = false
            nextRun = env.now
            env.patroniTimer(node, after: 0, .loop(gen))
            return
        }
        let watchesLeader = job == nil && !cluster.isUnlocked && !hasLockView
        env.patroniTimer(node, after: nap + (watchesLeader ? 500 * Time.ms : 0), .loop(gen))
    }

    /// `Ha.wakeup()`: an async job finished or a manual action was requested.
    mutating func wakeup(_ env: PatroniEnv) {
        if stopping { return }
        if inCycle { wakeRequested = true; return }
        nextRun = env.now
        gen &+= 1
        env.patroniTimer(node, after: 0, .loop(gen))
    }

}
