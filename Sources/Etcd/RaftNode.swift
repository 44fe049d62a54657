import SimCore

public enum RaftState: UInt8, Sendable { case follower, preCandidate, candidate, leader }

/// A Raft peer following etcd-io/raft (`raft.go`): ticks, randomized election timeout, PreVote,
/// CheckQuorum with leader stickiness ("inLease"), log replication and commit on a quorum of
/// match indexes. Entries are (term, payload id); indexes start at 1 (index 0 is a sentinel).
///
/// It is a pure state machine: inputs are `tick()`, `step(_:)` and `propose(_:)`; outputs are
/// the messages appended to `outbox` and the changes to term, vote, log and commit, which the
/// owning member persists and applies. Log compaction and snapshots as etcd-io/raft has them:
/// the member compacts its log below an index it has applied (`compact`), and a follower that
/// needs entries the leader no longer has gets a `MsgSnap` (the member attaches its applied
/// state) and `restore`s from it. What it deliberately leaves out: flow-control windows,
/// learners and joint consensus.
struct RaftNode {
    let id: Int
    /// Where messages keep the entries they carry (shared by the cluster, append-only).
    let arena: EntryArena
    let electionTicks: Int
    let heartbeatTicks = 1
    var preVote: Bool
    /// etcd hard-codes CheckQuorum on (`etcdserver/raft.go`).
    let checkQuorum = true

    var term: UInt64 = 0
    var vote = -1
    var lead = -1
    var state: RaftState = .follower
    /// The entries from `offset` on: `log[0]` is the entry at `offset`, kept for its term only
    /// (index 0's sentinel, or the last compacted entry: raft's "dummy entry").
    var log: [LogEntry] = [LogEntry(term: 0, gid: 0)]
    var offset = 0
    var committed = 0
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0

    /// Voting members (slots), from the applied membership.
    var voters: [Int]
    var match: [Int]
    var next: [Int]
    var recentActive: [Bool]
    /// Probe state: one append in flight until the follower answers (raft's `ProgressStateProbe`).
    var probing: [Bool]
    var votes: [Int8]
    var outbox: [RaftMessage] = []
    /// Index of the last membership entry not yet applied (raft will not campaign past it).
    var pendingConfIndex = 0
    var appliedIndex = 0
    /// A snapshot this follower restored from and its member must apply (its shared id).
    var snapshotToApply: UInt32? = nil
    /// Leader: per follower, the tick a snapshot was sent at (-1: none in flight; raft's
    /// `ProgressStateSnapshot`, which sends nothing more until the follower answers).
    var snapshotSentTick: [Int]
    var ticks = 0

    init(id: Int, arena: EntryArena, slots: Int, voters: [Int], electionTicks: Int, preVote: Bool) {
        self.id = id
        self.arena = arena
        self.electionTicks = electionTicks
        self.preVote = preVote
        self.voters = voters
        match = Array(repeating: 0, count: slots)
        next = Array(repeating: 1, count: slots)
        recentActive = Array(repeating: false, count: slots)
        probing = Array(repeating: true, count: slots)
        votes = Array(repeating: -1, count: slots)
        snapshotSentTick = Array(repeating: -1, count: slots)
    }

    var lastIndex: Int { offset + log.count - 1 }
    var lastTerm: UInt64 { log[log.count - 1].term }
    func termAt(_ i: Int) -> UInt64? { i >= offset && i <= lastIndex ? log[i - offset].term : nil }
    func entry(_ i: Int) -> LogEntry { log[i - offset] }

    /// Drops the entries before `index` (which must be applied): `MemoryStorage.Compact`.
    mutating func compact(to index: Int) {
        guard index > offset, index <= min(appliedIndex, lastIndex) else { return }
        log.removeFirst(index - offset)
        offset = index
    }

    /// The log is the snapshot's: nothing but its (index, term) (`raftLog.restore`).
    mutating func restoreLog(index: Int, term: UInt64) {
        log = [LogEntry(term: term, gid: 0)]
        offset = index
        committed = index
        appliedIndex = index
    }

    /// Cuts the entries after `index` (a conflicting suffix, or what was not fsynced).
    mutating func truncate(after index: Int) {
        guard index >= offset, index < lastIndex else { return }
        log.removeSubrange((index + 1 - offset)...)
    }
    var quorum: Int { voters.count / 2 + 1 }
    var promotable: Bool { voters.contains(id) }

    // MARK: - State changes

    mutating func resetRandomizedElectionTimeout(_ rng: inout Rng) {
        randomizedElectionTimeout = electionTicks + Int(rng.below(UInt64(electionTicks)))
    }

    mutating func reset(_ newTerm: UInt64, _ rng: inout Rng) {
        if term != newTerm {
            term = newTerm
            vote = -1
        }
        lead = -1
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout(&rng)
        for i in votes.indices { votes[i] = -1 }
        for i in match.indices {
            match[i] = i == id ? lastIndex : 0
            next[i] = lastIndex + 1
            recentActive[i] = i == id
            probing[i] = true
            snapshotSentTick[i] = -1
        }
    }

    mutating func becomeFollower(_ t: UInt64, _ leader: Int, _ rng: inout Rng) {
        reset(t, &rng)
        lead = leader
        state = .follower
    }

    /// PreVote: term and vote unchanged, no leader, no reset of the election timer
    /// (raft.go `becomePreCandidate`).
    mutating func becomePreCandidate() {
        for i in votes.indices { votes[i] = -1 }
        lead = -1
        state = .preCandidate
    }

    mutating func becomeCandidate(_ rng: inout Rng) {
        reset(term + 1, &rng)
        vote = id
        state = .candidate
    }

    /// Returns the payload id of the empty entry it must append (the caller allocates it).
    mutating func becomeLeader(emptyEntryGid: UInt32, _ rng: inout Rng) {
        reset(term, &rng)
        lead = id
        state = .leader
        // A leader commits entries of earlier terms only through one of its own term.
        pendingConfIndex = lastIndex
        appendEntry(emptyEntryGid)
    }

    // MARK: - Ticks

    mutating func tick(_ rng: inout Rng, newGid: () -> UInt32) {
        ticks += 1
        if state == .leader {
            heartbeatElapsed += 1
            electionElapsed += 1
            if electionElapsed >= electionTicks {
                electionElapsed = 0
                if checkQuorum { stepLeaderCheckQuorum(&rng) }
            }
            guard state == .leader else { return }
            if heartbeatElapsed >= heartbeatTicks {
                heartbeatElapsed = 0
                bcastHeartbeat()
            }
        } else {
            electionElapsed += 1
            if promotable && electionElapsed >= randomizedElectionTimeout {
                electionElapsed = 0
                hup(transfer: false, &rng, newGid: newGid)
            }
        }
    }

    mutating func stepLeaderCheckQuorum(_ rng: inout Rng) {
        var active = 0
        for v in voters where v == id || recentActive[v] { active += 1 }
        for v in recentActive.indices where v != id { recentActive[v] = false }
        if active < quorum {
            // "leader stepped down to follower since quorum is not active"
            becomeFollower(term, -1, &rng)
        }
    }

    // MARK: - Campaign

    mutating func hup(transfer: Bool, _ rng: inout Rng, newGid: () -> UInt32) {
        guard state != .leader, promotable else { return }
        // raft refuses to campaign with unapplied committed membership changes.
        if pendingConfIndex > appliedIndex && committed > appliedIndex { return }
        if preVote && !transfer { campaign(pre: true, transfer: false, &rng, newGid: newGid) } else {
            campaign(pre: false, transfer: transfer, &rng, newGid: newGid)
        }
    }

    mutating func campaign(pre: Bool, transfer: Bool, _ rng: inout Rng, newGid: () -> UInt32) {
        let voteTerm: UInt64
        let type: RaftMsgType
        if pre {
            becomePreCandidate()
            voteTerm = term + 1
            type = .preVote
        } else {
            becomeCandidate(&rng)
            voteTerm = term
            type = .vote
        }
        // Our own vote.
        if poll(id, granted: true) == .won {
            if pre { campaign(pre: false, transfer: transfer, &rng, newGid: newGid) } else { becomeLeader(emptyEntryGid: newGid(), &rng) }
            return
        }
        for v in voters where v != id {
            var m = RaftMessage(type: type, from: id, to: v, term: voteTerm)
            m.index = Int64(lastIndex)
            m.logTerm = lastTerm
            m.transfer = transfer
            outbox.append(m)
        }
    }

    enum VoteResult { case pending, won, lost }

    mutating func poll(_ from: Int, granted: Bool) -> VoteResult {
        if votes[from] == -1 { votes[from] = granted ? 1 : 0 }
        var g = 0, r = 0
        for v in voters {
            if votes[v] == 1 { g += 1 } else if votes[v] == 0 { r += 1 }
        }
        if g >= quorum { return .won }
        if r >= quorum || voters.count - r < quorum { return .lost }
        return .pending
    }

    func isUpToDate(lastIndex li: Int64, lastTerm lt: UInt64) -> Bool {
        lt > lastTerm || (lt == lastTerm && Int(li) >= lastIndex)
    }

    // MARK: - Step

    /// etcd-io/raft `Step`: term checks first, then the state's own step function.
    mutating func step(_ m: RaftMessage, _ rng: inout Rng, newGid: () -> UInt32) {
        let from = Int(m.from)
        if m.term == 0 {
            // A local message (raft's `m.Term == 0` case): a proposal forwarded by a follower.
        } else if m.term > term {
            if m.type == .vote || m.type == .preVote {
                // Leader stickiness: a node that heard from a live leader within the election
                // timeout ignores higher-term (pre)votes entirely, unless it is a transfer.
                let inLease = checkQuorum && lead != -1 && electionElapsed < electionTicks
                if !m.transfer && inLease { return }
            }
            if m.type == .preVote {
                // Never change term in response to a PreVote.
            } else if m.type == .preVoteResp && !m.reject {
                // We bump our term once we have a quorum of pre-votes.
            } else if m.type == .app || m.type == .heartbeat {
                becomeFollower(m.term, from, &rng)
            } else {
                becomeFollower(m.term, -1, &rng)
            }
        } else if m.term < term {
            if checkQuorum || preVote, m.type == .heartbeat || m.type == .app {
                // A leader that was partitioned must learn of the higher term, or it never steps
                // down; with PreVote off this is how a rejoining node with a higher term forces
                // the current leader down.
                var r = RaftMessage(type: .appResp, from: id, to: from, term: term)
                r.reject = false
                outbox.append(r)
            } else if m.type == .preVote {
                var r = RaftMessage(type: .preVoteResp, from: id, to: from, term: term)
                r.reject = true
                outbox.append(r)
            }
            return
        }

        switch m.type {
        case .vote, .preVote:
            let canVote = vote == from || (vote == -1 && lead == -1) || (m.type == .preVote && m.term > term)
            if canVote && isUpToDate(lastIndex: m.index, lastTerm: m.logTerm) {
                outbox.append(RaftMessage(type: m.type == .vote ? .voteResp : .preVoteResp, from: id, to: from, term: m.term))
                if m.type == .vote {
                    electionElapsed = 0
                    vote = from
                }
            } else {
                var r = RaftMessage(type: m.type == .vote ? .voteResp : .preVoteResp, from: id, to: from, term: term)
                r.reject = true
                outbox.append(r)
            }
        default:
            switch state {
            case .leader: stepLeader(m, &rng)
            case .candidate, .preCandidate: stepCandidate(m, &rng, newGid: newGid)
            case .follower: stepFollower(m, &rng, newGid: newGid)
            }
        }
    }

    mutating func stepLeader(_ m: RaftMessage, _ rng: inout Rng) {
        let from = Int(m.from)
        guard from < match.count else { return }
        switch m.type {
        case .prop:
            appendEntry(UInt32(m.ctx))
            bcastAppend()
        case .appResp:
            recentActive[from] = true
            snapshotSentTick[from] = -1
            if m.reject {
                // MaybeDecrTo: a rejection at or below what is known to match is stale;
                // otherwise back off to the follower's hint and probe again.
                if Int(m.index) > match[from] {
                    next[from] = max(1, min(Int(m.index), Int(m.rejectHint) + 1))
                    probing[from] = true
                    sendAppend(from)
                }
            } else {
                let idx = Int(m.index)
                let wasProbing = probing[from]
                if idx > match[from] {
                    match[from] = idx
                    next[from] = max(next[from], idx + 1)
                    probing[from] = false
                    if maybeCommit() { bcastAppend() } else if wasProbing || next[from] <= lastIndex { sendAppend(from) }
                } else if next[from] <= lastIndex && wasProbing {
                    probing[from] = false
                    sendAppend(from)
                }
            }
        case .heartbeatResp:
            recentActive[from] = true
            if match[from] < lastIndex {
                probing[from] = true
                sendAppend(from)
            }
        default:
            break
        }
    }

    mutating func stepCandidate(_ m: RaftMessage, _ rng: inout Rng, newGid: () -> UInt32) {
        let from = Int(m.from)
        switch m.type {
        case .prop: break  // dropped: no leader
        case .app:
            becomeFollower(m.term, from, &rng)
            handleAppend(m)
        case .heartbeat:
            becomeFollower(m.term, from, &rng)
            handleHeartbeat(m)
        case .snap:
            becomeFollower(m.term, from, &rng)
            handleSnapshot(m)
        case .voteResp where state == .candidate, .preVoteResp where state == .preCandidate:
            switch poll(from, granted: !m.reject) {
            case .won:
                if state == .preCandidate { campaign(pre: false, transfer: false, &rng, newGid: newGid) } else {
                    becomeLeader(emptyEntryGid: newGid(), &rng)
                    bcastAppend()
                }
            case .lost:
                becomeFollower(term, -1, &rng)
            case .pending: break
            }
        default: break
        }
    }

    mutating func stepFollower(_ m: RaftMessage, _ rng: inout Rng, newGid: () -> UInt32) {
        let from = Int(m.from)
        switch m.type {
        case .prop:
            if lead != -1 {
                var f = m
                f.from = UInt8(id)
                f.to = UInt8(lead)
                f.term = 0
                outbox.append(f)
            }
        case .app:
            electionElapsed = 0
            lead = from
            handleAppend(m)
        case .heartbeat:
            electionElapsed = 0
            lead = from
            handleHeartbeat(m)
        case .snap:
            electionElapsed = 0
            lead = from
            handleSnapshot(m)
        case .timeoutNow:
            // Leadership transfer: campaign at once, skipping PreVote and inLease.
            hup(transfer: true, &rng, newGid: newGid)
        default: break
        }
    }

    // MARK: - Replication

    mutating func appendEntry(_ gid: UInt32) {
        log.append(LogEntry(term: term, gid: gid))
        match[id] = lastIndex
        next[id] = lastIndex + 1
        _ = maybeCommit()
    }

    /// Commits the largest index a quorum of voters has, if it is from the current term.
    mutating func maybeCommit() -> Bool {
        var ms = voters.map { $0 == id ? lastIndex : match[$0] }
        ms.sort(by: >)
        let mci = ms[quorum - 1]
        if mci > committed, termAt(mci) == term {
            committed = mci
            return true
        }
        return false
    }

    mutating func sendAppend(_ to: Int) {
        guard to != id, to < next.count else { return }
        let prev = max(0, min(next[to] - 1, lastIndex))
        if prev < offset {
            sendSnapshot(to)
            return
        }
        var m = RaftMessage(type: .app, from: id, to: to, term: term)
        m.index = Int64(prev)
        m.logTerm = entry(prev).term
        m.commit = Int64(committed)
        if prev < lastIndex {
            let count = min(lastIndex - prev, 64)
            // Replicate optimistically (raft's ProgressStateReplicate); a probe waits.
            if !probing[to] { next[to] = prev + count + 1 }
            m.entries = arena.store(log[(prev + 1 - offset)...(prev + count - offset)])
        }
        outbox.append(m)
    }

    /// `maybeSendAppend` when the entries are compacted away: a `MsgSnap`, whose state the
    /// member attaches (its applied state, at `appliedIndex`). Nothing more goes to that
    /// follower until it answers, or an election timeout later if the snapshot was lost
    /// (etcd reports a failed snapshot stream, `ReportSnapshot`, and the leader probes again).
    mutating func sendSnapshot(_ to: Int) {
        if snapshotSentTick[to] >= 0 && ticks - snapshotSentTick[to] < electionTicks { return }
        snapshotSentTick[to] = ticks
        probing[to] = true
        var m = RaftMessage(type: .snap, from: id, to: to, term: term)
        m.index = Int64(appliedIndex)
        m.logTerm = termAt(appliedIndex) ?? 0
        m.commit = Int64(committed)
        outbox.append(m)
    }

    mutating func bcastAppend() {
        for v in voters where v != id { sendAppend(v) }
    }

    mutating func bcastHeartbeat() {
        for v in voters where v != id {
            var m = RaftMessage(type: .heartbeat, from: id, to: v, term: term)
            m.commit = Int64(min(match[v], committed))
            outbox.append(m)
        }
    }

    /// `handleAppendEntries`: append after a matching (index, term), truncating a conflicting
    /// suffix; otherwise reject with a hint.
    mutating func handleAppend(_ m: RaftMessage) {
        let prev = Int(m.index)
        var r = RaftMessage(type: .appResp, from: id, to: Int(m.from), term: term)
        if prev < committed {
            r.index = Int64(committed)
            outbox.append(r)
            return
        }
        // A message held so long its entries left the arena: dropped, as if lost.
        guard arena.holds(m.entries) else { return }
        if let t = termAt(prev), t == m.logTerm {
            let n = Int(m.entries.count)
            let base = Int(m.entries.start)
            var i = 0
            while i < n {
                let idx = prev + 1 + i
                let e = arena.entry(base + i)
                if idx <= lastIndex {
                    if entry(idx).term != e.term {
                        truncate(after: idx - 1)
                        continue
                    }
                } else {
                    log.append(e)
                }
                i += 1
            }
            let lastNew = prev + n
            committed = max(committed, min(Int(m.commit), lastNew))
            r.index = Int64(lastNew)
        } else {
            r.index = m.index
            r.reject = true
            r.rejectHint = Int64(min(prev, lastIndex))
            r.logTerm = termAt(min(prev, lastIndex)) ?? 0
        }
        outbox.append(r)
    }

    /// `handleSnapshot` / `restore`: a snapshot at or below what is committed is ignored; one
    /// whose (index, term) the log already has only moves the commit; otherwise the log becomes
    /// the snapshot's and the member applies its state. The answer carries the new last index.
    mutating func handleSnapshot(_ m: RaftMessage) {
        let idx = Int(m.index)
        var r = RaftMessage(type: .appResp, from: id, to: Int(m.from), term: term)
        if idx <= committed {
            r.index = Int64(committed)
        } else if termAt(idx) == m.logTerm {
            committed = idx
            r.index = Int64(committed)
        } else {
            restoreLog(index: idx, term: m.logTerm)
            snapshotToApply = UInt32(truncatingIfNeeded: m.ctx)
            r.index = Int64(lastIndex)
        }
        outbox.append(r)
    }

    mutating func handleHeartbeat(_ m: RaftMessage) {
        // The caller (the member) checks for the lost-disk panic before this.
        committed = max(committed, min(Int(m.commit), lastIndex))
        var r = RaftMessage(type: .heartbeatResp, from: id, to: Int(m.from), term: term)
        r.ctx = m.ctx  // the leader's read-confirmation round, echoed
        outbox.append(r)
    }

    /// Proposes a payload. Returns false when it was dropped (no leader known).
    mutating func propose(_ gid: UInt32) -> Bool {
        switch state {
        case .leader:
            appendEntry(gid)
            bcastAppend()
            return true
        case .follower where lead != -1:
            var m = RaftMessage(type: .prop, from: id, to: lead, term: 0)
            m.ctx = Int64(gid)
            outbox.append(m)
            return true
        default:
            return false
        }
    }

    /// Leadership transfer (`MsgTransferLeader` then `MsgTimeoutNow`): the target must be up
    /// to date; the caller picks it.
    mutating func transferLeadership(to t: Int) {
        guard state == .leader, t != id else { return }
        if match[t] == lastIndex {
            outbox.append(RaftMessage(type: .timeoutNow, from: id, to: t, term: term))
        } else {
            sendAppend(t)
        }
    }
}
