import SimCore
import Recording

/// What an etcd snapshot holds: the applied state at an index (etcd's v3 backend, bbolt: the
/// keys with their revisions, the leases, the membership), with the index and term it is at.
struct EtcdSnapshot {
    var index: Int
    var term: UInt64
    var revision: Int64
    var kv: [KVRecord?]
    var leases: [EtcdMember.LeaseInfo]
    var voters: [Int]
    var removedGen: [Int]
}

extension EtcdMember {
    func snapshotState() -> EtcdSnapshot {
        EtcdSnapshot(index: applied, term: raft.termAt(applied) ?? 0, revision: revision, kv: kv, leases: leases,
                     voters: raft.voters, removedGen: removedGen)
    }

    /// The state each `MsgSnap` raft asked for carries: what this member has applied now (the
    /// index raft wrote, its applied index, is the same).
    mutating func attachSnapshots() {
        for i in raft.outbox.indices where raft.outbox[i].type == .snap && raft.outbox[i].ctx == 0 {
            let s = snapshotState()
            raft.outbox[i].index = Int64(s.index)
            raft.outbox[i].logTerm = s.term
            raft.outbox[i].ctx = Int64(shared.storeSnapshot(s))
        }
    }

    /// etcdserver's `triggerSnapshot`: more than `snapshot-count` entries applied since the
    /// last snapshot, snapshot the applied state (durable, as etcd fsyncs it) and compact the
    /// raft log, keeping `SnapshotCatchUpEntries` for followers a little behind.
    mutating func maybeSnapshot() {
        let last = durableSnapshot?.index ?? 0
        guard applied - last > config.snapshotCount, applied <= persistedLen - 1 else { return }
        durableSnapshot = snapshotState()
        if applied > config.snapshotCatchUpEntries { raft.compact(to: applied - config.snapshotCatchUpEntries) }
    }

    /// The applied state from a snapshot; leases wait for a primary lessor as on a restart.
    mutating func restoreState(_ s: EtcdSnapshot) {
        revision = s.revision
        kv = s.kv
        leases = s.leases.map { var l = $0; l.expiry = .max; l.revokeAt = nil; return l }
        lessorPrimary = false
        raft.voters = s.voters
        removedGen = s.removedGen
        applied = s.index
        raft.appliedIndex = s.index
    }

    /// A follower restored its log from a leader's snapshot: its state becomes the snapshot's,
    /// saved to disk (etcd writes the snapshot and its db before it applies it; the fsync's
    /// time is not modelled), and watch history before it is gone.
    mutating func installSnapshot(_ s: EtcdSnapshot, now: Nanos) {
        restoreState(s)
        history.removeAll()
        durableSnapshot = s
        persistedLen = max(persistedLen, s.index + 1)
        persistedCommit = max(persistedCommit, s.index)
        shared.recorder.log(now, name, "etcd", "etcd_snapshot_applied", .object([("index", .int(Int64(s.index))), ("revision", .int(s.revision))]))
        shared.recorder.count("etcd_snapshots_applied")
    }
}
