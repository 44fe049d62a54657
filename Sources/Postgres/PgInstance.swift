import SimCore
import Settings
import Recording

public enum PgState: UInt8, Sendable { case stopped, starting, running, stopping }

/// A PostgreSQL server: WAL, commits, synchronous replication, walsenders and a walreceiver,
/// timelines, promotion, crash recovery, pg_rewind and base backups.
///
/// On disk (survives a crash): the data directory, the WAL up to `flushLSN`, the timeline
/// history (`fork`), the last checkpoint, whether the last shutdown was clean, replication
/// slots. In memory (lost on a crash): WAL inserted but not flushed, WAL received but not
/// flushed on a standby, sessions, commits in flight, walsenders and the walreceiver.
///
/// WAL positions are byte offsets. A history is identified by a fork id (see `WalPosition`):
/// promotion creates one (a new timeline); so does a crash that loses inserted-but-unflushed WAL
/// (the same timeline continues, but the lost bytes' positions are reused by new WAL).
public struct PgInstance {
    public let node: Int
    public var config: PgConfig
    var rng: Rng
    public var walFsync: Latency
    /// Background noise: the disk completes no write before this (a stall), and Patroni's
    /// queries are answered this late (an overloaded server).
    public var fsyncStallUntil: Nanos = 0
    public var queryDelayNs: Nanos = 0
    /// The statement_timeout of Patroni's own connection (`DEFAULT_CONNECTION_OPTIONS`,
    /// patroni/postgresql/connection.py: `-c statement_timeout=2000`).
    static let patroniStatementTimeoutNs: Nanos = 2 * Time.s

    // MARK: Process state
    public internal(set) var state: PgState = .stopped { didSet { updateListening() } }
    public internal(set) var inRecovery = false
    public internal(set) var promoting = false
    /// The pending timer of the current operation (start, stop, promote, rewind, base
    /// backup); a new operation, a stop or a crash cancels it.
    var opTimer = TimerToken.none
    var startAsStandby = false

    // MARK: On disk
    public internal(set) var hasData = true { didSet { updateListening() } }
    public internal(set) var fork: UInt32 = 0
    public internal(set) var timeline = 1
    public internal(set) var flushLSN: Int64 = 0
    public internal(set) var checkpointLSN: Int64 = 0
    public internal(set) var cleanShutdown = true
    /// pg_controldata's state: true after running as a primary ("in production").
    public internal(set) var controlInProduction = false
    /// A fault on the files: every start fails this way until it is repaired (nil).
    public var startFailure: StartFailure? = nil
    /// A fast shutdown cannot finish (a backend or walsender that does not exit): it waits
    /// until this is cleared (`releaseShutdownHang`), or an immediate stop or a kill ends it.
    public internal(set) var shutdownHangs = false
    var shutdownHeld = false
    /// Physical replication slots (at most `max_replication_slots`).
    public internal(set) var slots: [ReplicationSlot] = []
    /// The oldest WAL still in pg_wal (a segment boundary); checkpoints move it forward.
    public internal(set) var walStart: Int64 = 0
    /// archive_status: WAL up to here is archived (on disk); the archiver's command in flight.
    var archivedThrough: Int64 = 0
    var archiving = false
    var archivingTo: Int64 = 0
    var lastArchiveAt: Nanos = 0
    /// The startup process's archive polling, and a restore in flight.
    var restorePolling = false
    var restoring = false
    var restoringTo = WalPosition.none

    // MARK: In memory, primary
    public internal(set) var insertLSN: Int64 = 0
    var flushing = false
    var flushingTo: Int64 = 0
    var flushGen: UInt32 = 0
    var walWriterArmed = false

    // MARK: In memory, standby
    public internal(set) var receivedLSN: Int64 = 0
    var standbyFlushing = false
    var standbyFlushingTo: Int64 = 0
    var replayAt: Int64 = 0
    var replayUpdated: Nanos = 0
    /// `pg_wal_replay_pause()` is in force (shared memory: a restart or a promotion ends it).
    public internal(set) var replayPaused = false
    var flushTimes: [(Nanos, Int64)] = []
    /// `primary_conninfo`'s host (a node), set by Patroni.
    public internal(set) var upstream: Int? = nil
    var receiver: Receiver? = nil
    var epochSeq: UInt32 = 0

    // MARK: In memory, both
    /// `synchronous_standby_names` as loaded.
    public internal(set) var syncNames = SyncStandbyNames.none
    public internal(set) var senders: [Sender] = []
    var sessions: [Session] = []
    var flushWaiters: [Waiter] = []
    var syncWaiters: [Waiter] = []

    public struct Sender: Sendable {
        public var epoch: UInt32
        public var standby: Int
        public var name: String
        public var streaming: Bool
        public var sent: Int64
        public var write: Int64
        public var flush: Int64
        public var apply: Int64
        var lastReply: Nanos
        /// The walreceiver's connection (this server is its listening end).
        var conn: ConnID
        /// When the last chunk handed to the socket has left it (the send loop waits for it).
        var busyUntil: Nanos
        var sendPending = false
        /// Place in `synchronous_standby_names` (0: not listed).
        var syncPriority = 0
    }

    struct Receiver {
        var epoch: UInt32
        var upstream: Int
        var conn: ConnID
        /// The connection is up and START_REPLICATION was sent.
        var connected: Bool
        var streaming: Bool
        var lastRecv: Nanos
        var pingSent: Bool
    }

    struct Session {
        var id: UInt32
        /// The session's connection (the client's, or the proxy's on its behalf).
        var conn: ConnID
        var query: UInt32?
        var bytes: Int32
        var write: Bool
    }

    struct Waiter {
        var session: UInt32
        var query: UInt32
        var lsn: Int64
    }

    public init(node: Int, config: PgConfig, rng: Rng) {
        self.node = node
        self.config = config
        self.rng = rng
        walFsync = config.walFsync
    }

    /// Sets the initial on-disk state (a cluster that has been running: every node has the
    /// same data up to `lsn` on `fork`).
    public mutating func seed(fork: UInt32, timeline: Int, lsn: Int64, primary: Bool) {
        self.fork = fork
        self.timeline = timeline
        flushLSN = lsn
        checkpointLSN = lsn
        insertLSN = lsn
        receivedLSN = lsn
        replayAt = lsn
        controlInProduction = primary
        cleanShutdown = true
        walStart = lsn / Self.walSegmentBytes * Self.walSegmentBytes
        archivedThrough = lsn
    }

    /// A member that does not exist yet: an empty data directory (it is cloned when it joins).
    public mutating func seedEmpty() {
        hasData = false
        flushLSN = 0
        checkpointLSN = 0
        insertLSN = 0
        receivedLSN = 0
        replayAt = 0
        fork = WalPosition.none.fork
        controlInProduction = false
    }

    /// Boots the server already running (the run starts in steady state): a primary, or a
    /// standby streaming from `upstream`.
    public mutating func bootRunning(asStandby: Bool, upstream: Int?, _ env: PgEnv) {
        cancelOp(env)
        state = .starting
        startAsStandby = asStandby
        self.upstream = upstream
        // Running for a while: the checkpointer is somewhere in its cycle.
        startupDone(env, checkpointPhase: Nanos(rng.below(UInt64(max(1, config.checkpointTimeoutNs)))))
    }

    /// Whether the postmaster listens on its port (a connect is accepted, not refused). Stored
    /// (kept by `updateListening`) so that the world reads it after every input without
    /// copying the instance out of its array.
    public private(set) var listening = false

    mutating func updateListening() {
        listening = hasData && (state == .running || state == .stopping || (state == .starting && pendingSource == nil))
    }

    // MARK: - Queries Patroni makes (pg_is_in_recovery, pg_last_wal_*_lsn, pg_controldata)

    public var isRunning: Bool { state == .running }
    /// Accepts writes: running, not in recovery, not promoting.
    public var isWritable: Bool { state == .running && !inRecovery && !promoting }
    public var isPrimary: Bool { state == .running && !inRecovery }
    /// pg_current_wal_flush_lsn() on a primary; on a standby the greater of received and replayed.
    public func lastOperation(_ now: Nanos) -> Int64 {
        if !inRecovery { return flushLSN }
        return max(receivedLSN, replayLSN(now))
    }
    public var position: WalPosition { WalPosition(fork: fork, lsn: inRecovery ? receivedLSN : flushLSN) }
    public var durablePosition: WalPosition { WalPosition(fork: fork, lsn: flushLSN) }
    public var isStreaming: Bool { receiver?.streaming ?? false }
    public var streamingFrom: Int? { receiver.flatMap { $0.streaming ? $0.upstream : nil } }
    /// Replication state as `pg_stat_replication` shows it: (standby, sync state, flush).
    public func replicationView() -> [(standby: Int, name: String, streaming: Bool, sync: Bool, write: Int64, flush: Int64, apply: Int64)] {
        senders.indices.map { i in
            let s = senders[i]
            return (s.standby, s.name, s.streaming, isSync(i), s.write, s.flush, s.apply)
        }
    }

    /// The replay position now: replay runs at `replayRate` towards the WAL flushed
    /// `replayDelay` ago, starting from where it was at the last update.
    public func replayLSN(_ now: Nanos) -> Int64 {
        guard inRecovery else { return flushLSN }
        if replayPaused { return replayAt }
        let target = replayTarget(now)
        if replayAt >= target { return min(replayAt, max(target, replayAt)) }
        // Rounded, not truncated: at `replayTime(n)` after an update exactly n more bytes are
        // replayed (a truncation left remote_apply commits one byte short of their LSN).
        let progressed = Int64((config.replayRateBytesPerS * Time.seconds(now - replayUpdated)).rounded())
        return min(target, replayAt + progressed)
    }

    /// How long replaying `bytes` of WAL takes (rounded up to the nanosecond).
    /// One WAL fsync's time from now: the disk's latency, after any stall in force.
    mutating func fsyncNs(_ now: Nanos) -> Nanos { walFsync.sample(&rng) + max(0, fsyncStallUntil - now) }

    func replayTime(_ bytes: Int64) -> Nanos { Nanos((Double(bytes) / config.replayRateBytesPerS * 1e9).rounded(.up)) }

    func replayTarget(_ now: Nanos) -> Int64 {
        if config.replayDelayNs == 0 { return flushLSN }
        var t = checkpointLSN
        for (at, lsn) in flushTimes where at + config.replayDelayNs <= now { t = max(t, lsn) }
        return max(t, replayAt)
    }

    mutating func foldReplay(_ now: Nanos) {
        replayAt = replayLSN(now)
        replayUpdated = now
    }

    /// `pg_wal_replay_pause()` / `pg_wal_replay_resume()` on a standby: replay stops where it
    /// is while WAL keeps arriving and being flushed; on resume it catches up at the replay rate.
    public mutating func setReplayPaused(_ paused: Bool, _ env: PgEnv) {
        guard state == .running, inRecovery, paused != replayPaused else { return }
        foldReplay(env.now)
        replayPaused = paused
        env.recorder.log(env.now, env.pgName(node), "postgres", paused ? "replay_paused" : "replay_resumed", .object([("lsn", .int(replayAt))]))
        if !paused && config.synchronousCommit == .remoteApply {
            // The apply feedback the waiting commits need, once replay has caught up.
            env.pgTimer(node, after: replayTime(max(0, flushLSN - replayAt)) + config.replayDelayNs, .applyReached(flushLSN))
        }
    }

    // MARK: - Lifecycle

    /// `pg_ctl start`, as a primary or as a standby following `upstream`. A server that did not
    /// shut down cleanly first replays the WAL written since its last checkpoint.
    public mutating func start(asStandby: Bool, upstream: Int?, _ env: PgEnv) {
        guard state == .stopped else { return }
        cancelOp(env)
        guard hasData else {
            env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "start failed"), ("why", "data directory is missing")]))
            env.pgNotify(node, .started(ok: false))
            return
        }
        state = .starting
        startAsStandby = asStandby
        self.upstream = upstream
        if startFailure == nil, walDiskFull(upTo: flushLSN + Self.walSegmentBytes) {
            // Crash recovery ends with a checkpoint, which needs a new 16 MB segment
            // (PreallocXlogFiles): with less free space than that, the start fails.
            startFailure = .walDiskFull
        }
        if let f = startFailure {
            // A bad parameter stops the postmaster at once; a missing checkpoint record is
            // found when recovery begins.
            env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "starting"), ("as", .string(asStandby ? "standby" : "primary"))]))
            setOpTimer(after: f == .badParameter ? 50 * Time.ms : config.startupNs, .startFailed, env)
            return
        }
        let recovery = cleanShutdown ? 0 : Nanos(Double(max(0, flushLSN - checkpointLSN)) / config.replayRateBytesPerS * 1e9)
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState,
                         .object([("state", "starting"), ("as", .string(asStandby ? "standby" : "primary")),
                                  ("crash_recovery_s", .double(Time.seconds(recovery)))]))
        setOpTimer(after: config.startupNs + recovery, .startupDone, env)
    }

    mutating func startupDone(_ env: PgEnv, checkpointPhase: Nanos? = nil) {
        state = .running
        cleanShutdown = false
        checkpointLSN = flushLSN
        inRecovery = startAsStandby
        insertLSN = flushLSN
        receivedLSN = flushLSN
        replayAt = flushLSN
        replayUpdated = env.now
        replayPaused = false
        flushTimes.removeAll()
        if !inRecovery {
            controlInProduction = true
            writableChanged(true, why: "started as primary", env)
        } else {
            controlInProduction = false
            startReceiver(env)
        }
        env.pgTimer(node, after: checkpointPhase ?? config.checkpointTimeoutNs, .checkpoint)
        lastArchiveAt = env.now
        startArchiveLoops(env)
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "running"), ("role", .string(inRecovery ? "standby" : "primary")), ("timeline", .int(Int64(timeline)))]))
        env.pgNotify(node, .started(ok: true))
    }

    /// The start failed: the postmaster is gone, the files are as they were.
    mutating func startFailed(_ env: PgEnv) {
        guard state == .starting, let f = startFailure else { return }
        state = .stopped
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "start failed"), ("why", .string(f.message))]))
        env.pgNotify(node, .started(ok: false))
    }

    /// A stuck backend or walsender holds fast shutdowns (`for:` ends it): a shutdown waiting
    /// on it finishes now.
    public mutating func setShutdownHang(_ on: Bool, _ env: PgEnv) {
        shutdownHangs = on
        if !on && shutdownHeld {
            shutdownHeld = false
            if state == .stopping { setOpTimer(after: config.shutdownCheckpointNs, .stopDone, env) }
        }
    }

    public enum StopMode: Sendable { case fast, immediate }

    /// The current operation's timer (a kernel token: setting a new one cancels the old).
    mutating func setOpTimer(after: Nanos, _ t: PgTimer, _ env: PgEnv) {
        env.pgCancel(opTimer)
        opTimer = env.pgTimer(node, after: after, t)
    }

    mutating func cancelOp(_ env: PgEnv) {
        env.pgCancel(opTimer)
        opTimer = .none
    }

    /// `pg_ctl stop -m fast`: sessions are terminated, a shutdown checkpoint is written and
    /// sent to the streaming standbys before the server exits; `-m immediate`: everything
    /// stops at once, as in a crash (recovery at the next start).
    public mutating func stop(_ mode: StopMode, _ env: PgEnv) {
        switch state {
        case .stopped: env.pgNotify(node, .stopped); return
        // A second fast stop waits with the first; an immediate one (SIGQUIT) ends it.
        case .stopping: if mode == .fast { return }
        shutdownHeld = false
        case .starting:
            cancelOp(env)
            state = .stopped
            env.pgNotify(node, .stopped)
            return
        case .running: break
        }
        let wasWritable = isWritable
        cancelOp(env)
        closeSessions(mode == .fast ? .shuttingDown : .crashed, env)
        stopReceiver(env)
        if wasWritable { writableChanged(false, why: mode == .fast ? "fast shutdown" : "immediate shutdown", env) }
        promoting = false
        if mode == .immediate {
            closeSenders(env)
            loseMemory(env)
            state = .stopped
            env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "stopped"), ("mode", "immediate")]))
            env.pgNotify(node, .stopped)
            return
        }
        state = .stopping
        if shutdownHangs {
            // The postmaster waits for every child to exit before the shutdown checkpoint.
            shutdownHeld = true
            env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "stopping"), ("why", "waiting for a backend that does not exit")]))
            return
        }
        if !inRecovery {
            // The shutdown checkpoint record: flushed, and sent to the standbys.
            insertLSN += 128
            flushLSN = insertLSN
            shipWAL(env)
        }
        setOpTimer(after: config.shutdownCheckpointNs, .stopDone, env)
    }

    mutating func stopDone(_ env: PgEnv) {
        closeSenders(env)
        if inRecovery { foldReplay(env.now); flushLSN = max(flushLSN, min(receivedLSN, flushLSN)) }
        checkpointLSN = inRecovery ? replayAt : flushLSN
        cleanShutdown = true
        state = .stopped
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "stopped"), ("mode", "fast")]))
        env.pgNotify(node, .stopped)
    }

    /// The process died (kill, host crash): memory is gone.
    public mutating func crash(_ env: PgEnv) {
        guard state != .stopped else { return }
        let wasWritable = isWritable
        cancelOp(env)
        if wasWritable { writableChanged(false, why: "crashed", env) }
        sessions.removeAll()
        // The process is gone: its sockets too (the world resets them for the peers).
        senders.removeAll()
        receiver = nil
        backupConn = .none
        rewindConn = .none
        loseMemory(env)
        state = .stopped
        promoting = false
        shutdownHeld = false
    }

    /// What was only in memory is gone. A primary that inserted WAL it never flushed continues,
    /// after recovery, on a new history at the same timeline (the lost bytes' positions will be
    /// reused), so that a lost commit can never be mistaken for one that survived.
    mutating func loseMemory(_ env: PgEnv) {
        if !inRecovery && insertLSN > flushLSN {
            fork = env.walHistory.newFork(parent: fork, switchLsn: flushLSN, timeline: timeline, host: env.pgName(node), at: env.now)
        }
        insertLSN = flushLSN
        receivedLSN = flushLSN
        flushing = false
        archiving = false
        restoring = false
        restorePolling = false
        standbyFlushing = false
        cleanShutdown = false
        flushWaiters.removeAll()
        syncWaiters.removeAll()
        sessions.removeAll()
    }

    /// The data directory is gone (the process must be down already).
    public mutating func loseDisk(_ env: PgEnv) {
        hasData = false
        slots.removeAll()
        walStart = 0
        flushLSN = 0
        checkpointLSN = 0
        insertLSN = 0
        receivedLSN = 0
        fork = WalPosition.none.fork
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "data directory lost")]))
    }

    // MARK: - Promotion

    /// `pg_ctl promote`: stop streaming, replay what was received, switch to timeline + 1 at
    /// the end of it and write the history; then accept writes.
    public mutating func promote(_ env: PgEnv) {
        guard state == .running, inRecovery, !promoting else { return }
        promoting = true
        cancelOp(env)
        stopReceiver(env)
        // A promotion ends a replay pause (PostgreSQL 14+).
        foldReplay(env.now)
        replayPaused = false
        let backlog = max(0, receivedLSN - replayAt)
        let t = config.promoteNs + Nanos(Double(backlog) / config.replayRateBytesPerS * 1e9)
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState,
                         .object([("state", "promoting"), ("replay_backlog_bytes", .int(backlog)), ("takes_s", .double(Time.seconds(t)))]))
        setOpTimer(after: t, .promoteDone, env)
    }

    mutating func promoteDone(_ env: PgEnv) {
        promoting = false
        // Everything received is replayed and becomes part of the new timeline's parent.
        flushLSN = max(flushLSN, receivedLSN)
        let parent = fork
        timeline += 1
        fork = env.walHistory.newFork(parent: parent, switchLsn: flushLSN, timeline: timeline, host: env.pgName(node), at: env.now)
        inRecovery = false
        controlInProduction = true
        insertLSN = flushLSN
        checkpointLSN = flushLSN
        replayAt = flushLSN
        // The new timeline is archived from its first byte (the old one's partial segment is
        // left to the old primary).
        archivedThrough = flushLSN
        restoring = false
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgPromoted, Detail.promoted(timeline: timeline, fork: fork, lsn: flushLSN))
        writableChanged(true, why: "promoted", env)
        env.pgNotify(node, .promoted)
    }

    // MARK: - Rewind and re-clone

    /// pg_rewind from `source`. Needs a stopped server and `wal_log_hints` (Patroni turns it
    /// on); pg_rewind connects to the source (libpq, no connect_timeout: across a cut it waits
    /// for the kernel's SYN retries) and reads where its history stands, which must share an
    /// ancestor with ours. Everything this server wrote after the fork point is discarded; it
    /// ends up on the source's timeline, to be started as its standby.
    public mutating func rewind(from source: Int, _ env: PgEnv) {
        guard state == .stopped, hasData else { env.pgNotify(node, .rewound(ok: false)); return }
        guard config.walLogHints else {
            env.recorder.log(env.now, env.pgName(node), "postgres", "pg_rewind", .object([("ok", false), ("why", "target server needs wal_log_hints or data checksums")]))
            env.pgNotify(node, .rewound(ok: false))
            return
        }
        cancelOp(env)
        state = .starting  // busy: not startable while pg_rewind runs
        pendingSource = (source, .none, 0)
        rewindConn = env.pgConnect(from: node, to: source)
    }

    /// pg_rewind's connection to its source connected (ask where its history stands) or failed.
    mutating func rewindConnEvent(_ e: ConnEvent, _ env: PgEnv) {
        guard let src = pendingSource else { return }
        if e == .connected {
            env.pgSend(rewindConn, from: node, .timelineRequest, transmitNs: 0)
            return
        }
        env.recorder.log(env.now, env.pgName(node), "postgres", "pg_rewind",
                         .object([("ok", false), ("from", .string(env.pgName(src.node))),
                                  ("why", .string(e == .refused ? "could not connect to server: Connection refused" : e == .timedOut ? "could not connect to server: Connection timed out" : "the source went away"))]))
        env.pgClose(rewindConn)
        rewindConn = .none
        pendingSource = nil
        state = .stopped
        env.pgNotify(node, .rewindSourceUnreachable)
    }

    /// The source answered: rewind to its history end.
    mutating func rewindSourceAnswered(end sourceEnd: WalPosition, _ env: PgEnv) {
        guard let src = pendingSource, src.end == .none else { return }
        let source = src.node
        env.pgClose(rewindConn)
        rewindConn = .none
        guard let forkPoint = env.walHistory.divergence(WalPosition(fork: fork, lsn: flushLSN), sourceEnd) else {
            env.recorder.log(env.now, env.pgName(node), "postgres", "pg_rewind", .object([("ok", false), ("why", "no common ancestor")]))
            pendingSource = nil
            state = .stopped
            env.pgNotify(node, .rewound(ok: false))
            return
        }
        let localBytes = max(0, flushLSN - forkPoint), sourceBytes = max(0, sourceEnd.lsn - forkPoint)
        let recovery = cleanShutdown ? 0 : config.startupNs + Nanos(Double(max(0, flushLSN - checkpointLSN)) / config.replayRateBytesPerS * 1e9)
        let t = recovery + 2 * Time.s + Nanos(Double(localBytes + sourceBytes) / config.bandwidthBytesPerS * 1e9)
        pendingSource = (source, sourceEnd, forkPoint)
        env.recorder.log(env.now, env.pgName(node), "postgres", "pg_rewind",
                         .object([("from", .string(env.pgName(source))), ("fork_lsn", .int(forkPoint)), ("discards_bytes", .int(localBytes)), ("takes_s", .double(Time.seconds(t)))]))
        setOpTimer(after: t, .rewindDone, env)
    }

    mutating func rewindDone(_ env: PgEnv) {
        guard let src = pendingSource else { return }
        pendingSource = nil
        if flushLSN > src.forkPoint {
            env.recorder.log(env.now, env.pgName(node), "postgres", "wal_discarded",
                             .object([("timeline", .int(Int64(timeline))), ("from_lsn", .int(src.forkPoint)), ("to_lsn", .int(flushLSN))]))
        }
        fork = src.end.fork
        timeline = env.walHistory.timeline(of: fork) ?? timeline
        flushLSN = src.end.lsn
        checkpointLSN = src.forkPoint
        // pg_rewind skips pg_replslot; the WAL from the fork point on comes from the source.
        slots.removeAll()
        walStart = min(walStart, src.forkPoint / Self.walSegmentBytes * Self.walSegmentBytes)
        cleanShutdown = false  // the rewound cluster replays from the checkpoint before divergence
        controlInProduction = false
        state = .stopped
        env.pgNotify(node, .rewound(ok: true))
    }

    /// A base backup from `source` as Patroni runs it (`Bootstrap.basebackup`): the data
    /// directory is removed, then pg_basebackup connects to the source; a checkpoint there
    /// (spread over checkpoint_completion_target × checkpoint_timeout unless `fast`), then the
    /// data directory over the network. The new data ends at the source's position at the end.
    /// A failed attempt is tried once more after 5 s ("Trying again in 5 seconds").
    public mutating func reclone(from source: Int, fastCheckpoint: Bool, _ env: PgEnv) {
        guard state == .stopped else { env.pgNotify(node, .recloned(ok: false)); return }
        cancelOp(env)
        state = .starting
        hasData = false
        backupAttempt = 0
        backupFast = fastCheckpoint
        pendingSource = (source, .none, 0)
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState,
                         .object([("state", "data directory removed"), ("why", .string("base backup from \(env.pgName(source))"))]))
        backupConnect(env)
    }

    /// pg_basebackup connects to its source (libpq without connect_timeout: across a cut it
    /// waits for the kernel's SYN retries, 127 s).
    mutating func backupConnect(_ env: PgEnv) {
        guard let src = pendingSource else { return }
        backupAttempt += 1
        backupConn = env.pgConnect(from: node, to: src.node)
    }

    /// The base backup's connection is up: the source checkpoints, then the copy runs.
    mutating func backupConnected(_ env: PgEnv) {
        guard let src = pendingSource else { return }
        let checkpoint = backupFast ? config.shutdownCheckpointNs
            : Nanos(config.checkpointCompletionTarget * Double(config.checkpointTimeoutNs))
        let copy = Nanos(Double(config.dataSizeBytes) / config.bandwidthBytesPerS * 1e9)
        env.recorder.log(env.now, env.pgName(node), "postgres", "basebackup",
                         .object([("from", .string(env.pgName(src.node))), ("checkpoint_s", .double(Time.seconds(checkpoint))), ("copy_s", .double(Time.seconds(copy)))]))
        setOpTimer(after: checkpoint + copy, .recloneDone, env)
    }

    mutating func backupFailed(_ why: BackupFailure, _ env: PgEnv) {
        guard let src = pendingSource else { return }
        env.recorder.log(env.now, env.pgName(node), "postgres", "basebackup",
                         .object([("ok", false), ("from", .string(env.pgName(src.node))),
                                  ("why", .string(why == .refused ? "could not connect to server: Connection refused" : why == .timeout ? "could not connect to server: Connection timed out" : "the source went away during the backup")),
                                  ("attempt", .int(Int64(backupAttempt)))]))
        env.pgClose(backupConn)
        backupConn = .none
        cancelOp(env)   // the attempt's timers are void
        if backupAttempt < 2 {
            setOpTimer(after: 5 * Time.s, .backupRetry, env)
            return
        }
        recloneDone(sourceEnd: nil, env)
    }

    /// Completes a base backup with the source's history end at this moment (nil: the source
    /// went away and the backup failed).
    mutating func recloneDone(sourceEnd: WalPosition?, _ env: PgEnv) {
        pendingSource = nil
        env.pgClose(backupConn)
        backupConn = .none
        state = .stopped
        guard let end = sourceEnd, end != .none else {
            env.recorder.log(env.now, env.pgName(node), "postgres", "basebackup", .object([("ok", false)]))
            env.pgNotify(node, .recloned(ok: false))
            return
        }
        hasData = true
        fork = end.fork
        timeline = env.walHistory.timeline(of: fork) ?? 1
        flushLSN = end.lsn
        checkpointLSN = end.lsn
        // pg_basebackup copies neither slots nor old WAL.
        slots.removeAll()
        walStart = end.lsn / Self.walSegmentBytes * Self.walSegmentBytes
        cleanShutdown = true
        controlInProduction = false
        env.pgNotify(node, .recloned(ok: true))
    }

    mutating func writableChanged(_ w: Bool, why: String, _ env: PgEnv) {
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgWritable, Detail.pgWritable(w, fork: fork, timeline: timeline, why: why))
    }

    var backupAttempt = 0
    var backupFast = false
    /// pg_basebackup's connection to its source.
    var backupConn: ConnID = .none
    /// pg_rewind's connection to its source.
    var rewindConn: ConnID = .none

    /// The source of a rewind or base backup in progress.
    var pendingSource: (node: Int, end: WalPosition, forkPoint: Int64)? = nil { didSet { updateListening() } }
    /// The node a rewind or base backup runs from, while it runs.
    public var pendingSourceNode: Int? { pendingSource?.node }
}
