import SimCore
import Recording

extension EtcdMember {
    static let internalClient = ClientRef(proc: UInt32.max, req: 0)

    mutating func newLocal() -> UInt32 {
        nextLocal &+= 1
        return nextLocal
    }

    mutating func addPending(_ client: ClientRef, _ kind: PendingKind, now: Nanos, timeout: Nanos? = nil, _ env: EtcdEnv) -> UInt32 {
        let local = newLocal()
        let t = timeout ?? config.requestTimeoutNs
        pending.append(Pending(local: local, client: client, kind: kind, deadline: now + t, started: now))
        env.etcdTimer(slot, after: t, .requestTimeout(local))
        return local
    }

    /// Handles a client request (etcd's gRPC server, not the raft loop: it is not blocked by a
    /// stalled fsync, though the proposals it makes are).
    mutating func request(_ r: EtcdRequest, _ env: EtcdEnv) {
        switch r.op {
        case .range(let k, let prefix, let serializable):
            if serializable {
                // Served from this member's applied state, however stale.
                env.etcdRespond(slot, to: r.client, response(r.client.req, .range(rangeResult(k, prefix: prefix))))
            } else {
                linearizableRead(r.client, k, prefix: prefix, env)
            }
        case .put(let k, let v, let lease): propose(.put(k, v, lease: lease), r.client, env)
        case .delete(let k): propose(.delete(k), r.client, env)
        case .txn(let t): propose(.txn(t), r.client, env)
        case .leaseGrant(let ttl):
            // The lessor raises a TTL under its minimum (`lessor.Grant`).
            leaseSeq += 1
            let id = LeaseID(slot + 1) << 40 | leaseSeq
            propose(.leaseGrant(id, ttlSeconds: max(ttl, config.minLeaseTTLSeconds)), r.client, env)
        case .leaseRevoke(let id): propose(.leaseRevoke(id), r.client, env)
        case .leaseKeepAlive(let id): keepAlive(id, r.client, env)
        case .watch(let k, let from):
            let prefix = shared.keys.name(k)
            if from > 0, from <= revision, let oldest = history.first?.revision, from < oldest {
                env.etcdRespond(slot, to: r.client, response(r.client.req, .error(.compacted)))
                return
            }
            watchers.removeAll { $0.client.proc == r.client.proc }
            watchers.append((r.client, prefix))
            env.etcdRespond(slot, to: r.client, response(r.client.req, .watchCreated))
            if from > 0 {
                for ev in history where ev.revision >= from && shared.keys.name(ev.key).hasPrefix(prefix) {
                    env.etcdRespond(slot, to: r.client, response(r.client.req, .watchEvent(ev)))
                }
            }
        case .memberList:
            // Served from this member's applied membership (`MemberList` is not linearizable).
            var mask: UInt16 = 0
            for v in raft.voters where v < 16 { mask |= 1 << UInt16(v) }
            env.etcdRespond(slot, to: r.client, response(r.client.req, .members(mask)))
        case .memberRemove(let s):
            guard raft.voters.contains(s) else {
                env.etcdRespond(slot, to: r.client, response(r.client.req, .error(.memberNotFound)))
                return
            }
            // `mayRemoveMember` (strict-reconfig-check): the voters left must still have a
            // started quorum, and the removal must not leave the active members short of one.
            if config.strictReconfigCheck {
                let remaining = raft.voters.filter { $0 != s }
                let started = remaining.filter { $0 == slot || heardRecently($0, env.now) }.count
                let activeAfter = raft.voters.filter { $0 == slot || heardRecently($0, env.now) }.count - (s == slot || heardRecently(s, env.now) ? 1 : 0)
                if remaining.isEmpty || started < remaining.count / 2 + 1 || activeAfter < 1 + (raft.voters.count - 1) / 2 {
                    env.etcdRespond(slot, to: r.client, response(r.client.req, .error(.reconfigRefused)))
                    return
                }
            }
            propose(.removeMember(slot: s, memberID: shared.memberIDs[s]), r.client, env)
        case .memberAdd(let s):
            // `ValidateConfigurationChange`: a member whose peer URLs a current member already
            // uses cannot be added again ("etcdserver: Peer URLs already exists").
            if raft.voters.contains(s) {
                env.etcdRespond(slot, to: r.client, response(r.client.req, .error(.peerURLExists)))
                return
            }
            // `mayAddMember` / `IsReadyToAddVotingMember`: the started voters must be a quorum
            // of the grown cluster (adding a second member to a one-member cluster is allowed).
            if config.strictReconfigCheck {
                let started = raft.voters.filter { $0 == slot || heardRecently($0, env.now) }.count
                let grown = raft.voters.count + 1
                if !(started == 1 && grown == 2) && started < grown / 2 + 1 {
                    env.etcdRespond(slot, to: r.client, response(r.client.req, .error(.reconfigRefused)))
                    return
                }
            }
            let newID = shared.memberIDs[s] &+ 0x10000
            propose(.addMember(slot: s, memberID: newID), r.client, env)
        }
    }

    /// `processInternalRaftRequestOnce`: propose and wait for the entry to be applied here.
    /// With no leader the proposal cannot even enter raft; it waits until one appears or the
    /// request times out (7 s by default). A proposal forwarded to a leader that dies is lost
    /// silently: the client sees a timeout, and the write's fate is unknown.
    mutating func propose(_ op: EntryOp, _ client: ClientRef, _ env: EtcdEnv) {
        if raft.lead == -1 || (stopping && raft.state == .leader) {
            _ = addPending(client, .waitingLeader(op: op), now: env.now, env)
            return
        }
        let gid = shared.newOp(op)
        _ = raft.propose(gid)
        _ = addPending(client, .proposal(gid: gid), now: env.now, env)
    }

    /// Proposals that waited for a leader go in once one is known.
    mutating func retryWaitingForLeader(_ env: EtcdEnv) {
        guard raft.lead != -1 else { return }
        for i in pending.indices {
            if case .waitingLeader(let op) = pending[i].kind {
                let gid = shared.newOp(op)
                _ = raft.propose(gid)
                pending[i].kind = .proposal(gid: gid)
            }
        }
    }

    mutating func completeProposal(gid: UInt32, _ result: EtcdResponse.Result, _ env: EtcdEnv) {
        guard let i = pending.firstIndex(where: { if case .proposal(let g) = $0.kind { return g == gid } else { return false } }) else { return }
        let p = pending.remove(at: i)
        if p.client.proc != Self.internalClient.proc { env.etcdRespond(slot, to: p.client, response(p.client.req, result)) }
    }

    mutating func requestTimedOut(_ local: UInt32, _ env: EtcdEnv) {
        guard let i = pending.firstIndex(where: { $0.local == local }) else { return }
        let p = pending.remove(at: i)
        let err: EtcdError
        switch p.kind {
        case .renew, .waitingLeader: err = raft.lead == -1 ? .noLeader : .timeout
        default: err = .timeout
        }
        if p.client.proc != Self.internalClient.proc { env.etcdRespond(slot, to: p.client, response(p.client.req, .error(err))) }
    }

    // MARK: - Linearizable reads (ReadIndex)

    var committedInCurrentTerm: Bool { raft.termAt(raft.committed) == raft.term }

    mutating func linearizableRead(_ client: ClientRef, _ k: KeyID, prefix: Bool, _ env: EtcdEnv) {
        let local = addPending(client, .read(key: k, prefix: prefix, index: -1), now: env.now, env)
        requestReadIndex(local, env)
    }

    /// A leader confirms with the next heartbeat round; a follower asks the leader; with no
    /// leader the request is dropped and retried every 500 ms (`readIndexRetryTime`).
    mutating func requestReadIndex(_ local: UInt32, _ env: EtcdEnv) {
        guard let i = pending.firstIndex(where: { $0.local == local }) else { return }
        if raft.state == .leader && committedInCurrentTerm {
            pending[i].round = readRound + 1
            if case .read(let k, let p, _) = pending[i].kind { pending[i].kind = .read(key: k, prefix: p, index: raft.committed) }
        } else if raft.state == .follower && raft.lead != -1 {
            var m = RaftMessage(type: .readIndex, from: slot, to: raft.lead, term: raft.term)
            m.ctx = Int64(local)
            send(m, env)
            env.etcdTimer(slot, after: 500 * Time.ms, .retry(local))
        } else {
            env.etcdTimer(slot, after: 500 * Time.ms, .retry(local))
        }
    }

    mutating func readIndexFromPeer(_ m: RaftMessage, _ env: EtcdEnv) {
        guard raft.state == .leader, committedInCurrentTerm else { return }  // dropped: the follower retries
        let local = addPending(Self.internalClient, .remoteRead(from: Int(m.from), ctx: m.ctx), now: env.now, env)
        if let i = pending.firstIndex(where: { $0.local == local }) { pending[i].round = readRound + 1 }
    }

    mutating func readIndexResponse(_ m: RaftMessage, _ env: EtcdEnv) {
        guard let i = pending.firstIndex(where: { $0.local == UInt32(m.ctx) }), case .read(let k, let p, let idx) = pending[i].kind, idx < 0 else { return }
        pending[i].kind = .read(key: k, prefix: p, index: Int(m.index))
        pending[i].round = 0
        answerReads(env)
    }

    /// Releases reads whose heartbeat round a quorum acknowledged, once applied caught up.
    mutating func answerReads(_ env: EtcdEnv) {
        guard pending.contains(where: { if case .read = $0.kind { return true }; if case .remoteRead = $0.kind { return true }; return false }) else { return }
        var i = 0
        while i < pending.count {
            let p = pending[i]
            var confirmed = p.round == 0
            if p.round > 0, raft.state == .leader, let a = roundAcks.first(where: { $0.round == p.round }) {
                confirmed = a.acks + 1 >= raft.quorum
            }
            switch p.kind {
            case .read(let k, let prefix, let index) where index >= 0 && confirmed && applied >= index:
                pending.remove(at: i)
                env.etcdRespond(slot, to: p.client, response(p.client.req, .range(rangeResult(k, prefix: prefix))))
                continue
            case .remoteRead(let from, let ctx) where confirmed:
                pending.remove(at: i)
                var m = RaftMessage(type: .readIndexResp, from: slot, to: from, term: raft.term)
                m.ctx = ctx
                m.index = Int64(raft.committed)
                send(m, env)
                continue
            default: break
            }
            i += 1
        }
    }

    mutating func failReads(_ e: EtcdError, _ env: EtcdEnv) {
        var keep: [Pending] = []
        for p in pending {
            switch p.kind {
            case .read: env.etcdRespond(slot, to: p.client, response(p.client.req, .error(e)))
            case .remoteRead: break
            default: keep.append(p)
            }
        }
        pending = keep
    }

    // MARK: - Leases

    /// Whether the transport heard from `peer` within etcd's `HealthInterval` (5 s): what
    /// `numConnectedSince` counts as an active member.
    func heardRecently(_ peer: Int, _ now: Nanos) -> Bool {
        peer < lastHeard.count && lastHeard[peer] > 0 && now - lastHeard[peer] <= 5 * Time.s
    }

    /// Renewal is the leader's business, in memory, with no raft entry. A follower forwards it
    /// to the leader over the peer API, one HTTP request at a time (`EtcdServer.LeaseRenew`):
    /// it waits for the answer (bounded by the request timeout); after an error it throttles
    /// 50 ms and asks again; with no leader it waits an election timeout (`waitLeader`).
    mutating func keepAlive(_ id: LeaseID, _ client: ClientRef, _ env: EtcdEnv) {
        if raft.state == .leader, let ttl = renewLocally(id, env) {
            env.etcdRespond(slot, to: client, response(client.req, ttl >= 0 ? .keepAlive(ttlSeconds: ttl) : .error(.notPrimary)))
            return
        }
        let local = addPending(client, .renew(id), now: env.now, env)
        forwardRenew(local, env)
    }

    /// nil: not the primary lessor yet (retry). -1: leadership could not be confirmed.
    mutating func renewLocally(_ id: LeaseID, _ env: EtcdEnv) -> Int64? {
        guard lessorPrimary else { return nil }
        // Since 3.4.31/3.5.13 a leader whose raft loop has not ticked for 3 ticks (a stalled
        // disk) must confirm leadership first; stuck, it cannot, and answers "not primary".
        if env.now - lastTickAt > 3 * config.heartbeatIntervalNs { return -1 }
        guard let i = leases.firstIndex(where: { $0.id == id }) else { return 0 }
        // An expired lease that the lessor has not revoked yet is not renewed: `lessor.Renew`
        // waits for the revocation and answers ErrLeaseNotFound (server/lease/lessor.go), which
        // the keepalive stream sends as TTL 0 (v3rpc/lease.go). Renewing it would bring back
        // a leader key whose holder's lease ran out (after a paused leader resumes).
        if leases[i].expiry <= env.now { return 0 }
        leases[i].expiry = env.now + leases[i].ttl * Time.s
        shared.onLeaseRenew?(env.now, id, leases[i].ttl)
        return leases[i].ttl
    }

    mutating func forwardRenew(_ local: UInt32, _ env: EtcdEnv) {
        guard let i = pending.firstIndex(where: { $0.local == local }), case .renew(let id) = pending[i].kind, !pending[i].inFlight else { return }
        if raft.state == .leader {
            if let ttl = renewLocally(id, env), ttl >= 0 {
                let p = pending.remove(at: i)
                env.etcdRespond(slot, to: p.client, response(p.client.req, .keepAlive(ttlSeconds: ttl)))
            } else {
                env.etcdTimer(slot, after: 50 * Time.ms, .retry(local))
            }
        } else if raft.lead != -1 {
            var m = RaftMessage(type: .leaseRenew, from: slot, to: raft.lead, term: raft.term)
            m.ctx = id
            m.index = Int64(local)
            pending[i].inFlight = true
            send(m, env)
        } else {
            env.etcdTimer(slot, after: config.electionTimeoutNs, .retry(local))
        }
    }

    mutating func leaseRenewFromPeer(_ m: RaftMessage, _ env: EtcdEnv) {
        var r = RaftMessage(type: .leaseRenewResp, from: slot, to: Int(m.from), term: raft.term)
        r.index = m.index
        if raft.state == .leader, let ttl = renewLocally(m.ctx, env), ttl >= 0 {
            r.commit = ttl
        } else {
            r.reject = true
        }
        send(r, env)
    }

    mutating func leaseRenewResponse(_ m: RaftMessage, _ env: EtcdEnv) {
        let local = UInt32(m.index)
        guard let i = pending.firstIndex(where: { $0.local == local }), case .renew = pending[i].kind, pending[i].inFlight else { return }
        pending[i].inFlight = false
        if m.reject {
            // "Throttle in case of e.g. connection problems."
            env.etcdTimer(slot, after: 50 * Time.ms, .retry(local))
            return
        }
        let p = pending.remove(at: i)
        env.etcdRespond(slot, to: p.client, response(p.client.req, .keepAlive(ttlSeconds: m.commit)))
    }

    mutating func retry(_ local: UInt32, _ env: EtcdEnv) {
        guard let p = pending.first(where: { $0.local == local }) else { return }
        switch p.kind {
        case .renew: forwardRenew(local, env)
        case .read(_, _, let index) where index < 0: requestReadIndex(local, env)
        default: break
        }
    }

    /// Stepping down: every lease's deadline becomes "forever" (`lessor.Demote`).
    mutating func demoteLessor() {
        lessorPrimary = false
        for i in leases.indices { leases[i].expiry = .max; leases[i].revokeAt = nil }
    }

    /// The lessor's 500 ms loop: only the primary expires leases, by proposing a revoke for
    /// each; one that does not complete is proposed again after `ReqTimeout`.
    mutating func scanLeases(_ env: EtcdEnv) {
        guard lessorPrimary, raft.state == .leader else { return }
        if env.now - lastTickAt > 3 * config.heartbeatIntervalNs { return }  // ensureLeadership fails while stuck
        for i in leases.indices where leases[i].expiry <= env.now {
            if let at = leases[i].revokeAt, env.now < at + config.requestTimeoutNs { continue }
            leases[i].revokeAt = env.now
            shared.lastExpiryLogged.insert(leases[i].id)
            let gid = shared.newOp(.leaseRevoke(leases[i].id))
            _ = raft.propose(gid)
            _ = addPending(Self.internalClient, .proposal(gid: gid), now: env.now, env)
        }
    }
}
