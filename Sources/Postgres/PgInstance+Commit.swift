import SimCore
import Settings
import Recording

public enum PgInput: Sendable {
    case timer(PgTimer)
    /// A message on one of this server's connections.
    case message(ConnID, PgMessage)
    /// A connection this server opened (walreceiver, base backup) connected, was refused,
    /// timed out, or was reset.
    case conn(ConnID, ConnEvent)
    /// A request from the Patroni on the same host (pg_ctl, a reload, pg_rewind): a local
    /// message, with its own small latency.
    case control(PgControl)
}

/// What Patroni asks of its PostgreSQL (`pg_ctl start|stop|promote`, a reload after it
/// rewrote `primary_conninfo` or `synchronous_standby_names`, pg_rewind, a base backup).
/// Trivially copyable: node numbers as `Int16` (-1: none).
public enum PgControl: Sendable, Equatable {
    case start(asStandby: Bool, upstream: Int16)
    case stop(immediate: Bool)
    case promote
    /// `primary_conninfo` changed: follow another upstream (-1: none).
    case setUpstream(Int16)
    /// `synchronous_standby_names` changed in the configuration (read back with
    /// `PgEnv.pgConfiguredSyncNames` on the reload, as PostgreSQL rereads its file on SIGHUP).
    case reloadSyncNames
    /// pg_rewind from `from` (it connects to it).
    case rewind(from: Int16)
    /// A new base backup from `from` (reinit).
    case reclone(from: Int16)
    /// One of Patroni's queries (the HA cycle's `cluster_info_query`, a REST handler's
    /// `get_postgresql_status`), by Patroni's query id; answered with `PgEnv.pgAnswer`.
    case query(UInt32)
    /// `pg_create_physical_replication_slot(name, true)`, `pg_drop_replication_slot(name)` and
    /// `pg_replication_slot_advance(name, lsn)` from Patroni: a member's slot (its node id)
    /// or a permanent one (-1 - its index).
    case createSlot(Int16)
    case dropSlot(Int16)
    case advanceSlot(Int16, lsn: Int64)
    /// `SELECT pg_wal_replay_pause()` / `pg_wal_replay_resume()` (an operator's psql).
    case replayPause(Bool)

    public var traceName: String {
        switch self {
        case .start: "start"
        case .stop: "stop"
        case .promote: "promote"
        case .setUpstream: "set_upstream"
        case .reloadSyncNames: "reload"
        case .rewind: "rewind"
        case .reclone: "reclone"
        case .query: "query"
        case .replayPause(let p): p ? "replay_pause" : "replay_resume"
        case .createSlot: "create_slot"
        case .dropSlot: "drop_slot"
        case .advanceSlot: "advance_slot"
        }
    }

    public var traceCode: UInt64 {
        switch self {
        case .start(let s, let u): return 1 | (s ? 1 << 4 : 0) | UInt64(UInt16(bitPattern: u)) << 8
        case .stop(let i): return 2 | (i ? 1 << 4 : 0)
        case .promote: return 3
        case .setUpstream(let u): return 4 | UInt64(UInt16(bitPattern: u)) << 8
        case .reloadSyncNames: return 5
        case .rewind(let f): return 6 | UInt64(UInt16(bitPattern: f)) << 8
        case .reclone(let f): return 7 | UInt64(UInt16(bitPattern: f)) << 8
        case .query(let id): return 8 | UInt64(id) << 8
        case .replayPause(let p): return 9 | (p ? 1 << 4 : 0)
        case .createSlot(let id): return 10 | UInt64(UInt16(bitPattern: id)) << 8
        case .dropSlot(let id): return 11 | UInt64(UInt16(bitPattern: id)) << 8
        case .advanceSlot(let id, let lsn): return 12 | UInt64(UInt16(bitPattern: id)) << 8 | UInt64(truncatingIfNeeded: lsn) << 24
        }
    }
}

extension PgInstance {
    public mutating func handle(_ input: PgInput, _ env: PgEnv) {
        switch input {
        case .timer(let t): timer(t, env)
        case .message(let c, let m): message(c, m, env)
        case .conn(let c, let e): connectionEvent(c, e, env)
        case .control(let c): control(c, env)
        }
    }

    mutating func control(_ c: PgControl, _ env: PgEnv) {
        let node = { (n: Int16) -> Int? in n < 0 ? nil : Int(n) }
        switch c {
        case .start(let standby, let up): start(asStandby: standby, upstream: node(up), env)
        case .stop(let immediate): stop(immediate ? .immediate : .fast, env)
        case .promote: promote(env)
        case .setUpstream(let up): setUpstream(node(up), env)
        case .reloadSyncNames: setSyncNames(env.pgConfiguredSyncNames(self.node), env)
        case .rewind(let from): rewind(from: Int(from), env)
        case .reclone(let from): reclone(from: Int(from), fastCheckpoint: false, env)
        case .query(let id):
            // An overloaded server (noise) answers late, with what it knows then; past Patroni's
            // statement_timeout the query is cancelled instead (57014), which Patroni's cycle
            // takes as "Error communicating with PostgreSQL" (`_cluster_info_state_get`).
            if queryDelayNs > 0 {
                let cancelled = queryDelayNs > Self.patroniStatementTimeoutNs
                env.pgTimer(self.node, after: min(queryDelayNs, Self.patroniStatementTimeoutNs), .answerQuery(id, cancelled: cancelled))
            } else {
                env.pgAnswer(self.node, query: id, view(env.now, status: .running))
            }
        case .replayPause(let p): setReplayPaused(p, env)
        case .createSlot(let id): createSlot(id, env)
        case .dropSlot(let id): dropSlot(id, env)
        case .advanceSlot(let id, let lsn): advanceSlot(id, to: lsn)
        }
    }

    mutating func timer(_ t: PgTimer, _ env: PgEnv) {
        switch t {
        // The operation timers: a newer operation cancelled any older one's (`opTimer`).
        case .startupDone: opTimer = .none; if state == .starting { startupDone(env) }
        case .stopDone: opTimer = .none; if state == .stopping { stopDone(env) }
        case .startFailed: opTimer = .none; startFailed(env)
        case .archiveDone: archiveDone(env)
        case .archiveTimeout: archiveTimeout(env)
        case .restorePoll: restorePoll(env)
        case .restoreDone: restoreDone(env)
        case .promoteDone: opTimer = .none; if promoting { promoteDone(env) }
        case .rewindDone: opTimer = .none; rewindDone(env)
        case .recloneDone:
            opTimer = .none
            // The copy is done; ask the source where its WAL ends.
            if pendingSource != nil {
                env.pgSend(backupConn, from: node, .backupEndRequest(requester: Int16(node)), transmitNs: 0)
                setOpTimer(after: 30 * Time.s, .backupTimeout, env)
            }
        case .backupTimeout:
            opTimer = .none
            if pendingSource != nil { backupFailed(.sourceLost, env) }
        case .backupRetry:
            opTimer = .none
            if pendingSource != nil { backupConnect(env) }
        case .execDone(let s): execDone(s, env)
        case .answerQuery(let id, let cancelled): env.pgAnswer(node, query: id, view(env.now, status: cancelled ? .paused : .running))
        case .walFlushDone(let g): if g == flushGen { localFlushDone(env) }
        case .walWriter:
            walWriterArmed = false
            if state == .running && !inRecovery && insertLSN > flushLSN && !flushing { startLocalFlush(env) }
        case .checkpoint:
            guard state == .running else { return }
            // Checkpoints (restartpoints on a standby) bound crash-recovery time, and remove the
            // WAL nothing needs any more.
            checkpointLSN = inRecovery ? replayLSN(env.now) : flushLSN
            removeOldWal(env)
            env.pgTimer(node, after: config.checkpointTimeoutNs, .checkpoint)
        case .standbyFlushDone: standbyFlushDone(env)
        case .applyReached: sendReply(env, requestReply: false)
        case .senderCheck(let e): senderCheck(e, env)
        case .receiverCheck(let e): receiverCheck(e, env)
        case .statusInterval(let e):
            guard let r = receiver, r.epoch == e, r.streaming else { return }
            sendReply(env, requestReply: false)
            env.pgTimer(node, after: config.walReceiverStatusIntervalNs, .statusInterval(epoch: e))
        case .reconnect(let e): if receiver == nil || receiver!.epoch == e { receiver = nil; startReceiver(env) }
        case .senderSend(let e): senderSend(e, env)
        }
    }

    mutating func message(_ conn: ConnID, _ m: PgMessage, _ env: PgEnv) {
        switch m {
        case .startup(let s): sessionStartup(s, conn: conn, env)
        case .query(let s, let id, let bytes, let write): query(s, id: id, bytes: bytes, write: write, env)
        case .cancel(let s): cancel(s, env)
        case .closed(let s, _): sessionGone(s, env)
        case .replStart(let e, let standby, let at): replStart(e, standby: Int(standby), at: at, conn: conn, env)
        case .replAccepted(let e, let f, let tl): replAccepted(e, fork: f, timeline: Int(tl), env)
        case .replRefused(let e, let why): replRefused(e, why, env)
        case .walData(let e, let start, let end, let f, let tl): walData(e, start: start, end: end, fork: f, timeline: Int(tl), env)
        case .keepalive(let e, _, let req): keepalive(e, requestReply: req, env)
        case .standbyReply(let e, let w, let f, let a, let req): standbyReply(e, write: w, flush: f, apply: a, requestReply: req, env)
        case .replBroken(let e): replBroken(e, env)
        case .backupEndRequest:
            if state == .running { env.pgSend(conn, from: node, .backupEndReply(end: position), transmitNs: 0) }
        case .timelineRequest:
            if state == .running { env.pgSend(conn, from: node, .timelineReply(inRecovery: inRecovery, end: durablePosition), transmitNs: 0) }
        case .backupEndReply(let end):
            if pendingSource != nil, state == .starting, !hasData { recloneDone(sourceEnd: end, env) }
        case .timelineReply(_, let end):
            if conn == rewindConn { rewindSourceAnswered(end: end, env) }
        case .ready, .result: break
        }
    }

    // MARK: - Sessions

    /// A new connection's startup packet: refused while starting, shutting down or promoting
    /// ("the database system is starting up" / "shutting down").
    mutating func sessionStartup(_ s: UInt32, conn: ConnID, _ env: PgEnv) {
        guard state == .running else {
            env.pgSend(conn, from: node, .closed(session: s, reason: state == .stopping ? .shuttingDown : .startingUp), transmitNs: 0)
            return
        }
        sessions.append(Session(id: s, conn: conn, query: nil, bytes: 0, write: false))
        env.pgSend(conn, from: node, .ready(session: s), transmitNs: 0)
    }

    /// The client ended its session (or its connection was reset): the backend exits.
    mutating func sessionGone(_ s: UInt32, _ env: PgEnv) {
        for x in sessions where x.id == s { env.pgClose(x.conn) }
        sessions.removeAll { $0.id == s }
        flushWaiters.removeAll { $0.session == s }
        syncWaiters.removeAll { $0.session == s }
    }

    /// Terminates every session (FATAL to each client).
    mutating func closeSessions(_ why: CloseReason, _ env: PgEnv) {
        for s in sessions {
            env.pgSend(s.conn, from: node, .closed(session: s.id, reason: why), transmitNs: 0)
            env.pgClose(s.conn)
        }
        sessions.removeAll()
        flushWaiters.removeAll()
        syncWaiters.removeAll()
    }


    mutating func query(_ s: UInt32, id: UInt32, bytes: Int32, write: Bool, _ env: PgEnv) {
        guard let i = sessions.firstIndex(where: { $0.id == s }) else { return }
        guard state == .running else { return }
        if !write {
            // A read: answered from this server's current (replayed) state.
            let at = WalPosition(fork: fork, lsn: inRecovery ? replayLSN(env.now) : flushLSN)
            env.pgSend(sessions[i].conn, from: node, .result(session: s, id: id, status: .ok, at: at, host: Int16(node)), transmitNs: 0)
            return
        }
        if inRecovery || promoting {
            // A standby (or a demoted, read-only server) refuses: "cannot execute INSERT in a
            // read-only transaction".
            env.pgSend(sessions[i].conn, from: node, .result(session: s, id: id, status: .readOnly, at: .none, host: Int16(node)), transmitNs: 0)
            return
        }
        sessions[i].query = id
        sessions[i].bytes = bytes
        sessions[i].write = true
        env.pgTimer(node, after: config.commitCpuNs, .execDone(session: s))
    }

    /// The transaction reaches COMMIT: its commit record is inserted into the WAL; then,
    /// depending on `synchronous_commit`, it waits for the local flush and for the synchronous
    /// standbys.
    mutating func execDone(_ s: UInt32, _ env: PgEnv) {
        guard state == .running, !inRecovery, !promoting, let i = sessions.firstIndex(where: { $0.id == s }), let q = sessions[i].query else { return }
        insertLSN += Int64(sessions[i].bytes)
        let lsn = insertLSN
        env.pgCommitted(node, query: q, at: WalPosition(fork: fork, lsn: lsn))
        if config.synchronousCommit == .off {
            // Acknowledged at once; the WAL writer flushes within a few wal_writer_delay.
            reply(i, q, .ok, lsn, env)
            if !walWriterArmed {
                walWriterArmed = true
                env.pgTimer(node, after: config.walWriterDelayNs, .walWriter)
            }
            return
        }
        flushWaiters.append(Waiter(session: s, query: q, lsn: lsn))
        if !flushing { startLocalFlush(env) }
    }

    mutating func reply(_ si: Int, _ q: UInt32, _ status: QueryStatus, _ lsn: Int64, _ env: PgEnv) {
        sessions[si].query = nil
        env.pgSend(sessions[si].conn, from: node, .result(session: sessions[si].id, id: q, status: status, at: WalPosition(fork: fork, lsn: lsn), host: Int16(node)), transmitNs: 0)
    }

    /// Group commit: one fsync covers everything inserted when it starts.
    mutating func startLocalFlush(_ env: PgEnv) {
        if walDiskFull(upTo: insertLSN) { walWriteFailed(env); return }
        flushing = true
        flushingTo = insertLSN
        flushGen &+= 1
        env.pgTimer(node, after: fsyncNs(env.now), .walFlushDone(flushGen))
    }

    mutating func localFlushDone(_ env: PgEnv) {
        flushing = false
        guard state == .running || state == .stopping else { return }
        flushLSN = max(flushLSN, flushingTo)
        // max_wal_size of WAL since the last checkpoint requests one (`XLogCheckpointNeeded`);
        // it is taken at once here (its spreading changes only crash-recovery time).
        if flushLSN - checkpointLSN > config.maxWalSizeBytes {
            checkpointLSN = flushLSN
            removeOldWal(env)
        }
        // Released from the local wait: either done, or on to the synchronous standbys.
        let needSync = !syncNames.isEmpty && config.synchronousCommit >= .remoteWrite
        var k = 0
        while k < flushWaiters.count {
            let w = flushWaiters[k]
            if w.lsn <= flushLSN {
                flushWaiters.remove(at: k)
                if needSync { syncWaiters.append(w) } else if let si = sessions.firstIndex(where: { $0.id == w.session }) { reply(si, w.query, .ok, w.lsn, env) }
                continue
            }
            k += 1
        }
        shipWAL(env)
        archiveReady(env)
        if needSync { releaseSyncWaiters(env) }
        if insertLSN > flushLSN && !flushWaiters.isEmpty { startLocalFlush(env) }
    }

    /// A cancel request (client-side timeout, pg_cancel_backend): a commit waiting for
    /// synchronous replication returns success with a WARNING — committed locally, maybe never
    /// replicated (syncrep.c).
    mutating func cancel(_ s: UInt32, _ env: PgEnv) {
        guard let k = syncWaiters.firstIndex(where: { $0.session == s }) else { return }
        let w = syncWaiters.remove(at: k)
        if let si = sessions.firstIndex(where: { $0.id == s }) {
            env.recorder.log(env.now, env.pgName(node), "postgres", "syncrep_wait_canceled", .object([("lsn", .int(w.lsn))]))
            reply(si, w.query, .okLocalOnly, w.lsn, env)
        }
    }

    // MARK: - Synchronous replication

    /// Loads a new `synchronous_standby_names` (Patroni reloads it). An empty value releases
    /// every waiting commit at once.
    public mutating func setSyncNames(_ ssn: SyncStandbyNames, _ env: PgEnv) {
        syncNames = ssn
        refreshSyncPriorities()
        guard state == .running else { return }
        if ssn.isEmpty {
            let waiting = syncWaiters
            syncWaiters.removeAll()
            for w in waiting { if let si = sessions.firstIndex(where: { $0.id == w.session }) { reply(si, w.query, .ok, w.lsn, env) } }
        } else {
            releaseSyncWaiters(env)
        }
    }

    /// The walsenders currently counted as synchronous (by epoch), per the method:
    /// FIRST n: the n streaming standbys listed with the best priority; ANY n: every listed
    /// streaming standby.
    func syncSet() -> [UInt32] {
        senders.indices.filter { isSync($0) }.map { senders[$0].epoch }
    }

    /// Each walsender's place in `synchronous_standby_names` (0: not listed), recomputed when
    /// either changes so that the commit path never compares names.
    mutating func refreshSyncPriorities() {
        for i in senders.indices { senders[i].syncPriority = syncNames.priority(of: senders[i].name) ?? 0 }
    }

    /// Whether walsender `i` counts as synchronous: streaming and listed; for FIRST n, also
    /// among the n best (priority, then standby) of those. Allocation-free: it runs on every
    /// standby reply.
    func isSync(_ i: Int) -> Bool {
        let s = senders[i]
        guard s.streaming, s.syncPriority > 0, !syncNames.isEmpty else { return false }
        if syncNames.method == .quorum { return true }
        var better = 0
        for o in senders where o.streaming && o.syncPriority > 0 && (o.syncPriority, o.standby) < (s.syncPriority, s.standby) { better += 1 }
        return better < syncNames.num
    }

    /// The position the synchronous standbys confirm for the level, or nil if too few are
    /// streaming (then commits wait: "may never be completed"). FIRST n: the least of the n
    /// chosen; ANY n: the n-th greatest of the listed.
    func confirmed(_ level: SyncCommit) -> Int64? {
        func pos(_ s: Sender) -> Int64 {
            switch level {
            case .remoteWrite: return s.write
            case .remoteApply: return s.apply
            default: return s.flush
            }
        }
        let num = syncNames.num
        var chosen = 0
        var least = Int64.max
        for i in senders.indices where isSync(i) {
            chosen += 1
            least = min(least, pos(senders[i]))
        }
        guard num > 0, chosen >= num else { return nil }
        if syncNames.method != .quorum { return least }
        // The n-th greatest: a position with fewer than n greater and at least n not less.
        for i in senders.indices where isSync(i) {
            let p = pos(senders[i])
            var greater = 0, notLess = 0
            for j in senders.indices where isSync(j) {
                let q = pos(senders[j])
                if q > p { greater += 1 }
                if q >= p { notLess += 1 }
            }
            if greater < num && notLess >= num { return p }
        }
        return nil
    }

    mutating func releaseSyncWaiters(_ env: PgEnv) {
        guard !syncWaiters.isEmpty, let upTo = confirmed(config.synchronousCommit) else { return }
        var k = 0
        while k < syncWaiters.count {
            let w = syncWaiters[k]
            if w.lsn <= upTo {
                syncWaiters.remove(at: k)
                // The promise covers flushed confirmations (`on`, `remote_apply`): a
                // `remote_write` confirmation is in the standby's page cache, which a host
                // crash loses.
                if config.synchronousCommit >= .on { env.pgSyncConfirmed(query: w.query) }
                if let si = sessions.firstIndex(where: { $0.id == w.session }) { reply(si, w.query, .ok, w.lsn, env) }
                continue
            }
            k += 1
        }
    }

    /// Commits waiting for synchronous standbys right now (for tests and reports).
    public var waitingCommits: Int { syncWaiters.count }
}
