import SimCore
import Settings
import Recording
import Etcd
import Postgres

/// Steps of the synchronous-replication processing on the primary that wait for the DCS.
enum SyncStep {
    case enabled, leaderFixed, votersFixed, shrunk, slept, grown, disabled
    /// The fresh pg_stat_replication after the 2 s wait (`current_state` queries again).
    case sleptRequeried
    /// Quorum commit: `/sync` created, a transition's `/sync` write done, the 0.1 s after a
    /// reload, the 1 s before a restart, and the fresh query after either.
    case quorumEnabled, quorumWritten, quorumReloaded, quorumRestartSlept
    case quorumRequeried(restart: Bool)
}

/// What the processing is working with while it waits.
struct SyncContext {
    var then: String
    var picked: [Int] = []
    var confirmed: [Int] = []
    var voters: [Int] = []
    var common: [Int] = []
    var version: Int64 = 0
    /// Quorum commit: the `/sync` state the resolver starts from (leader, quorum; `voters`
    /// above), its transitions and the next one, and when the processing began.
    var leader: Int = -1
    var quorum: Int = 0
    var plan: [QuorumTransition] = []
    var step: Int = 0
    var started: Nanos = 0
}

extension PatroniNode {
    static let strictPlaceholder = "__patroni_strict_sync_replica_placeholder__"

    var minSynchronousNodes: Int { config.synchronousModeStrict ? 1 : 0 }

    /// `process_sync_replication`, then `update_cluster_history`, then the cycle's message.
    mutating func processSyncReplication(then msg: String, _ env: PatroniEnv) -> Outcome {
        if config.synchronousMode == .quorum { return processQuorumReplication(then: msg, env) }
        syncContext = SyncContext(then: msg)
        if config.synchronousMode == .off {
            if let s = cluster.sync {
                awaitDCS(.casDelete(dcs.keys.sync, modRevision: s.version), .sync(.disabled), env)
                return .waiting
            }
            return syncDisabled(env)
        }
        guard let s = cluster.sync else {
            // `_maybe_enable_synchronous_mode`: /sync = {leader: me, sync_standby: none}.
            awaitDCS(.cas(dcs.keys.sync, .sync(leader: node, standbys: []), modRevision: 0), .sync(.enabled), env)
            return .waiting
        }
        syncContext!.version = s.version
        syncContext!.voters = s.standbys
        return syncMain(leader: s.leader, env)
    }

    mutating func syncDisabled(_ env: PatroniEnv) -> Outcome {
        // As synchronous mode is off, the user's own synchronous_standby_names applies.
        let user = SyncStandbyNames.parse(env.pgUserSyncNames(node)) ?? .none
        if pg(env).syncNames != user { writeSyncNames(user, env) }
        return updateClusterHistory(env)
    }

    /// The current picks (`SyncHandler.current_state`, `_ReplicaList`): streaming members that
    /// may be synchronous (not `nosync`, which `sync_priority: 0` implies), ordered by higher
    /// `sync_priority`, then the currently synchronous, then higher LSN; members without
    /// `nofailover` before those with it (Patroni sorts twice, stably; one key here).
    func syncState(_ env: PatroniEnv) -> (picked: [Int], confirmed: [Int], ssn: [Int], num: Int) {
        let v = pg(env)
        let cands = syncCandidates(v)
        // maximum_lag_on_syncnode compares with the most advanced replica, or with the
        // primary's own position when there is only one.
        let maxLsn = cands.count > 1 ? cands.map(\.lsn).max() ?? 0 : v.lastOperation
        var picked: [Int] = [], confirmed: [Int] = []
        for c in cands {
            if config.maximumLagOnSyncnode > 0 && maxLsn - c.lsn > config.maximumLagOnSyncnode { continue }
            picked.append(c.standby)
            if c.sync && (c.lsn >= ssnChangedLsn || (cluster.sync?.standbys.contains(c.standby) ?? false)) { confirmed.append(c.standby) }
            if picked.count >= config.synchronousNodeCount { break }
        }
        let ssn = v.syncNames.names.compactMap { n in members.first { env.nodeName($0) == n } }
        return (picked.sorted(), confirmed.sorted(), ssn.sorted(), v.syncNames.num)
    }

    /// `_ReplicaList`: the rows of pg_stat_replication that may become synchronous, best first.
    func syncCandidates(_ v: PgView) -> [(standby: Int, streaming: Bool, sync: Bool, lsn: Int64)] {
        var cands = v.replication.filter { r in
            guard r.streaming, let m = cluster.member(r.standby) else { return false }
            return m.state == .running && !m.nosync
        }
        cands.sort { a, b in
            let ma = cluster.member(a.standby), mb = cluster.member(b.standby)
            let an = ma?.nofailover ?? false, bn = mb?.nofailover ?? false
            if an != bn { return !an }
            let ap = ma?.syncPriority ?? 1, bp = mb?.syncPriority ?? 1
            if ap != bp { return ap > bp }
            if a.sync != b.sync { return a.sync }
            if a.lsn != b.lsn { return a.lsn > b.lsn }
            return a.standby < b.standby
        }
        return cands
    }

    mutating func syncMain(leader: Int, _ env: PatroniEnv) -> Outcome {
        if leader != node {
            // "Inconsistent state of /sync key detected": rewrite it with us as leader.
            awaitDCS(.cas(dcs.keys.sync, .sync(leader: node, standbys: []), modRevision: syncContext!.version), .sync(.leaderFixed), env)
            return .waiting
        }
        return syncAfterLeader(env)
    }

    mutating func syncAfterLeader(_ env: PatroniEnv) -> Outcome {
        let st = syncState(env)
        syncContext!.picked = st.picked
        syncContext!.confirmed = st.confirmed
        let voters = syncContext!.voters
        if st.picked == voters && voters != st.confirmed {
            awaitDCS(.cas(dcs.keys.sync, .sync(leader: node, standbys: st.confirmed), modRevision: syncContext!.version), .sync(.votersFixed), env)
            return .waiting
        }
        return syncAfterVoters(env)
    }

    mutating func syncAfterVoters(_ env: PatroniEnv) -> Outcome {
        let st = syncState(env)
        let ctx = syncContext!
        if handleStrict(st, voters: ctx.voters, env) { return updateClusterHistory(env) }
        if ctx.picked == ctx.voters && ctx.voters == st.ssn && st.num == ctx.picked.count { return updateClusterHistory(env) }
        // Removals go to the DCS first (so that no promotable name is missing from PG's list).
        let common = ctx.voters.filter { ctx.confirmed.contains($0) }
        syncContext!.common = common
        if common != ctx.voters {
            awaitDCS(.cas(dcs.keys.sync, .sync(leader: node, standbys: common), modRevision: ctx.version), .sync(.shrunk), env)
            return .waiting
        }
        return syncSetNames(env)
    }

    /// Additions go to PostgreSQL first, then (once confirmed) to the DCS.
    mutating func syncSetNames(_ env: PatroniEnv) -> Outcome {
        let ctx = syncContext!
        setSyncNames(ctx.picked, num: max(1, ctx.picked.count), env)
        if !ctx.picked.isEmpty && ctx.confirmed != ctx.picked {
            sleep(2 * Time.s, then: .sync(.slept), env)
            return .waiting
        }
        return syncGrow(env)
    }

    mutating func syncGrow(_ env: PatroniEnv) -> Outcome {
        let ctx = syncContext!
        if !ctx.confirmed.isEmpty && ctx.confirmed != ctx.common {
            awaitDCS(.cas(dcs.keys.sync, .sync(leader: node, standbys: ctx.confirmed), modRevision: ctx.version), .sync(.grown), env)
            return .waiting
        }
        return updateClusterHistory(env)
    }

    /// A synchronous step's DCS write (or sleep) finished.
    mutating func syncStep(_ s: SyncStep, _ r: DCSResult?, _ env: PatroniEnv) -> Outcome {
        // etcd3's `set_sync_state_value` and `delete_sync_state` are `@catch_etcd_errors`: a
        // write that fails (retry_timeout ran out, etcd refused) returns False, which
        // `write_sync_state` turns into None, the same answer as a lost compare-and-set. The
        // cycle goes on; the next cycle's own DCS calls find an unreachable etcd.
        let r: DCSResult? = r == .error ? .revision(nil) : r
        var newVersion: Int64? = nil
        if case .revision(let v)? = r { newVersion = v }
        switch s {
        case .enabled:
            guard let v = newVersion else { return updateClusterHistory(env) }
            log(env, "sync", .object([("msg", "Enabled synchronous replication")]))
            syncContext!.version = v
            syncContext!.voters = []
            return syncAfterLeader(env)
        case .leaderFixed:
            guard let v = newVersion else { return updateClusterHistory(env) }
            syncContext!.version = v
            syncContext!.voters = []
            return syncAfterLeader(env)
        case .votersFixed:
            guard let v = newVersion else { return updateClusterHistory(env) }
            syncContext!.version = v
            syncContext!.voters = syncContext!.confirmed
            return syncAfterVoters(env)
        case .shrunk:
            guard let v = newVersion else {
                log(env, "sync", .object([("msg", "Synchronous replication key updated by someone else.")]))
                return updateClusterHistory(env)
            }
            syncContext!.version = v
            return syncSetNames(env)
        case .slept:
            // `_process_multisync_replication`: after `time.sleep(2)`, `current_state` reads
            // pg_stat_replication again; the cycle's first answer is two seconds old.
            requery(then: .sync(.sleptRequeried), env)
            return .waiting
        case .sleptRequeried:
            syncContext!.confirmed = syncState(env).confirmed
            return syncGrow(env)
        case .grown:
            if let v = newVersion {
                syncContext!.version = v
                log(env, "sync", .object([("standbys", .array(syncContext!.confirmed.map { .string(env.nodeName($0)) }))]))
            }
            return updateClusterHistory(env)
        case .disabled:
            return syncDisabled(env)
        case .quorumEnabled, .quorumWritten, .quorumReloaded, .quorumRestartSlept, .quorumRequeried:
            return quorumStep(s, r, env)
        }
    }

    /// `_handle_synchronous_strict_mode`: with too few replication connections in strict mode,
    /// keep synchronous_standby_names at the last `/sync` voters (or a placeholder that matches
    /// nobody), so commits block; in non-strict mode with nobody left, empty it.
    mutating func handleStrict(_ st: (picked: [Int], confirmed: [Int], ssn: [Int], num: Int), voters: [Int], _ env: PatroniEnv) -> Bool {
        if st.picked.count < minSynchronousNodes {
            let num = max(minSynchronousNodes, voters.count)
            if voters != st.ssn || num != st.num {
                if voters.isEmpty {
                    writeSyncNames(SyncStandbyNames(method: .priority, num: 1, names: [Self.strictPlaceholder]), env)
                } else {
                    setSyncNames(voters, num: num, env)
                }
            }
            if !syncStrictActivated {
                log(env, "sync", .object([("msg", "No active replication connections from Patroni members and synchronous_mode_strict is requested. Commits will be delayed.")]))
            }
            syncStrictActivated = true
            return true
        }
        if minSynchronousNodes == 0 && st.picked.isEmpty && voters.isEmpty && !st.ssn.isEmpty {
            writeSyncNames(.none, env)
        }
        syncStrictActivated = false
        return false
    }

    mutating func setSyncNames(_ nodes: [Int], num: Int, _ env: PatroniEnv) {
        let ssn = nodes.isEmpty ? SyncStandbyNames.none
            : SyncStandbyNames(method: .priority, num: min(num, nodes.count), names: nodes.map { env.nodeName($0) })
        if pg(env).syncNames != ssn {
            ssnChangedLsn = pg(env).position.lsn
            writeSyncNames(ssn, env)
        }
    }

    /// `_process_multisync_prepromote`: before promoting, claim `/sync` (strict: keep the old
    /// members, including the former leader, minus me; non-strict: empty), then promote.
    mutating func processSyncPrepromote(msg: String, promoteMsg: String, _ env: PatroniEnv) -> Outcome {
        guard config.synchronousMode != .off else {
            if cluster.sync != nil, let s = cluster.sync {
                dcs.start(.casDelete(dcs.keys.sync, modRevision: s.version), env)
                drainDCS(env)
            }
            return startPromote(promoteMsg, env)
        }
        if config.synchronousMode == .quorum { return quorumPrepromote(promoteMsg: promoteMsg, env) }
        var members: [Int] = []
        if minSynchronousNodes > 0, let s = cluster.sync {
            members = Array(Set(s.standbys + [s.leader])).filter { $0 != node }.sorted()
        }
        syncContext = SyncContext(then: msg, voters: members)
        awaitDCS(.cas(dcs.keys.sync, .sync(leader: node, standbys: members), modRevision: cluster.sync?.version ?? 0),
                 .prepromote(msg: msg, promoteMsg: promoteMsg), env)
        return .waiting
    }

    mutating func prepromoteWritten(_ r: DCSResult, msg: String, promoteMsg: String, _ env: PatroniEnv) -> Outcome {
        // A failed write is None as well (`@catch_etcd_errors`, see `syncStep`).
        guard case .revision(let v?) = r else {
            return .done("Postponing promotion because synchronous replication state was updated by somebody else")
        }
        _ = v
        let members = syncContext?.voters ?? []
        if members.isEmpty {
            if minSynchronousNodes > 0 {
                writeSyncNames(SyncStandbyNames(method: .priority, num: 1, names: [Self.strictPlaceholder]), env)
            } else {
                writeSyncNames(.none, env)
            }
        } else {
            setSyncNames(members, num: max(minSynchronousNodes, 1), env)
        }
        return startPromote(promoteMsg, env)
    }

    /// `update_cluster_history`: a primary on a newer timeline than `/history` records the switch.
    mutating func updateClusterHistory(_ env: PatroniEnv) -> Outcome {
        let msg = syncContext?.then ?? lastCycleMessage
        syncContext = nil
        let v = pg(env)
        if v.isPrimary && v.timeline > 1 && cluster.historyTimeline < v.timeline - 1 {
            awaitDCS(.put(dcs.keys.history, .history(timeline: v.timeline - 1), retry: false), .historyWritten(msg: msg), env)
            return .waiting
        }
        return .done(msg)
    }
}
