import SimCore

/// Why PostgreSQL cannot start (a fault on its files, kept across restarts).
public enum StartFailure: UInt8, Sendable, CaseIterable {
    /// A bad value in postgresql.conf: the postmaster exits while reading its configuration.
    case badParameter
    /// The WAL holding the last checkpoint is gone: the startup process gives up.
    case missingWal
    /// pg_wal's filesystem is full: crash recovery cannot write its checkpoint (the server's
    /// own condition, not a scenario reason).
    case walDiskFull

    /// The reasons a scenario's `start_fails` takes.
    public static let faultReasons: [StartFailure] = [.badParameter, .missingWal]

    public var name: String {
        switch self { case .badParameter: "bad_parameter"; case .missingWal: "missing_wal"; case .walDiskFull: "wal_disk_full" }
    }

    /// What the server log says (postgresql.conf parsing in guc-file.l; xlogrecovery.c).
    public var message: String {
        switch self {
        case .badParameter: "FATAL:  configuration file \"postgresql.conf\" contains errors"
        case .missingWal: "PANIC:  could not locate a valid checkpoint record"
        case .walDiskFull: "PANIC:  could not write to file \"pg_wal/xlogtemp\": No space left on device"
        }
    }
}
/// Replication slots are named by a small id: a member's slot by its node id, a permanent one
/// (Patroni's `slots:`) by -1 - its index.
public enum SlotID {
    /// The slot's name as pg_replication_slots shows it (`slot_name_from_member_name`: simctl's
    /// member names are already valid slot names).
    public static func name(_ id: Int16, permanent: [String], member: (Int) -> String) -> String {
        if id >= 0 { return member(Int(id)) }
        let k = Int(-1 - id)
        return k < permanent.count ? permanent[k] : "slot\(k)"
    }
}
