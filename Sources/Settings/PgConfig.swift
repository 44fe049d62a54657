import SimCore

/// `synchronous_commit` levels (PostgreSQL docs §20.5.1, table 20.1).
public enum SyncCommit: String, Sendable, CaseIterable, Comparable {
    case off, local, remoteWrite = "remote_write", on, remoteApply = "remote_apply"
    var rank: Int {
        switch self { case .off: 0; case .local: 1; case .remoteWrite: 2; case .on: 3; case .remoteApply: 4 }
    }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

/// PostgreSQL settings (real GUC names and defaults) plus the hardware figures the model needs
/// to turn work into time. Every duration the model produces comes from one of these.
public struct PgConfig: Sendable, Equatable {
    // MARK: Real settings
    public var synchronousCommit: SyncCommit = .on
    /// `max_connections` (100): the postmaster listens with a backlog of twice it
    /// (pqcomm.c `ListenServerPort`: `maxconn = MaxConnections * 2`, at most PG_SOMAXCONN),
    /// which the kernel caps at `net.core.somaxconn` (4096).
    public var maxConnections = 100
    /// `synchronous_standby_names` as the user set it (used when Patroni's synchronous_mode is
    /// off; Patroni manages it otherwise).
    public var synchronousStandbyNames: String = ""
    public var walSenderTimeoutNs: Nanos = 60 * Time.s
    public var walReceiverTimeoutNs: Nanos = 60 * Time.s
    public var walReceiverStatusIntervalNs: Nanos = 10 * Time.s
    public var walWriterDelayNs: Nanos = 200 * Time.ms
    public var walRetrieveRetryIntervalNs: Nanos = 5 * Time.s
    public var checkpointTimeoutNs: Nanos = 5 * Time.m
    public var maxWalSizeBytes: Int64 = 1 << 30
    public var checkpointCompletionTarget: Double = 0.9
    /// Patroni sets `wal_keep_size` to 128MB (its CMDLINE_OPTIONS).
    public var walKeepSizeBytes: Int64 = 128 << 20
    /// `max_slot_wal_keep_size` (PostgreSQL 13+): a slot further behind than this is
    /// invalidated at a checkpoint and retains nothing; -1 (the default): no limit.
    public var maxSlotWalKeepSizeBytes: Int64 = -1
    /// `max_replication_slots` (10): the most slots a server holds.
    public var maxReplicationSlots = 10
    /// The free space of the filesystem holding pg_wal (nil: never full). WAL beyond it makes
    /// the primary PANIC and every start fail until space is freed.
    public var walDiskBytes: Int64? = nil
    /// `archive_mode = on`: the primary's archiver runs `archive_command` for each completed
    /// 16 MB segment, one at a time, each taking `archiveCommandNs`; `archive_timeout` (0: off)
    /// archives the current segment after that long without a switch.
    public var archiveMode = false
    public var archiveTimeoutNs: Nanos = 0
    public var archiveCommandNs: Nanos = 200 * Time.ms
    /// `restore_command` is set: a standby that does not stream restores WAL from the archive,
    /// polling every `wal_retrieve_retry_interval`; each segment takes `restoreNs`.
    public var restoreCommand = false
    public var restoreNs: Nanos = 200 * Time.ms
    /// The names of Patroni's permanent slots (`slots:` in the dynamic configuration), by id.
    public var permanentSlotNames: [String] = []
    /// Patroni turns `wal_log_hints` on, which is what lets pg_rewind run.
    public var walLogHints = true

    // MARK: Hardware and workload figures (simulator parameters)
    /// Time a backend spends executing one write transaction before its commit record.
    public var commitCpuNs: Nanos = 200 * Time.us
    /// WAL fdatasync latency on the local disk.
    public var walFsync = Latency(.lognormal(median: 500 * Time.us, sigma: 0.5), floorNs: 100 * Time.us)
    /// WAL replay speed on a standby and during crash recovery (bytes per second).
    public var replayRateBytesPerS: Double = 100 * 1_048_576
    /// Network bandwidth available to WAL streaming and base backups (bytes per second).
    public var bandwidthBytesPerS: Double = 125 * 1_048_576
    /// Size of the data directory, which a base backup copies.
    public var dataSizeBytes: Int64 = 10 << 30
    /// Process start until the postmaster accepts connections (before any WAL replay).
    public var startupNs: Nanos = 1 * Time.s
    /// Fixed part of promotion: end-of-recovery record, timeline switch, history file.
    public var promoteNs: Nanos = 300 * Time.ms
    /// Extra time a fast shutdown spends (its shutdown checkpoint); immediate shutdown skips it.
    public var shutdownCheckpointNs: Nanos = 1 * Time.s
    /// Replay lag a standby adds on top of bandwidth and replay rate (hot-standby conflicts,
    /// recovery_min_apply_delay): 0 by default.
    public var replayDelayNs: Nanos = 0

    public init() {}
}
