import SimCore
import Recording

extension EtcdMember {
    /// Handles one input, then lets the raft loop make progress.
    public mutating func handle(_ input: EtcdInput, _ env: EtcdEnv) {
        guard running else { return }
        switch input {
        case .timer(let t): timer(t, env)
        case .peer(let m): peer(m, env)
        case .request(let r): request(r, env)
        }
        pump(env)
    }

    mutating func timer(_ t: EtcdTimer, _ env: EtcdEnv) {
        switch t {
        case .tick:
            env.etcdTimer(slot, after: config.heartbeatIntervalNs, .tick)
            // The ticker is read by the same loop that saves to disk: while an fsync blocks it,
            // ticks are dropped except the one the channel buffers (etcdserver/raft.go).
            if busy { missedTick = true } else { doTick(env) }
        case .fsyncDone: fsyncDone(env)
        case .lessorScan:
            env.etcdTimer(slot, after: 500 * Time.ms, .lessorScan)
            scanLeases(env)
        case .requestTimeout(let local): requestTimedOut(local, env)
        case .retry(let local): retry(local, env)
        case .adjustTicks(let attempt): adjustTicks(attempt, env)
        case .removedShutdown:
            // `stopWithDelay(1s, "the member has been permanently removed from the cluster")`
            // after applying its own removal (etcdserver/server.go applyEntries).
            shared.recorder.log(env.now, name, "etcd", "etcd_stopped", .object([("reason", "the member has been permanently removed from the cluster")]))
            finishStop(env)
        case .stopNow: if stopping { finishStop(env) }
        }
    }

    mutating func doTick(_ env: EtcdEnv) {
        lastTickAt = env.now
        let before = raft.state, termBefore = raft.term
        raft.tick(&rng) { shared.newOp(.empty) }
        if raft.state == .leader {
            // Each heartbeat round also confirms pending linearizable reads (ReadIndex).
            readRound += 1
            roundAcks.append((readRound, 0))
            if roundAcks.count > 64 { roundAcks.removeFirst(roundAcks.count - 64) }
        }
        retryWaitingForLeader(env)
        noteStateChange(from: before, termBefore, env)
    }

    /// etcd's `adjustTicks`: once the transport reports more than one active peer, fast-forward
    /// ET−2 ticks so a restarted member does not sit out a whole election timeout; a single-
    /// member cluster forwards ET−1. Retried every 50 ms for up to 5 s.
    mutating func adjustTicks(_ attempt: Int, _ env: EtcdEnv) {
        if shared.names.count == 1 {
            for _ in 0..<max(0, raft.electionTicks - 1) { raft.electionElapsed += 1 }
            return
        }
        if env.etcdActivePeers(slot) > 1 {
            raft.electionElapsed += max(0, raft.electionTicks - 2)
            return
        }
        if attempt < 100 { env.etcdTimer(slot, after: 50 * Time.ms, .adjustTicks(attempt + 1)) }
    }

    /// Every peer message goes out stamped with this member's ID generation.
    func send(_ m: RaftMessage, _ env: EtcdEnv) {
        var out = m
        out.gen = myGen
        env.etcdPeerSend(from: slot, to: Int(m.to), out)
    }

    mutating func peer(_ m: RaftMessage, _ env: EtcdEnv) {
        let from = Int(m.from)
        if from < lastHeard.count { lastHeard[from] = env.now }
        if m.type == .memberRemoved {
            // rafthttp's stream reader got 410 Gone: "the member has been permanently removed
            // from the cluster"; the server stops.
            shared.recorder.log(env.now, name, "etcd", "etcd_stopped", .object([("reason", "the member has been permanently removed from the cluster")]))
            finishStop(env)
            return
        }
        if from < removedGen.count, Int(m.gen) <= removedGen[from] {
            // A removed member's message: refuse it (410), so that it stops.
            send(RaftMessage(type: .memberRemoved, from: slot, to: from, term: raft.term), env)
            return
        }
        switch m.type {
        case .leaseRenew: leaseRenewFromPeer(m, env); return
        case .leaseRenewResp: leaseRenewResponse(m, env); return
        case .readIndex: readIndexFromPeer(m, env); return
        case .readIndexResp: readIndexResponse(m, env); return
        default: break
        }
        if removed { return }
        // A snapshot whose state is no longer held (a later one replaced it on the way): the
        // stream failed, and the leader sends another an election timeout later.
        if m.type == .snap, shared.snapshot(UInt32(truncatingIfNeeded: m.ctx)) == nil { return }
        // A member that lost its disk but rejoined under its old id: the leader's heartbeat
        // carries a commit index past its (empty) log, and raft panics (`raftLog.commitTo`).
        if m.type == .heartbeat, m.term >= raft.term, Int(m.commit) > raft.lastIndex {
            let msg = "tocommit(\(m.commit)) is out of range [lastIndex(\(raft.lastIndex))]. Was the raft log corrupted, truncated, or lost?"
            shared.recorder.log(env.now, name, "etcd", "etcd_panic", .object([("message", .string(msg))]))
            running = false
            env.etcdPanicked(slot, msg)
            return
        }
        if m.type == .heartbeatResp, raft.state == .leader, m.term == raft.term, m.ctx > 0,
           let i = roundAcks.firstIndex(where: { $0.round == m.ctx }) {
            roundAcks[i].acks += 1
        }
        let before = raft.state, termBefore = raft.term
        raft.step(m, &rng) { shared.newOp(.empty) }
        // A snapshot raft restored from is saved and applied at once (etcd saves it, with the
        // HardState, before the entries after it; its presence was checked above).
        if let id = raft.snapshotToApply {
            raft.snapshotToApply = nil
            if let s = shared.snapshot(id) { installSnapshot(s, now: env.now, env) }
        }
        noteStateChange(from: before, termBefore, env)
    }

    /// Records elections and step-downs; the lessor demotes on losing leadership.
    mutating func noteStateChange(from before: RaftState, _ termBefore: UInt64, _ env: EtcdEnv) {
        if raft.state == .leader && (before != .leader || raft.term != termBefore) {
            shared.checkLeader(term: raft.term, slot: slot, at: env.now)
            shared.recorder.log(env.now, name, "etcd", Kind.etcdLeader, .object([("term", .int(Int64(raft.term))), ("leader", .string(name))]))
            shared.recorder.count("etcd_elections")
            roundAcks.removeAll()
        }
        if before == .leader && raft.state != .leader {
            let reason = raft.term != termBefore ? "saw a higher term" : "lost quorum (CheckQuorum)"
            shared.recorder.log(env.now, name, "etcd", Kind.etcdStepDown, .object([("term", .int(Int64(termBefore))), ("reason", .string(reason))]))
            demoteLessor()
            failReads(.leaderChanged, env)
        }
        if stopping && raft.state != .leader && before == .leader { finishStop(env) }
    }

    // MARK: - Ready: save, send, apply

    /// The server loop's Ready handling: a leader sends before it saves; a follower saves
    /// (fsync) and only then sends, so that every vote and ack it gives is durable. One fsync
    /// covers everything appended since the last one (group commit). While it runs the loop is
    /// blocked: no ticks, no sends.
    mutating func pump(_ env: EtcdEnv) {
        guard running, !busy else { return }
        attachSnapshots()
        let isLeader = raft.state == .leader
        let needSync = raft.lastIndex + 1 > persistedLen || raft.term != persistedTerm || raft.vote != persistedVote
        if isLeader || !needSync { sendOutbox(env) }
        if needSync {
            busy = true
            persistingLen = raft.lastIndex + 1
            persistingTerm = raft.term
            persistingVote = raft.vote
            if !isLeader {
                heldMsgs.append(contentsOf: raft.outbox)
                raft.outbox.removeAll(keepingCapacity: true)
            }
            env.etcdTimer(slot, after: fsync.sample(&rng) + max(0, fsyncStallUntil - env.now), .fsyncDone)
        }
        persistedCommit = max(persistedCommit, min(raft.committed, persistedLen - 1))
        applyCommitted(now: env.now, replay: false, env: env)
    }

    mutating func fsyncDone(_ env: EtcdEnv) {
        busy = false
        // Never below a snapshot saved while this fsync ran.
        persistedLen = max(min(persistingLen, raft.lastIndex + 1), (durableSnapshot?.index ?? 0) + 1)
        persistedTerm = persistingTerm
        persistedVote = persistingVote
        for m in heldMsgs { send(m, env) }
        heldMsgs.removeAll(keepingCapacity: true)
        if missedTick {
            missedTick = false
            doTick(env)
        }
    }

    mutating func sendOutbox(_ env: EtcdEnv) {
        for var m in raft.outbox {
            if m.type == .heartbeat { m.ctx = readRound }
            send(m, env)
        }
        raft.outbox.removeAll(keepingCapacity: true)
    }

    /// Applies committed entries (a follower only what it has made durable).
    mutating func applyCommitted(now: Nanos, replay: Bool, env: EtcdEnv? = nil) {
        let limit = replay || raft.state == .leader ? raft.committed : min(raft.committed, persistedLen - 1)
        while applied < limit {
            applied += 1
            raft.appliedIndex = applied
            let e = raft.entry(applied)
            if !replay { shared.checkCommitted(index: applied, entry: e, slot: slot, at: now) }
            apply(e, index: applied, now: now, replay: replay, env: env)
        }
        if let env, !replay { answerReads(env) }
        if !replay { maybeSnapshot() }
    }
}
