import SimCore
import Settings
import Recording

/// What Patroni's queries to its PostgreSQL (`pg_is_in_recovery()`, the WAL positions,
/// `pg_stat_replication`, `SHOW synchronous_standby_names`) and `pg_controldata` answer.
public struct PgView: Sendable {
    public var reachable: Bool       // not paused (a frozen postmaster does not answer queries)
    public var running: Bool
    public var starting: Bool
    public var stopping: Bool
    public var hasData: Bool
    public var inRecovery: Bool
    public var promoting: Bool
    public var timeline: Int
    public var lastOperation: Int64
    public var received: Int64
    public var replayed: Int64
    public var streamingFrom: Int?
    public var upstream: Int?
    public var controlInProduction: Bool
    public var cleanShutdown: Bool
    public var position: WalPosition
    /// pg_stat_replication: standby, streaming, listed as sync, and the LSN in the column the
    /// commits wait for (flush; replay under remote_apply, write under remote_write).
    public var replication: [(standby: Int, streaming: Bool, sync: Bool, lsn: Int64)]
    public var syncNames: SyncStandbyNames
    /// pg_replication_slots: each physical slot's id (see `ReplicationSlot`), whether a
    /// walsender uses it, whether it was invalidated, and its restart_lsn.
    public var slots: [(id: Int16, active: Bool, lost: Bool, restartLsn: Int64)] = []
    /// The size of pg_wal.
    public var walBytes: Int64 = 0
    public init(reachable: Bool, running: Bool, starting: Bool, stopping: Bool, hasData: Bool, inRecovery: Bool, promoting: Bool,
                timeline: Int, lastOperation: Int64, received: Int64, replayed: Int64, streamingFrom: Int?, upstream: Int?,
                controlInProduction: Bool, cleanShutdown: Bool, position: WalPosition,
                replication: [(standby: Int, streaming: Bool, sync: Bool, lsn: Int64)], syncNames: SyncStandbyNames) {
        self.reachable = reachable
        self.running = running
        self.starting = starting
        self.stopping = stopping
        self.hasData = hasData
        self.inRecovery = inRecovery
        self.promoting = promoting
        self.timeline = timeline
        self.lastOperation = lastOperation
        self.received = received
        self.replayed = replayed
        self.streamingFrom = streamingFrom
        self.upstream = upstream
        self.controlInProduction = controlInProduction
        self.cleanShutdown = cleanShutdown
        self.position = position
        self.replication = replication
        self.syncNames = syncNames
    }
    public var isPrimary: Bool { running && !inRecovery }
}

extension PgInstance {
    /// The server as Patroni's queries see it at `now`. `status`: the postmaster process as the
    /// host's kernel sees it (a frozen one does not answer; a dead one leaves only its files).
    public func view(_ now: Nanos, status: ProcessStatus) -> PgView {
        let alive = status != .down
        var v = PgView(reachable: status == .running, running: alive && isRunning, starting: alive && state == .starting && pendingSourceNode == nil,
                      stopping: alive && state == .stopping, hasData: hasData, inRecovery: inRecovery, promoting: promoting,
                      timeline: timeline, lastOperation: lastOperation(now), received: receivedLSN, replayed: replayLSN(now),
                      streamingFrom: streamingFrom, upstream: upstream, controlInProduction: controlInProduction,
                      cleanShutdown: cleanShutdown, position: position,
                      replication: replicationView().map { r in
                          // Patroni sorts and checks sync candidates by the column its commits wait
                          // for (`_ReplicaList.sort_col`): replay for remote_apply, write for
                          // remote_write, flush otherwise.
                          let lsn = config.synchronousCommit == .remoteApply ? r.apply : config.synchronousCommit == .remoteWrite ? r.write : r.flush
                          return (r.standby, r.streaming, r.sync, lsn)
                      }, syncNames: syncNames)
        v.slots = slots.map { ($0.id, slotActive($0.id), $0.lost, $0.restartLsn) }
        v.walBytes = walBytes
        return v
    }
}
