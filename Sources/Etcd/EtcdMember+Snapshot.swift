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
        pinOps()
    }

    /// Tells the shared tables which proposals this member's log still holds: a restart
    /// replays the entries after its snapshot however long it was down (etcd keeps them in its
    /// WAL), and a leader sends followers the catch-up entries before it. Entries appended
    /// later have newer ids than these.
    func pinOps() {
        let from = raft.offset + 1
        var low = Int.max
        if from <= raft.lastIndex { for i in from...raft.lastIndex { low = Swift.min(low, Int(raft.entry(i).gid)) } }
        shared.pinOps(slot: slot, from: low)
    }

    /// The applied state from a snapshot; leases wait for a primary lessor as on a restart.
    mutating func restoreState(_ s: EtcdSnapshot) {
        revision = s.revision
        kv = s.kv
        leases = s.leases.map { var l = $0; l.expiry = .max; l.revokeAt = nil; return l }
        lessorPrimary = false
        raft.voters = s.voters
        removedGen = s.removedGen
        // A member whose own removal the snapshot holds refuses to start, as replaying it would.
        removed = !s.voters.contains(slot)
        applied = s.index
        raft.appliedIndex = s.index
    }

    /// A follower restored its log from a leader's snapshot: its state becomes the snapshot's,
    /// saved to disk with the HardState (etcd writes the snapshot and its db before it applies
    /// it; the fsync's time is not modelled). The watch history before it is gone: watchers on
    /// this member are cancelled as compacted (etcd's restored watchable store cannot replay
    /// what the snapshot skipped) and Patroni watches again.
    mutating func installSnapshot(_ s: EtcdSnapshot, now: Nanos, _ env: EtcdEnv) {
        restoreState(s)
        history.removeAll()
        for w in watchers { env.etcdRespond(slot, to: w.client, response(w.client.req, .error(.compacted))) }
        watchers.removeAll()
        durableSnapshot = s
        persistedLen = raft.lastIndex + 1
        persistedCommit = max(persistedCommit, s.index)
        persistedTerm = raft.term
        persistedVote = raft.vote
        // An fsync in flight completes with what is now durable.
        persistingLen = persistedLen
        persistingTerm = persistedTerm
        persistingVote = persistedVote
        pinOps()
        shared.recorder.log(now, name, "etcd", "etcd_snapshot_applied", .object([("index", .int(Int64(s.index))), ("revision", .int(s.revision))]))
        shared.recorder.count("etcd_snapshots_applied")
    }
}
