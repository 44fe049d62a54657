import SimCore
import Recording
import Etcd
import Postgres

/// An async-executor job (`AsyncExecutor.try_run_async`): one at a time; the HA loop keeps
/// cycling meanwhile (and `handle_long_action_in_progress` keeps the leader key fresh).
public struct Job: Sendable {
    public enum Kind: Sendable {
        case promote
        case startPrimary
        case startStandby(upstream: Int?, afterDemote: Bool)
        /// The graceful demote of a switchover (`/failover` names a leader) or a manual failover.
        case demoteGraceful(manualFailover: Bool)
        case demoteOffline
        case rewind(from: Int)
        case reinit(from: Int)
        case restart
        var isPromote: Bool { if case .promote = self { return true }; return false }
    }
    public var kind: Kind
    var stage = 0
    /// The pending sleep (graceful demote) or timeout (promote) of the job.
    var timer = TimerToken.none
    var dcsTag: UInt32 = 0
    var restIDs: [UInt32] = []
    var started: Nanos = 0
    var released = false
    /// The offline demote runs synchronously: the cycle waits for it.
    var blocksLoop: Bool { if case .demoteOffline = kind { return true }; return false }

    public var name: String {
        switch kind {
        case .promote: return "promote"
        case .startPrimary: return "starting primary after failure"
        case .startStandby(_, let after): return after ? "starting after demotion" : "restarting after failure"
        case .demoteGraceful(let mf): return (mf ? "manual failover" : "switchover") + ": demote"
        case .demoteOffline: return "demote offline"
        case .rewind: return "running pg_rewind"
        case .reinit: return "reinitializing"
        case .restart: return "restart"
        }
    }
}

extension PatroniNode {
    // MARK: - recover

    /// `Ha.recover`: PostgreSQL is not running.
    mutating func recover(_ env: PatroniEnv) -> Outcome {
        if hasLockView { return updateLock(.recoverLock, status: false, env) }
        return recoverContinue(timeoutS: nil, env)
    }

    mutating func recoverLocked(_ r: DCSResult, _ env: PatroniEnv) -> Outcome {
        guard let ok = lockUpdated(r, env) else { return .dcsError }
        if ok && config.primaryStartTimeout == 0 {
            // "We are requested to prefer failing over to restarting primary."
            return startFailoverPossibleCheck(candidates: failoverCandidates(excludeCandidate: false), clusterLsn: 0, k: .recoverFailoverPossible, env)
        }
        return recoverContinue(timeoutS: ok ? config.primaryStartTimeout : nil, env)
    }

    mutating func recoverFailoverPossibleChecked(_ env: PatroniEnv) -> Outcome {
        if failoverPossible(env) {
            watchdogDisable(env)
            demote(.immediate, reason: "Primary crashed. Failing over.", env)
            return .done("stopped PostgreSQL to fail over after a crash")
        }
        return recoverContinue(timeoutS: 0, env)
    }

    mutating func recoverContinue(timeoutS: Int?, _ env: PatroniEnv) -> Outcome {
        let v = pg(env)
        if let t = timeoutS, t > 0, v.controlInProduction, pgState == .crashed, role == .primary {
            // "We know 100% that we were running as a primary a few moments ago": same timeline.
            startTimeoutAt = env.now + Nanos(t) * Time.s
            startJob(.startPrimary, env)
            recovering = true
            return .done("starting primary after failure")
        }
        watchdogDisable(env)
        cluster = dcs.view()
        if hasLockView {
            rewindState = .initial
            startJob(.startStandby(upstream: nil, afterDemote: false), env)
            recovering = true
            return .done("starting as readonly because i had the session lock")
        }
        if !rewindExecuted { triggerRewindCheck() }
        if let o = handleRewindOrReinitialize(then: .rerecover(timeoutS: timeoutS), env) { return o }
        if config.synchronousMode != .off { writeSyncNames(.none, env) }
        let follow = nodeToFollow(env)
        startJob(.startStandby(upstream: follow, afterDemote: false), env)
        recovering = true
        return .done("starting as a secondary")
    }

    // MARK: - follow

    /// `Ha._get_node_to_follow`: the member named by the `replicatefrom` tag while its member
    /// key exists (`Cluster.get_member`, whatever its PostgreSQL is doing), else the leader;
    /// never this node itself.
    func nodeToFollow(_ env: PatroniEnv) -> Int? {
        // "nostream is set, the node must not use WAL streaming".
        if tags.nostream { return nil }
        var target = cluster.leader?.member
        if let rf = tags.replicatefrom, rf != name {
            target = cluster.members.first { env.nodeName($0.member) == rf }?.member ?? target
        }
        return target == node ? nil : target
    }

    /// `Ha.follow`: a primary without the key demotes (immediate-nolock); a replica points its
    /// primary_conninfo at the leader (a reload on PostgreSQL ≥ 13), or at nothing when there is
    /// no leader.
    mutating func follow(demote demoteReason: String, follow followReason: String, refresh: Bool, _ env: PatroniEnv) -> Outcome {
        let again = K.refollow(demote: demoteReason, follow: followReason)
        if refresh { cluster = dcs.view() }
        let v = pg(env)
        let target = nodeToFollow(env)
        if paused {
            if rewindState != .need || cluster.isUnlocked {
                if v.isPrimary {
                    role = .primary
                    return .done("continue to run as primary without lock")
                }
                role = .replica
                if target == nil { return .done("no action. I am (\(name))") }
            }
        } else if v.isPrimary {
            demote(.immediateNolock, reason: demoteReason, env)
            return .done(demoteReason)
        }
        if let o = handleRewindOrReinitialize(then: again, env) { return o }
        if v.upstream != target {
            env.pgSetUpstream(node, target)
            triggerRewindCheck()
            // PostgreSQL ≥ 13 takes a new primary_conninfo with a reload (`Postgresql.follow`,
            // do_reload); the callback is blocked when the role changes (on_role_change instead).
            if v.running && role == .replica { callback("on_reload", "replica", env) }
        } else if let t = target, let lt = cluster.member(t)?.timeline, lt > v.timeline {
            triggerRewindCheck()
            if let o = handleRewindOrReinitialize(then: again, env) { return o }
        }
        if role != .replica && !v.isPrimary {
            let from = role
            role = .replica
            if from == .demoted || from == .primary { callback("on_role_change", "replica", env) }
        }
        return .done(followReason)
    }

    // MARK: - Rewind and reinitialize

    var canRewind: Bool { config.usePgRewind }
    var rewindAllowed: Bool { config.removeDataDirectoryOnDivergedTimelines || canRewind }

    mutating func triggerRewindCheck() {
        if rewindAllowed && rewindState != .need { rewindState = .check }
    }

    /// `Rewind._check_timeline_and_lsn`: `check_leader_is_not_in_recovery` and
    /// `IDENTIFY_SYSTEM` / `TIMELINE_HISTORY` on a connection to the leader's PostgreSQL
    /// (libpq's connect_timeout 3 s). Any failure leaves the state as it was ("Exception when
    /// working with leader"): the check runs again next cycle.
    mutating func startRewindCheck(leader: Int, then k: K, _ env: PatroniEnv) {
        rewindCheckConn = env.leaderPgConnect(from: node, to: leader)
        rewindCheckTimer = env.patroniTimer(node, after: 3 * Time.s, .leaderPgTimeout)
        wait = .rewindCheck(k)
    }

    mutating func leaderPgConnEvent(_ c: ConnID, _ e: ConnEvent, _ env: PatroniEnv) {
        guard c == rewindCheckConn else { return }
        if e == .connected {
            env.leaderPgSend(c, from: node, .timelineRequest)
        } else {
            rewindCheckDone(nil, env)
        }
    }

    /// The check's answer (nil: it failed). A leader still in recovery cannot be used.
    mutating func rewindCheckDone(_ answer: (inRecovery: Bool, end: WalPosition)?, _ env: PatroniEnv) {
        env.connClose(rewindCheckConn)
        rewindCheckConn = .none
        env.patroniCancel(rewindCheckTimer)
        rewindCheckTimer = .none
        if let a = answer {
            if a.inRecovery {
                log(env, Kind.patroni, .object([("msg", "Leader is still in_recovery and therefore can't be used for rewind")]))
            } else if rewindState == .check {
                // Diverged: this server's WAL goes past the point where the leader's history
                // forked from it (so the leader's history does not contain our position).
                let mine = pgLocalState(env).position
                rewindState = env.walHistory.contains(a.end, mine) ? .notNeed : .need
            }
        }
        guard case .rewindCheck(let k) = wait else { return }
        wait = .none
        resume(k, env)
    }

    /// `_handle_rewind_or_reinitialize`: checks the timeline and LSN against the leader (a
    /// connection to its PostgreSQL, inside the cycle) and runs pg_rewind or a re-clone if we
    /// diverged. While the check runs the cycle waits; it continues with `k`, which comes back
    /// here with the result (one check per cycle).
    mutating func handleRewindOrReinitialize(then k: K, _ env: PatroniEnv) -> Outcome? {
        guard let leader = cluster.leader?.member, leader != node else { return nil }
        if rewindState == .check && !rewindCheckedThisCycle && pgLocalState(env).hasData {
            rewindCheckedThisCycle = true
            startRewindCheck(leader: leader, then: k, env)
            return .waiting
        }
        guard rewindState == .need else { return nil }
        if canRewind {
            startJob(.rewind(from: leader), env)
            return .done("running pg_rewind from \(env.nodeName(leader))")
        }
        if config.removeDataDirectoryOnDivergedTimelines {
            startJob(.reinit(from: leader), env)
            return .done("reinitializing due to diverged timelines")
        }
        return nil
    }

    /// Empty data directory: clone from the leader (or wait for one).
    mutating func bootstrapClone(_ env: PatroniEnv) -> Outcome {
        guard let l = cluster.leader?.member, l != node else { return .done("waiting for leader to bootstrap") }
        startJob(.reinit(from: l), env)
        return .done("trying to bootstrap from leader '\(env.nodeName(l))'")
    }

    // MARK: - Long actions and starting instances

    /// `handle_long_action_in_progress`.
    mutating func handleLongActionInProgress(_ env: PatroniEnv) -> Outcome {
        if hasLockView { return updateLock(.longActionLock, status: false, env) }
        return longActionUnlocked(env)
    }

    mutating func longActionLocked(_ r: DCSResult, _ env: PatroniEnv) -> Outcome {
        guard let ok = lockUpdated(r, env) else { return .dcsError }
        if ok { return .done("updated leader lock during \(job?.name ?? "action")") }
        return longActionUnlocked(env)
    }

    mutating func longActionUnlocked(_ env: PatroniEnv) -> Outcome {
        if !paused, let j = job {
            if case .promote = j.kind, j.stage == 0 {
                endJob(env)
                return .done("lost leader before promote")
            }
            if role == .primary {
                endJob(env)
                demote(.immediateNolock, reason: "lost leader lock during \(j.name)", env)
                return .done("lost leader lock during \(j.name)")
            }
        }
        return .done("\(job?.name ?? "action") in progress")
    }

    /// `handle_starting_instance`: a primary still starting keeps its key, up to
    /// primary_start_timeout (counted from when the start began, `time_in_state`); past it, it
    /// gives the key up if a failover candidate exists.
    mutating func handleStartingInstance(_ v: PgView, _ env: PatroniEnv) -> Outcome? {
        guard v.starting, !paused else {
            startTimeoutAt = nil
            return nil
        }
        guard hasLockView else { return nil }
        if startTimeoutAt == nil { startTimeoutAt = env.now + Nanos(config.primaryStartTimeout) * Time.s }
        return updateLock(.startingLock, status: false, env)
    }

    mutating func startingLocked(_ r: DCSResult, _ env: PatroniEnv) -> Outcome {
        guard let ok = lockUpdated(r, env) else { return .dcsError }
        if !ok {
            demote(.immediateNolock, reason: "Lost lock while starting up", env)
            return .done("stopped PostgreSQL while starting up because leader key was lost")
        }
        let timeLeft = (startTimeoutAt ?? env.now) - env.now
        if timeLeft <= 0 {
            return startFailoverPossibleCheck(candidates: failoverCandidates(excludeCandidate: false), clusterLsn: 0, k: .startingFailoverPossible, env)
        }
        if let o = processManualFailoverFromLeader(env) { return o }
        return .done("PostgreSQL is still starting up, \(Int((Time.seconds(timeLeft)).rounded())) seconds until timeout")
    }

    mutating func startingFailoverPossibleChecked(_ env: PatroniEnv) -> Outcome {
        guard failoverPossible(env) else { return .done("primary start has timed out, but continuing to wait because failover is not possible") }
        log(env, Kind.patroni, .object([("msg", "Demoting self because primary startup is taking too long")]))
        demote(.immediate, reason: "primary startup is taking too long", env)
        return .done("stopped PostgreSQL because of startup timeout")
    }

    // MARK: - Jobs

    mutating func startJob(_ kind: Job.Kind, _ env: PatroniEnv) {
        endJob(env)
        var j = Job(kind: kind)
        j.started = env.now
        job = j
        log(env, "job", .object([("action", .string(j.name))]))
        switch kind {
        case .promote:
            if let pp = config.prePromote, pp.applies(to: name) {
                // `_pre_promote`: the fencing script runs first (stage 0: a lost lock cancels it).
                scheduleJobTimer(after: pp.durationNs, .jobSleep, env)
            } else {
                issuePromote(env)
            }
        case .startPrimary:
            env.pgStart(node, asStandby: false, upstream: nil)
            // `postgresql.start(timeout=primary_start_timeout)` waits that long for the server to
            // accept connections; then the job ends and `handle_starting_instance` takes over.
            if let at = startTimeoutAt { scheduleJobTimer(after: max(0, at - env.now), .jobTimeout, env) }
        case .startStandby(let up, _):
            env.pgStart(node, asStandby: true, upstream: up)
        case .demoteOffline, .demoteGraceful, .restart:
            watchdogDisable(env)
            env.pgStop(node, immediate: false)
            // `Ha.demote` passes `primary_stop_timeout()` (synchronous mode only) to the stop;
            // a restart's stop has none.
            if case .restart = kind {} else if let t = primaryStopTimeoutNs { scheduleJobTimer(after: t, .jobTimeout, env) }
        case .rewind(let from):
            // `Rewind.execute`: a server still running (or still stopping) is stopped first, and
            // the job waits for it.
            rewindExecuted = true
            let v = pgLocalState(env)
            if v.running || v.starting {
                env.pgStop(node, immediate: false)
            } else if !v.stopping {
                job!.stage = 1
                env.pgRewind(node, from: from)
            }
        case .reinit(let from):
            // `Ha._do_reinitialize`: `stop('immediate')` returns once the server is down, and
            // only then is the data directory removed and cloned; the job waits for the stop.
            // A server already stopped or stopping (a stop this cycle sent) is cloned at once:
            // PostgreSQL takes the clone after the stop, in order.
            let v = pgLocalState(env)
            if v.running || v.starting {
                env.pgStop(node, immediate: true)
            } else {
                job!.stage = 2
                env.pgReclone(node, from: from)
            }
        }
    }

    mutating func startFailed(_ env: PatroniEnv) {
        pgState = .startFailed
        log(env, Kind.patroni, .object([("msg", "postmaster is not running")]))
    }

    mutating func jobDone(_ env: PatroniEnv) {
        let blocking = job?.blocksLoop ?? false
        endJob(env)
        if blocking, case .job(let k) = wait {
            wait = .none
            resume(k, env)
            return
        }
        wakeup(env)
    }

    mutating func pgNotification(_ n: PgNotification, _ env: PatroniEnv) {
        if stopping {
            if n == .stopped { shutdownPostgresStopped(env) }
            return
        }
        guard var j = job else { return }
        switch (j.kind, n) {
        case (.promote, .promoted):
            role = .primary
            jobDone(env)
        case (.startPrimary, .started(let ok)):
            // `Postgresql.start`: a postmaster that exits during start-up leaves the state
            // 'start failed', so the next recovery does not take it for a crashed primary.
            if ok { role = .primary; callback("on_start", "primary", env) } else { startFailed(env) }
            jobDone(env)
        case (.startStandby(_, let afterDemote), .started(let ok)):
            if !ok { startFailed(env) }
            if ok {
                let was = role
                role = .replica
                callback(afterDemote || was == .demoted ? "on_role_change" : "on_start", "replica", env)
            }
            jobDone(env)
        case (.demoteOffline, .stopped):
            role = .demoted
            setIsLeader(false, env)
            callback("on_stop", "demoted", env)
            if config.synchronousMode != .off { writeSyncNames(.none, env) }
            j.stage = 1
            job = j
            env.pgStart(node, asStandby: true, upstream: nil)
        case (.demoteOffline, .started):
            role = .replica
            callback("on_role_change", "replica", env)
            jobDone(env)
        case (.demoteGraceful, .stopped):
            role = .demoted
            callback("on_stop", "demoted", env)
            // on_shutdown: give the replicas a second, then release if one has the shutdown
            // checkpoint.
            j.stage = 1
            job = j
            scheduleJobTimer(after: Time.s, .jobSleep, env)
        case (.demoteGraceful, .started):
            role = .replica
            callback("on_role_change", "replica", env)
            jobDone(env)
        case (.rewind(let from), .stopped) where j.stage == 0:
            j.stage = 1
            job = j
            env.pgRewind(node, from: from)
        case (.rewind(let from), .rewindSourceUnreachable):
            // The leader went away: not a failed rewind; the state stays "need" and the next
            // cycle tries again.
            log(env, Kind.patroni, .object([("msg", .string("Failed to rewind because primary \(env.nodeName(from)) become unreachable"))]))
            jobDone(env)
        case (.rewind, .rewound(let ok)):
            rewindState = ok ? .success : .failed
            if !ok && config.removeDataDirectoryOnRewindFailure, case .rewind(let from) = j.kind {
                endJob(env)
                startJob(.reinit(from: from), env)
                return
            }
            jobDone(env)
        case (.reinit(let from), .stopped) where j.stage == 0:
            j.stage = 2
            job = j
            env.pgReclone(node, from: from)
        case (.reinit, .recloned(let ok)):
            if ok {
                j.stage = 1
                job = j
                let up = cluster.leader.map(\.member).flatMap { $0 == node ? nil : $0 }
                env.pgStart(node, asStandby: true, upstream: up)
                recovering = true
            } else { jobDone(env) }
        case (.reinit, .started):
            role = .replica
            rewindState = .initial
            jobDone(env)
        case (.restart, .stopped):
            j.stage = 1
            job = j
            let v = pg(env)
            env.pgStart(node, asStandby: role != .primary, upstream: v.upstream)
        case (.restart, .started):
            callback("on_restart", role.rawValue, env)
            jobDone(env)
        default:
            break
        }
    }

    /// `pg_ctl promote -W`, then `_wait_promote` polls for "in production" for up to loop_wait.
    mutating func issuePromote(_ env: PatroniEnv) {
        guard job != nil else { return }
        job!.stage = 1
        env.pgPromote(node)
        role = .promoted
        callback("on_role_change", "primary", env)
        scheduleJobTimer(after: config.loopWaitNs, .jobTimeout, env)
    }

    mutating func jobSleepDone(_ env: PatroniEnv) {
        if let j = job, case .promote = j.kind, j.stage == 0, let pp = config.prePromote {
            log(env, Kind.patroni, .object([("msg", .string("pre_promote script `pre_promote` exited with \(pp.exitCode)"))]))
            if pp.exitCode == 0 { issuePromote(env); return }
            // The promotion does not happen; the next cycle gives the key up.
            prePromoteFailed = true
            jobDone(env)
            return
        }
        guard var j = job, case .demoteGraceful = j.kind else { return }
        switch j.stage {
        case 1:
            // is_failover_possible(cluster_lsn=checkpoint): poll the candidates.
            j.stage = 2
            let cands = failoverCandidates(excludeCandidate: false)
            failoverCheckLsn = pg(env).position.lsn
            j.restIDs = []
            closeRestCalls(env)
            for p in cands { j.restIDs.append(issueRest(to: p, .get(.patroni, lag: nil), env)) }
            job = j
            if cands.isEmpty { jobPollsDone(env) }
        case 3:
            // After the release: "give a time to somebody to take the leader lock", then follow.
            j.stage = 4
            job = j
            cluster = dcs.view()
            let up = cluster.leader.map(\.member).flatMap { $0 == node ? nil : $0 }
            setIsLeader(false, env)
            env.pgStart(node, asStandby: true, upstream: up)
        default: break
        }
    }

    mutating func jobRestAnswered(_ id: UInt32, _ r: RESTResponse?, _ env: PatroniEnv) {
        guard let i = restCalls.firstIndex(where: { $0.id == id }), !restCalls[i].done else { return }
        env.restClose(restCalls[i].conn)
        restCalls[i].done = true
        restCalls[i].status = r?.member
        if restCalls.allSatisfy(\.done) { jobPollsDone(env) }
    }

    mutating func jobPollsDone(_ env: PatroniEnv) {
        guard var j = job else { return }
        _ = failoverPossible(env)
        // Release the key either way (graceful demote always releases), then sleep 2 s.
        j.stage = 3
        j.released = true
        log(env, "leader_key_release", .object([("why", "switchover: demoted gracefully")]))
        j.dcsTag = dcs.start(.deleteLeader, env)
        job = j
        drainDCS(env)
    }

    mutating func jobDCSDone(_ r: DCSResult, _ env: PatroniEnv) {
        // The key is released: "give a time to somebody to take the leader lock".
        scheduleJobTimer(after: 2 * Time.s, .jobSleep, env)
    }

    mutating func jobTimeout(_ env: PatroniEnv) {
        guard let j = job else { return }
        switch j.kind {
        case .promote: jobDone(env)        // `_wait_promote` gave up waiting; role stays "promoted"
        case .startPrimary: jobDone(env)   // still starting: the next cycles count primary_start_timeout
        case .demoteOffline, .demoteGraceful:
            // `Postgresql.terminate_postmaster`: the stop ran past primary_stop_timeout.
            guard j.stage == 0, pgLocalState(env).stopping else { return }
            log(env, Kind.patroni, .object([("msg", "Sending SIGKILL to Postmaster and its children")]))
            env.pgStop(node, immediate: true)
        default: break
        }
    }
}
