import SimCore
import Settings
import Recording

/// A physical replication slot: it keeps every WAL segment from `restartLsn` on. On disk
/// (pg_replslot), so it survives a crash; a base backup and pg_rewind leave it behind.
public struct ReplicationSlot: Sendable, Equatable {
    /// A member's slot: its node id; a permanent slot: -1 - its index in `permanentSlotNames`.
    public var id: Int16
    public var restartLsn: Int64
    /// Invalidated by `max_slot_wal_keep_size` (wal_status 'lost'): it retains nothing.
    public var lost = false
}

extension PgInstance {
    /// WAL segments are 16 MB (`wal_segment_size`): WAL is removed a whole segment at a time.
    static let walSegmentBytes: Int64 = 16 << 20

    /// The bytes of WAL in pg_wal: from the oldest segment kept to the newest written.
    public var walBytes: Int64 { max(0, (inRecovery ? receivedLSN : max(insertLSN, flushLSN)) - walStart) }

    func walDiskFull(upTo lsn: Int64) -> Bool {
        guard let cap = config.walDiskBytes else { return false }
        return lsn - walStart > cap
    }

    /// The segment file holding `lsn`, as PostgreSQL names it (timeline, then the 4 GB "log"
    /// and the segment within it).
    func walSegmentName(_ lsn: Int64) -> String {
        let seg = lsn / Self.walSegmentBytes
        let perLog = (Int64(1) << 32) / Self.walSegmentBytes
        func hex8(_ v: Int64) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, 8 - s.count)) + s
        }
        return hex8(Int64(timeline)) + hex8(seg / perLog) + hex8(seg % perLog)
    }

    /// The slots a running cluster's member already has at the start.
    public mutating func seedSlots(_ ids: [Int16], at lsn: Int64) {
        slots = ids.prefix(config.maxReplicationSlots).map { ReplicationSlot(id: $0, restartLsn: lsn) }
    }

    func slotName(_ id: Int16, _ env: PgEnv) -> String {
        SlotID.name(id, permanent: config.permanentSlotNames, member: env.pgName)
    }

    /// Whether a walsender streams to this slot's standby now (`active` in pg_replication_slots).
    func slotActive(_ id: Int16) -> Bool { id >= 0 && senders.contains { $0.standby == Int(id) } }

    /// `pg_create_physical_replication_slot(name, true)`: reserves WAL from the current
    /// position on. Refused once `max_replication_slots` are in use.
    mutating func createSlot(_ id: Int16, _ env: PgEnv) {
        guard state == .running, !slots.contains(where: { $0.id == id }) else { return }
        guard slots.count < config.maxReplicationSlots else {
            env.recorder.log(env.now, env.pgName(node), "postgres", "slot_refused",
                             .object([("slot", .string(slotName(id, env))), ("msg", "ERROR:  all replication slots are in use")]))
            return
        }
        let at = inRecovery ? replayLSN(env.now) : flushLSN
        slots.append(ReplicationSlot(id: id, restartLsn: at))
    }

    /// `pg_drop_replication_slot`: refused while a walsender uses it.
    mutating func dropSlot(_ id: Int16, _ env: PgEnv) {
        guard state == .running, !slotActive(id) else { return }
        slots.removeAll { $0.id == id }
    }

    /// Feedback or `pg_replication_slot_advance`: restart_lsn only moves forward, and not past
    /// what this server has.
    mutating func advanceSlot(_ id: Int16, to lsn: Int64) {
        guard let i = slots.firstIndex(where: { $0.id == id }), !slots[i].lost else { return }
        let mine = inRecovery ? receivedLSN : flushLSN
        slots[i].restartLsn = max(slots[i].restartLsn, min(lsn, mine))
    }

    /// At a checkpoint (restartpoint on a standby): `KeepLogSeg` keeps what the last checkpoint,
    /// `wal_keep_size` and every slot need; `InvalidateObsoleteReplicationSlots` first gives up
    /// the slots beyond `max_slot_wal_keep_size`.
    mutating func removeOldWal(_ env: PgEnv) {
        let end = inRecovery ? receivedLSN : flushLSN
        if config.maxSlotWalKeepSizeBytes >= 0 {
            for i in slots.indices where !slots[i].lost && end - slots[i].restartLsn > config.maxSlotWalKeepSizeBytes {
                slots[i].lost = true
                env.recorder.log(env.now, env.pgName(node), "postgres", "slot_invalidated",
                                 .object([("slot", .string(slotName(slots[i].id, env))),
                                          ("msg", .string("invalidating obsolete replication slot \"\(slotName(slots[i].id, env))\"")),
                                          ("restart_lsn", .int(slots[i].restartLsn))]))
            }
        }
        var keep = min(checkpointLSN, end - config.walKeepSizeBytes)
        for s in slots where !s.lost { keep = min(keep, s.restartLsn) }
        let seg = max(0, keep) / Self.walSegmentBytes * Self.walSegmentBytes
        if seg > walStart { walStart = seg }
    }

    /// The primary could not write WAL: "PANIC: could not write to file ... No space left on
    /// device". The postmaster's crash restart fails the same way, so the server is down, with
    /// what was only in memory lost, until space is freed.
    mutating func walWriteFailed(_ env: PgEnv) {
        env.recorder.log(env.now, env.pgName(node), "postgres", "wal_disk_full",
                         .object([("msg", .string("PANIC:  could not write to file \"pg_wal/xlogtemp.\(1000 + node)\": No space left on device")),
                                  ("pg_wal_bytes", .int(walBytes))]))
        let wasWritable = isWritable
        cancelOp(env)
        closeSessions(.crashed, env)
        stopReceiver(env)
        closeSenders(env)
        if wasWritable { writableChanged(false, why: "PANIC: no space left on device", env) }
        promoting = false
        loseMemory(env)
        state = .stopped
        env.recorder.log(env.now, env.pgName(node), "postgres", Kind.pgState, .object([("state", "stopped"), ("mode", "panic")]))
    }
}
