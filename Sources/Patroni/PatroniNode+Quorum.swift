import SimCore
import Settings
import Recording
import Etcd
import Postgres

/// `synchronous_mode: quorum` on the primary (`Ha._process_quorum_replication`, Patroni 4.1):
/// `synchronous_standby_names = ANY numsync (...)` and the `/sync` key (leader, voters, quorum)
/// move towards the wanted state one `QuorumStateResolver` transition at a time, each written
/// where it belongs (PostgreSQL, or the DCS by compare-and-set) before the next is taken.
extension PatroniNode {
    func names(_ ids: [Int], _ env: PatroniEnv) -> NameSet { NameSet(ids.map { env.nodeName($0) }) }
    func ids(_ names: NameSet, _ env: PatroniEnv) -> [Int] {
        names.items.compactMap { n in members.first { env.nodeName($0) == n } }
    }

    /// `SyncHandler.current_state` in quorum mode: the standbys listed in
    /// `synchronous_standby_names` (none for `*`), those of them known to have caught up, and
    /// every eligible streaming standby (members with `nofailover` only while fewer than
    /// `synchronous_node_count` are chosen).
    mutating func quorumCurrentState(_ env: PatroniEnv) -> (numsync: Int, sync: [Int], confirmed: [Int], active: [Int]) {
        noteSyncNamesChange(env)
        let v = pg(env)
        let ssn = v.syncNames
        let star = ssn.names.contains("*")
        let listed: [Int] = star || ssn.isEmpty ? [] : ids(NameSet(ssn.names), env)
        let cands = syncCandidates(v)
        // `_process_replica_readiness`: a listed standby in state 'quorum' that reached the
        // primary's position at the change counts as synchronous from then on.
        for c in cands where !quorumReady.contains(c.standby) && listed.contains(c.standby) {
            if c.lsn >= quorumFlushLsn && c.sync { quorumReady.append(c.standby) }
        }
        let maxLsn = cands.count > 1 ? cands.map(\.lsn).max() ?? 0 : v.lastOperation
        var active: [Int] = [], confirmed: [Int] = []
        for c in cands {
            if config.maximumLagOnSyncnode > 0 && maxLsn - c.lsn > config.maximumLagOnSyncnode { continue }
            // Members with nofailover only fill up to the replication factor: a quorum that
            // cannot promote would lower availability.
            let nofailover = cluster.member(c.standby)?.nofailover ?? false
            guard !nofailover || active.count < config.synchronousNodeCount else { continue }
            if quorumReady.contains(c.standby) { confirmed.append(c.standby) }
            active.append(c.standby)
        }
        return (ssn.isEmpty ? 0 : ssn.num, listed.sorted(), confirmed.sorted(), active.sorted())
    }

    /// `_handle_synchronous_standby_names_change`: when the server's value changed, the ready
    /// standbys no longer listed are forgotten, and newly listed ones must reach the primary's
    /// position now.
    mutating func noteSyncNamesChange(_ env: PatroniEnv) {
        let v = pg(env)
        guard quorumSeenSsn != v.syncNames else { return }
        quorumSeenSsn = v.syncNames
        let listed = v.syncNames.names
        quorumReady.removeAll { !listed.contains(env.nodeName($0)) }
        quorumFlushLsn = v.lastOperation
    }

    /// `process_sync_replication` in quorum mode: only on a running primary, and not within a
    /// loop_wait of the first pass after it took the lock (replicas need time to reconnect, or
    /// `/sync` would lose every voter).
    mutating func processQuorumReplication(then msg: String, _ env: PatroniEnv) -> Outcome {
        syncContext = SyncContext(then: msg)
        guard pg(env).isPrimary else { return updateClusterHistory(env) }
        if quorumFirstProcessed != 0 && env.now - quorumFirstProcessed <= config.loopWaitNs {
            return updateClusterHistory(env)
        }
        syncContext!.started = env.now
        guard let s = cluster.sync else {
            // `_maybe_enable_synchronous_mode`.
            awaitDCS(.cas(dcs.keys.sync, .sync(leader: node, standbys: [], quorum: 0), modRevision: 0), .sync(.quorumEnabled), env)
            return .waiting
        }
        syncContext!.leader = s.leader
        syncContext!.quorum = s.quorum
        syncContext!.voters = s.standbys
        syncContext!.version = s.version
        return quorumRound(env)
    }

    /// One run of the resolver on the current state, then its transitions in order.
    mutating func quorumRound(_ env: PatroniEnv) -> Outcome {
        let st = quorumCurrentState(env)
        let ctx = syncContext!
        var r = QuorumStateResolver(leader: env.nodeName(ctx.leader), quorum: ctx.quorum, voters: names(ctx.voters, env),
                                    numsync: st.numsync, sync: names(st.sync, env), numsyncConfirmed: st.confirmed.count,
                                    active: names(st.active, env), syncWanted: config.synchronousNodeCount, leaderWanted: name)
        let plan: [QuorumTransition]
        do {
            plan = try r.transitions()
        } catch {
            // Patroni's run_cycle catches what the resolver raises.
            log(env, "sync", .object([("msg", "Unexpected exception"), ("error", .string(error.message))]))
            syncContext = nil
            return .done("Unexpected exception raised, please report it as a BUG")
        }
        for w in r.warnings { log(env, "sync", .object([("msg", .string(w))])) }
        syncContext!.plan = plan
        syncContext!.step = 0
        return quorumNext(env)
    }

    /// The next transition, unless the processing has used up its loop_wait.
    mutating func quorumNext(_ env: PatroniEnv) -> Outcome {
        let ctx = syncContext!
        var i = ctx.step
        while i < ctx.plan.count {
            if env.now - ctx.started >= config.loopWaitNs { return quorumFinish(env) }
            let t = ctx.plan[i]
            i += 1
            syncContext!.step = i
            switch t.kind {
            case .quorum:
                log(env, "sync", .object([("msg", .string("Setting leader to \(t.leader), quorum to \(t.num) of \(t.names.count) (\(t.names))"))]))
                let leader = ids([t.leader], env).first ?? node
                awaitDCS(.cas(dcs.keys.sync, .sync(leader: leader, standbys: ids(t.names, env), quorum: t.num), modRevision: ctx.version),
                         .sync(.quorumWritten), env)
                return .waiting
            case .sync:
                log(env, "sync", .object([("msg", .string("Setting synchronous replication to \(t.num) of \(t.names.count) (\(t.names))"))]))
                var num = t.num
                if num < minSynchronousNodes {
                    log(env, "sync", .object([("msg", .string("Replication factor \(minSynchronousNodes + 1) requested, but \(num) synchronous standbys available. Commits will be delayed."))]))
                    num = minSynchronousNodes
                }
                if setQuorumNames(ids(t.names, env), num: num, env) {
                    sleep(100 * Time.ms, then: .sync(.quorumReloaded), env)
                    return .waiting
                }
            case .restart:
                break
            }
        }
        // A restart: synchronous_standby_names went from empty to non-empty, and the /sync key
        // may follow sooner than a loop_wait once the new standbys are confirmed.
        guard ctx.plan.last?.kind == .restart, env.now - ctx.started + Time.s < config.loopWaitNs else { return quorumFinish(env) }
        sleep(Time.s, then: .sync(.quorumRestartSlept), env)
        return .waiting
    }

    mutating func quorumFinish(_ env: PatroniEnv) -> Outcome {
        if quorumFirstProcessed == 0 { quorumFirstProcessed = env.now }
        return updateClusterHistory(env)
    }

    /// `set_synchronous_standby_names(sync, num)` in quorum mode: `ANY num (sorted names)`;
    /// no names but num ≥ 1 is `*` (any standby); nothing is empty. True when the value changed
    /// on a running primary and Patroni waits 0.1 s for the reload before reading again.
    mutating func setQuorumNames(_ nodes: [Int], num: Int, _ env: PatroniEnv) -> Bool {
        let star = nodes.isEmpty && num >= 1
        let ssn = star ? SyncStandbyNames(method: .quorum, num: num, names: ["*"])
            : nodes.isEmpty ? SyncStandbyNames.none
            : SyncStandbyNames(method: .quorum, num: num, names: nodes.map { env.nodeName($0) }.sorted())
        guard (writtenSsn ?? pg(env).syncNames) != ssn else { return false }
        writeSyncNames(ssn, env)
        let v = pg(env)
        return v.running && v.isPrimary && !star
    }

    /// Every write of `synchronous_standby_names` (Patroni rewrites postgresql.conf and
    /// reloads): the value is remembered, as Patroni's config object remembers it.
    mutating func writeSyncNames(_ ssn: SyncStandbyNames, _ env: PatroniEnv) {
        // `ConfigHandler.set_synchronous_standby_names`: a changed value on a running server is
        // written and reloaded (`Postgresql.reload`, which calls on_reload).
        let changed = ssn != writtenSsn
        writtenSsn = ssn
        env.pgSetSyncNames(node, ssn)
        if changed && env.pgLocalState(node).running { callback("on_reload", callbackRole, env) }
    }

    /// `process_sync_replication_prepromote` in quorum mode: with `/sync` in force, list its
    /// members except me, so many that any commit the old primary acknowledged is kept
    /// (`len(members) - quorum - 1`, one more if I was not a voter); no `/sync` write.
    mutating func quorumPrepromote(promoteMsg: String, _ env: PatroniEnv) -> Outcome {
        var names: [Int] = [], num = minSynchronousNodes
        if let s = cluster.sync {
            let members = [s.leader] + s.standbys
            num = members.count - s.quorum - 1
            if members.contains(node) { names = members.filter { $0 != node } } else { names = members; num += 1 }
        }
        _ = setQuorumNames(names, num: num, env)
        return startPromote(promoteMsg, env)
    }

    /// A quorum step's DCS write, sleep or query finished.
    mutating func quorumStep(_ s: SyncStep, _ r: DCSResult?, _ env: PatroniEnv) -> Outcome {
        var newVersion: Int64? = nil
        if case .revision(let v)? = r { newVersion = v }
        switch s {
        case .quorumEnabled:
            guard let v = newVersion else {
                log(env, "sync", .object([("msg", "Updating sync state failed")]))
                return updateClusterHistory(env)
            }
            log(env, "sync", .object([("msg", "Enabled synchronous replication")]))
            syncContext!.leader = node
            syncContext!.quorum = 0
            syncContext!.voters = []
            syncContext!.version = v
            return quorumRound(env)
        case .quorumWritten:
            guard let v = newVersion else {
                log(env, "sync", .object([("msg", "Synchronous replication key updated by someone else.")]))
                return quorumFinish(env)
            }
            let t = syncContext!.plan[syncContext!.step - 1]
            syncContext!.version = v
            syncContext!.leader = ids([t.leader], env).first ?? node
            syncContext!.quorum = t.num
            syncContext!.voters = ids(t.names, env)
            return quorumNext(env)
        case .quorumReloaded:
            requery(then: .sync(.quorumRequeried(restart: false)), env)
            return .waiting
        case .quorumRestartSlept:
            requery(then: .sync(.quorumRequeried(restart: true)), env)
            return .waiting
        case .quorumRequeried(let restart):
            noteSyncNamesChange(env)
            return restart ? quorumRound(env) : quorumNext(env)
        default:
            return updateClusterHistory(env)
        }
    }
}
