import SimCore
import Recording
import Etcd
import Postgres

/// A REST call in flight from this node (a race poll or a failsafe POST): a new connection
/// per request (the REST server speaks HTTP/1.0 and closes it after answering).
struct RestCall {
    var id: UInt32
    var peer: Int
    var kind: RESTRequest.Kind
    var conn: ConnID = .none
    var connected = false
    /// urllib3 `retries=`: connect errors tried again (a failsafe POST has one).
    var retriesLeft = 0
    var done = false
    var status: MemberStatus? = nil
    var accepted = false
    /// The HTTP status of the answer (0: none came).
    var httpStatus: Int16 = 0
    /// Why no answer came: the connection was refused, reset, or timed out.
    var failure: ConnEvent? = nil
}

/// What the race is deciding, kept while its polls are out.
struct RaceContext {
    var members: [Int]
    var checkLag: Bool
    var formerLeader: Int?
    var myWal: Int64
    /// When the polls went out (the race's log says how long they took).
    var started: Nanos = 0
}

extension PatroniNode {
    var syncModeActive: Bool { config.synchronousMode != .off && cluster.sync != nil }
    /// `quorum_commit_mode_is_active`.
    var quorumActive: Bool { config.synchronousMode == .quorum && cluster.sync != nil }
    /// In the quorum's voting set (`SyncState.members`: the `/sync` leader and its voters).
    func votes(_ m: Int) -> Bool { quorumActive && syncMatches(m, checkLeader: true) }

    /// `SyncState.matches(name, check_leader)`.
    func syncMatches(_ m: Int, checkLeader: Bool) -> Bool {
        guard let s = cluster.sync else { return false }
        return s.standbys.contains(m) || (checkLeader && s.leader == m)
    }

    // MARK: - process_unhealthy_cluster

    mutating func processUnhealthyCluster(_ env: PatroniEnv) -> Outcome {
        // primary_race_backoff (master-only, off by default).
        if !paused && cluster.failover?.candidate == nil && config.primaryRaceBackoff > 0 {
            if raceBackoffStart == 0 { raceBackoffStart = env.now }
            let b = Nanos(config.primaryRaceBackoff) * Time.s
            let left = raceBackoffStart + b - env.now
            let v = pg(env)
            let moved = v.streamingFrom != nil && v.lastOperation > lastWalLsn
            lastWalLsn = v.lastOperation
            if (left > 0 && moved) || left > b - config.loopWaitNs {
                return .done("My (\(name)) wal position moved since last heart beat loop, \(left / Time.s) seconds until leader race")
            }
        }
        return isHealthiestNode(env)
    }

    /// `is_healthiest_node`; may poll peers (then the race continues in `raceDecided`).
    mutating func isHealthiestNode(_ env: PatroniEnv) -> Outcome {
        if env.now - releasedKeyAt < config.ttlNs {
            log(env, "race", .object([("why", "backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily")]))
            return notHealthiest(env)
        }
        if paused && !nofailover, cluster.failover != nil { return manualFailoverNoLeader(env) }
        let v = pg(env)
        if v.starting { return notHealthiest(env) }
        if v.isPrimary {
            // A primary that lost its key (after a freeze) takes it back, unless a newer
            // timeline exists (PR #2787).
            if !paused && v.timeline < cluster.timeline {
                log(env, "race", .object([("why", .string("my timeline \(v.timeline) is behind the cluster timeline \(cluster.timeline)"))]))
                return notHealthiest(env)
            }
            return raceWon(env)
        }
        if paused || nofailover { return notHealthiest(env) }
        if let f = cluster.failover {
            if f.leader != nil && syncModeActive && !syncMatches(node, checkLeader: true) { return notHealthiest(env) }
            return manualFailoverNoLeader(env)
        }
        if !watchdogHealthy {
            log(env, "race", .object([("why", "Watchdog device is not usable")]))
            return notHealthiest(env)
        }
        var known = (oldCluster?.members.map(\.member) ?? []) + cluster.members.map(\.member)
        if config.failsafeMode, let fs = cluster.failsafe {
            if !fs.isEmpty && !fs.contains(node) { return notHealthiest(env) }
            known += fs
        }
        if syncModeActive {
            // In quorum mode a node outside the voters may race too: it needs quorum + 1 votes.
            if config.synchronousMode != .quorum && !syncMatches(node, checkLeader: true) { return notHealthiest(env) }
            known = known.filter { syncMatches($0, checkLeader: true) }
        }
        return startHealthCheck(members: Array(Set(known)).sorted(), checkLag: true, formerLeader: oldCluster?.leader?.member, env)
    }

    /// `_is_healthiest_node`: the lag check against `/status`, then `GET /patroni` on every
    /// other candidate in parallel (2 s timeout, no retries).
    mutating func startHealthCheck(members: [Int], checkLag: Bool, formerLeader: Int?, _ env: PatroniEnv) -> Outcome {
        let v = pg(env)
        let myWal = v.lastOperation
        if checkLag && cluster.optime - myWal > config.maximumLagOnFailover {
            log(env, "race", .object([("why", "My wal position exceeds maximum replication lag"),
                                      ("lag_bytes", .int(cluster.optime - myWal))]))
            return notHealthiest(env)
        }
        if config.checkTimeline, v.timeline < cluster.timeline { return notHealthiest(env) }
        // Quorum commit asks the voters even when they may not promote themselves.
        let peers = members.filter { m in m != node && (votes(m) || !(cluster.member(m)?.nofailover ?? oldCluster?.member(m)?.nofailover ?? false)) }
        raceContext = RaceContext(members: peers, checkLag: checkLag, formerLeader: formerLeader, myWal: myWal, started: env.now)
        if peers.isEmpty { return raceDecided(env) }
        startPolls(peers, .get(.patroni, lag: nil), then: .raceStatuses, env)
        return .waiting
    }

    /// The polls are back: decide.
    mutating func raceDecided(_ env: PatroniEnv) -> Outcome {
        guard let ctx = raceContext else { return notHealthiest(env) }
        raceContext = nil
        let leaderName = syncModeActive ? cluster.sync?.leader : ctx.formerLeader
        // Quorum commit: a voter's answer that it is not ahead is a vote; enough of them prove
        // that no acknowledged commit is missing here.
        var votes = self.votes(node) ? 0 : -1
        var ahead = 0
        var voters: [JSON] = []
        for call in restCalls where ctx.members.contains(call.peer) {
            guard let st = call.status, !st.nofailover, !st.watchdogFailed else { continue }  // unreachable: ignored
            if !st.inRecovery {
                log(env, "race", .object([("why", .string("Primary (\(env.nodeName(call.peer))) is still alive"))]))
                restCalls.removeAll()
                return notHealthiest(env)
            }
            if ctx.myWal < st.walPosition {
                ahead += 1
                if !syncModeActive || cluster.sync?.leader != call.peer {
                    log(env, "race", .object([("why", .string("Wal position of \(env.nodeName(call.peer)) is ahead of my wal position"))]))
                    restCalls.removeAll()
                    return notHealthiest(env)
                }
            } else if st.walPosition > 0 {
                let vote = self.votes(call.peer)
                var low = ctx.myWal == st.walPosition && tags.failoverPriority < st.failoverPriority
                if low && leaderName == call.peer { low = false }
                if low && (!quorumActive || vote) {
                    restCalls.removeAll()
                    return notHealthiest(env)
                }
                if vote {
                    // "Got quorum vote from db2"
                    votes += 1
                    voters.append(.string(env.nodeName(call.peer)))
                }
            }
        }
        if quorumActive, let s = cluster.sync, votes < s.quorum, !(ahead == 0 && s.leader == node) {
            log(env, "race", .object([("why", .string("quorum votes \(max(votes, 0)) of \(s.quorum) needed")), ("quorum_votes", .array(voters))]))
            restCalls.removeAll()
            return notHealthiest(env)
        }
        // "Request failed to db1: GET http://…/patroni": members that gave no answer, and how
        // long the polls took (their 2 s timeout when one does not answer).
        // A member that answered without WAL positions has no PostgreSQL running; one that gave
        // no answer refused, reset or timed out.
        let unusable = restCalls.filter { ctx.members.contains($0.peer) && $0.status == nil }
        let silent = unusable.map { c -> JSON in
            let why = c.httpStatus != 0 ? "answered: PostgreSQL not running" : c.failure == .refused ? "connection refused" : c.failure == .reset ? "connection reset" : "no answer within 2 s"
            return .object([("member", .string(env.nodeName(c.peer))), ("why", .string(why))])
        }
        restCalls.removeAll()
        return raceWon(env, polled: ctx.members.count, silent: silent, pollNs: env.now - ctx.started, votes: quorumActive ? voters : nil)
    }

    /// Healthiest: race for the key (`acquire_lock`).
    mutating func raceWon(_ env: PatroniEnv, polled: Int = 0, silent: [JSON] = [], pollNs: Nanos = 0, votes: [JSON]? = nil) -> Outcome {
        var d: [(String, JSON)] = [("result", "healthiest; trying to acquire the leader key")]
        // "Got quorum vote from db2", for each voter that was not ahead.
        if let votes { d.append(("quorum_votes", .array(votes))) }
        if polled > 0 {
            d.append(("polled", .int(Int64(polled))))
            d.append(("no_answer", .array(silent)))
            d.append(("poll_ms", .int(pollNs / Time.ms)))
        }
        log(env, "race", .object(d))
        awaitDCS(.acquire, .acquired, env)
        return .waiting
    }

    mutating func acquired(_ r: DCSResult, _ env: PatroniEnv) -> Outcome {
        guard case .ok(let won) = r else { return .dcsError }
        setIsLeader(won, env)
        if won {
            cluster = dcs.view()
            if let f = cluster.failover {
                dcs.start(.casDelete(dcs.keys.failover, modRevision: f.version), env)
                drainDCS(env)
            }
            return enforcePrimaryRole(msg: "acquired session lock as a leader", promoteMsg: "promoted self to leader by acquiring session lock", env)
        }
        log(env, "race", .object([("result", "Could not take out TTL lock")]))
        return follow(demote: "demoted self after trying and failing to obtain lock",
                      follow: "following new leader after trying and failing to obtain lock", refresh: true, env)
    }

    mutating func notHealthiest(_ env: PatroniEnv) -> Outcome {
        if (cluster.failover?.candidate != nil) || (nofailover && !paused) {
            triggerRewindCheck()
            // "Give a time to somebody to take the leader lock", then follow.
            sleep(2 * Time.s, then: .followAfterSleep(nofailover: nofailover), env)
            return .waiting
        }
        if nofailover {
            return follow(demote: "demoting self because I am not allowed to become primary",
                          follow: "following a different leader because I am not allowed to promote", refresh: true, env)
        }
        return follow(demote: "demoting self because i am not the healthiest node",
                      follow: "following a different leader because i am not the healthiest node", refresh: true, env)
    }

    // MARK: - Manual failover when the leader is gone

    /// `manual_failover_process_no_leader`.
    mutating func manualFailoverNoLeader(_ env: PatroniEnv) -> Outcome {
        guard let f = cluster.failover else { return notHealthiest(env) }
        if let c = f.candidate {
            if c == node { return raceWon(env) }
            if paused { return notHealthiest(env) }
            if config.synchronousMode == .on && !syncMatches(node, checkLeader: true) { return notHealthiest(env) }
            if cluster.hasMember(c) {
                startPolls([c], .get(.patroni, lag: nil), then: .manualCandidateStatus, env)
                return .waiting
            }
        } else if paused {
            return notHealthiest(env)
        }
        return manualFailoverAmongAll(env)
    }

    mutating func manualCandidateChecked(_ env: PatroniEnv) -> Outcome {
        let healthy = restCalls.first.map { $0.status != nil && !($0.status!.nofailover) && !($0.status!.watchdogFailed) } ?? false
        restCalls.removeAll()
        if healthy { return notHealthiest(env) }
        return manualFailoverAmongAll(env)
    }

    mutating func manualFailoverAmongAll(_ env: PatroniEnv) -> Outcome {
        guard let f = cluster.failover else { return notHealthiest(env) }
        if let l = f.leader, l == node {
            return startFailoverPossibleCheck(candidates: failoverCandidates(excludeCandidate: f.candidate != nil), clusterLsn: 0, k: .manualFailoverPossible,
                                              excludeCandidate: f.candidate != nil, env)
        }
        let members = cluster.members.map(\.member).filter { $0 != f.leader && (!syncModeActive || syncMatches($0, checkLeader: false)) }
        return startHealthCheck(members: members, checkLag: false, formerLeader: nil, env)
    }

    mutating func manualFailoverPossibleChecked(_ env: PatroniEnv) -> Outcome {
        // I was the leader: if somebody else can take over, I do not race.
        failoverPossible(env) ? notHealthiest(env) : raceWon(env)
    }

    // MARK: - is_failover_possible

    mutating func startFailoverPossibleCheck(candidates: [Int], clusterLsn: Int64, k: K, excludeCandidate: Bool = false, _ env: PatroniEnv) -> Outcome {
        failoverCheckLsn = clusterLsn
        failoverCheckExcludes = excludeCandidate
        if candidates.isEmpty {
            restCalls.removeAll()
            resumeLater(k, env)
            return .waiting
        }
        startPolls(candidates, .get(.patroni, lag: nil), then: k, env)
        return .waiting
    }

    /// Any polled candidate reachable, allowed to promote, and not lagging (against the given
    /// LSN, or maximum_lag_on_failover against `/status`); under quorum commit, as many as the
    /// `/sync` quorum, unless an operator named the candidate.
    mutating func failoverPossible(_ env: PatroniEnv) -> Bool {
        defer {
            restCalls.removeAll()
            failoverCheckExcludes = false
        }
        var good = 0
        for c in restCalls {
            guard let st = c.status, !st.nofailover, !st.watchdogFailed else { continue }
            if failoverCheckLsn > 0 ? st.walPosition < failoverCheckLsn : cluster.optime - st.walPosition > config.maximumLagOnFailover { continue }
            if config.checkTimeline && st.timeline < cluster.timeline { continue }
            good += 1
        }
        let named = cluster.failover?.candidate != nil && !failoverCheckExcludes
        if quorumActive, !named, let s = cluster.sync, good - 1 < s.quorum {
            log(env, Kind.patroni, .object([("msg", .string("Quorum requirement \(s.quorum) can not be reached"))]))
            return false
        }
        return good > 0
    }

    /// Continues with `k` in a fresh event (no polls were needed).
    mutating func resumeLater(_ k: K, _ env: PatroniEnv) {
        wait = .sleep(k)
        scheduleWaitTimer(after: 0, .sleep, env)
    }

    // MARK: - REST polls

    mutating func startPolls(_ peers: [Int], _ kind: RESTRequest.Kind, then k: K, _ env: PatroniEnv) {
        closeRestCalls(env)
        for p in peers { _ = issueRest(to: p, kind, env) }
        wait = .rest(k)
    }

    /// `self.patroni.request(member, timeout=2, retries=0)`: urllib3 takes the 2 s for the
    /// connect and again for the read (`Timeout(connect=2, read=2)`). A failsafe POST has one
    /// connect retry.
    mutating func issueRest(to p: Int, _ kind: RESTRequest.Kind, _ env: PatroniEnv) -> UInt32 {
        nextRest &+= 1
        var call = RestCall(id: nextRest, peer: p, kind: kind)
        if case .failsafe = kind { call.retriesLeft = 1 }
        call.conn = env.restConnect(from: node, to: p)
        restCalls.append(call)
        env.patroniTimer(node, after: 2 * Time.s, .rest(nextRest))
        return nextRest
    }

    /// Closes what is left of the REST calls (their answers no longer matter).
    mutating func closeRestCalls(_ env: PatroniEnv) {
        for c in restCalls where !c.done { env.restClose(c.conn) }
        restCalls.removeAll()
    }

    /// A REST call's connection connected (send the request), or failed.
    mutating func restConnEvent(_ conn: ConnID, _ e: ConnEvent, _ env: PatroniEnv) {
        guard let i = restCalls.firstIndex(where: { $0.conn == conn }), !restCalls[i].done else { return }
        switch e {
        case .connected:
            restCalls[i].connected = true
            env.restSend(conn, from: node, RESTRequest(conn: conn, id: restCalls[i].id, kind: restCalls[i].kind))
            env.patroniTimer(node, after: 2 * Time.s, .restRead(restCalls[i].id))
        case .refused, .timedOut, .reset:
            if e == .refused && !restCalls[i].connected && restCalls[i].retriesLeft > 0 {
                restCalls[i].retriesLeft -= 1
                restCalls[i].conn = env.restConnect(from: node, to: restCalls[i].peer)
                return
            }
            restCalls[i].failure = e
            restAnswered(restCalls[i].id, nil, env)
        }
    }

    /// A REST call's timer: the connect timeout (before the connection is up) or the read
    /// timeout.
    mutating func restTimedOut(_ id: UInt32, read: Bool, _ env: PatroniEnv) {
        guard let i = restCalls.firstIndex(where: { $0.id == id }), !restCalls[i].done, restCalls[i].connected == read else { return }
        env.restClose(restCalls[i].conn)
        restCalls[i].failure = .timedOut
        restAnswered(id, nil, env)
    }

    /// A poll answered, was refused, or timed out (nil).
    mutating func restAnswered(_ id: UInt32, _ r: RESTResponse?, _ env: PatroniEnv) {
        if let j = job, j.restIDs.contains(id) { jobRestAnswered(id, r, env); return }
        guard let i = restCalls.firstIndex(where: { $0.id == id }), !restCalls[i].done else { return }
        env.restClose(restCalls[i].conn)
        restCalls[i].done = true
        if stopping {
            restCalls[i].status = r?.member
            shutdownPollsAnswered(env)
            return
        }
        if let r {
            restCalls[i].httpStatus = r.status
            restCalls[i].status = r.status == 200 || r.member != nil ? r.member : nil
            restCalls[i].accepted = r.status == 200
        }
        if restCalls.allSatisfy(\.done), case .rest(let k) = wait {
            wait = .none
            resume(k, env)
        }
    }
}
