import SimCore
import Settings
import Recording

/// Why a server closed a client session.
public enum CloseReason: UInt8, Sendable {
    /// FATAL: the database system is starting up / in recovery before consistency.
    case startingUp
    /// FATAL: the database system is shutting down (or terminating connection due to
    /// administrator command).
    case shuttingDown
    /// The backend died with the server (crash, immediate shutdown).
    case crashed
}

/// What a statement got.
public enum QueryStatus: UInt8, Sendable {
    case ok
    /// ERROR: cannot execute INSERT in a read-only transaction.
    case readOnly
    /// The commit returned after a cancelled synchronous-replication wait: committed locally,
    /// acknowledged to the client with a WARNING, maybe not replicated.
    case okLocalOnly
}

/// Messages a PostgreSQL server exchanges: client sessions and streaming replication.
public enum PgMessage: Sendable {
    // Client protocol, on the session's connection (from a client, or a proxy in between).
    case startup(session: UInt32)
    case ready(session: UInt32)
    /// One transaction: a write (INSERT … COMMIT of `bytes` WAL) or a read.
    case query(session: UInt32, id: UInt32, bytes: Int32, write: Bool)
    case cancel(session: UInt32)
    case result(session: UInt32, id: UInt32, status: QueryStatus, at: WalPosition, host: Int16)
    case closed(session: UInt32, reason: CloseReason)
    // Streaming replication (`epoch` names one walsender/walreceiver connection).
    case replStart(epoch: UInt32, standby: Int16, at: WalPosition)
    case replAccepted(epoch: UInt32, fork: UInt32, timeline: Int32)
    case replRefused(epoch: UInt32, reason: ReplRefusal)
    case walData(epoch: UInt32, start: Int64, end: Int64, fork: UInt32, timeline: Int32)
    case keepalive(epoch: UInt32, end: Int64, replyRequested: Bool)
    case standbyReply(epoch: UInt32, write: Int64, flush: Int64, apply: Int64, replyRequested: Bool)
    /// The walreceiver (or walsender) ended the connection (its FIN).
    case replBroken(epoch: UInt32)
    /// The end of a base backup: the source reports where its WAL stands (`BASE_BACKUP`'s end
    /// position), which the new copy starts from.
    case backupEndRequest(requester: Int16)
    case backupEndReply(end: WalPosition)
    /// Where a server's history stands, asked over a connection to it before a rewind (Patroni's
    /// `pg_is_in_recovery()` and `IDENTIFY_SYSTEM` / `TIMELINE_HISTORY`; pg_rewind's own look
    /// at its source): in recovery or not, and its durable WAL end (the fork identifies the
    /// timeline history).
    case timelineRequest
    case timelineReply(inRecovery: Bool, end: WalPosition)
}

public enum BackupFailure: UInt8, Sendable { case refused, timeout, sourceLost }

public enum ReplRefusal: UInt8, Sendable {
    /// "requested starting point … is not in this server's history": the standby wrote WAL
    /// past the point where the upstream's timeline forked.
    case diverged
    /// The upstream is starting up or shutting down.
    case notReady
    /// "requested WAL segment … has already been removed": the standby asks for WAL older
    /// than anything the upstream kept.
    case walRemoved
}

public enum PgTimer: Sendable, Equatable {
    case startupDone
    case stopDone
    case promoteDone
    case rewindDone
    case recloneDone
    /// A backend finished executing its transaction and reaches COMMIT.
    case execDone(session: UInt32)
    /// One of Patroni's queries answered late (background noise: an overloaded server), or
    /// cancelled by its statement_timeout.
    case answerQuery(UInt32, cancelled: Bool)
    case walFlushDone(UInt32)
    case walWriter
    case checkpoint
    case standbyFlushDone(UInt32)
    case applyReached(Int64)
    case senderCheck(epoch: UInt32)
    case receiverCheck(epoch: UInt32)
    case statusInterval(epoch: UInt32)
    case reconnect(UInt32)
    /// The walsender may send its next chunk of WAL (the previous one left the socket).
    case senderSend(epoch: UInt32)
    /// The source of a base backup did not answer in time.
    case backupTimeout
    /// The next pg_basebackup attempt, 5 s after a failed one.
    case backupRetry
    /// The postmaster (or its startup process) exited during start-up.
    case startFailed
    /// The archiver's `archive_command` finished; `archive_timeout` ran out.
    case archiveDone
    case archiveTimeout
    /// The startup process looks in the archive (restore_command) again; a restore finished.
    case restorePoll
    case restoreDone
}



/// What a server tells the Patroni on its host (its async jobs wait on these).
public enum PgNotification: Sendable, Equatable {
    case started(ok: Bool)
    case stopped
    case promoted
    case crashed
    case rewound(ok: Bool)
    /// pg_rewind could not reach its source (refused, timed out, or it went away).
    case rewindSourceUnreachable
    case recloned(ok: Bool)
}

/// A PostgreSQL server's view of the world.
public protocol PgEnv: AnyObject {
    var now: Nanos { get }
    var recorder: Recorder { get }
    /// A timer; its token cancels it while pending.
    @discardableResult func pgTimer(_ node: Int, after: Nanos, _ t: PgTimer) -> TimerToken
    func pgCancel(_ t: TimerToken)
    /// Sends over a connection this server has: a client session, a replication connection
    /// (either end), a base backup's. `transmitNs`: the time the message occupies it (its size
    /// over the bandwidth).
    func pgSend(_ c: ConnID, from node: Int, _ m: PgMessage, transmitNs: Nanos)
    /// TCP connect from this server's host to another server (the walreceiver, pg_basebackup);
    /// the outcome comes back as `.conn(c, event)`, as does a later reset.
    func pgConnect(from node: Int, to other: Int) -> ConnID
    func pgClose(_ c: ConnID)
    func pgNotify(_ node: Int, _ n: PgNotification)
    /// The answer to Patroni's query `query` (what the server reports right now).
    func pgAnswer(_ node: Int, query: UInt32, _ view: PgView)
    /// The host name of a node (for the timeline and application_name).
    func pgName(_ node: Int) -> String
    /// `synchronous_standby_names` as Patroni last wrote it into this server's configuration.
    func pgConfiguredSyncNames(_ node: Int) -> SyncStandbyNames
    /// Every WAL history of the cluster (this server's timelines among them).
    var walHistory: WalHistory { get }
    /// The WAL archive.
    var walArchive: WalArchive { get }
    /// A client's transaction `query` committed here at `at` (for the record of writes).
    func pgCommitted(_ node: Int, query: UInt32, at: WalPosition)
    /// A synchronous standby confirmed transaction `query`.
    func pgSyncConfirmed(query: UInt32)
}

extension PgMessage {
    /// A 64-bit summary for the simulation's trace hash: the case and its most telling field.
    public var traceCode: UInt64 {
        switch self {
        case .startup(let s): return 1 | UInt64(s) << 8
        case .ready(let s): return 2 | UInt64(s) << 8
        case .query(_, let id, _, _): return 3 | UInt64(id) << 8
        case .cancel(let s): return 4 | UInt64(s) << 8
        case .result(_, let id, let st, _, _): return 5 | UInt64(st.rawValue) << 4 | UInt64(id) << 8
        case .closed(let s, _): return 6 | UInt64(s) << 8
        case .replStart(let e, _, _): return 7 | UInt64(e) << 8
        case .replAccepted(let e, _, _): return 8 | UInt64(e) << 8
        case .replRefused(let e, _): return 9 | UInt64(e) << 8
        case .walData(_, _, let end, _, _): return 10 | UInt64(truncatingIfNeeded: end) << 8
        case .keepalive(let e, _, _): return 11 | UInt64(e) << 8
        case .standbyReply(_, _, let f, _, _): return 12 | UInt64(truncatingIfNeeded: f) << 8
        case .replBroken(let e): return 13 | UInt64(e) << 8
        case .backupEndRequest(let r): return 14 | UInt64(UInt16(bitPattern: r)) << 8
        case .backupEndReply(let p): return 15 | UInt64(truncatingIfNeeded: p.lsn) << 8
        case .timelineRequest: return 16
        case .timelineReply(let r, let p): return 17 | (r ? 1 << 5 : 0) | UInt64(truncatingIfNeeded: p.lsn) << 8
        }
    }
}

