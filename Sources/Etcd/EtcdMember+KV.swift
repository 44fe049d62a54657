import SimCore
import Recording

extension EtcdMember {
    /// Applies one committed entry to the MVCC store, the lessor or the membership.
    mutating func apply(_ e: LogEntry, index: Int, now: Nanos, replay: Bool, env: EtcdEnv?) {
        let op = shared.op(e.gid)
        var result: EtcdResponse.Result = .ok
        switch op {
        case .empty:
            // etcd promotes the lessor when the new leader applies the first entry of its term
            // (`applyEntryNormal`, empty data): every lease gets now + election timeout + its
            // full TTL (no checkpoints: Patroni's TTLs are far under the 5-minute interval).
            if !replay, raft.state == .leader, e.term == raft.term, !lessorPrimary {
                lessorPrimary = true
                let extend = config.electionTimeoutNs
                for i in leases.indices {
                    leases[i].expiry = now + extend + leases[i].ttl * Time.s
                    leases[i].revokeAt = nil
                }
                shared.recorder.log(now, name, "etcd", Kind.leaseReset,
                                    .object([("leases", .int(Int64(leases.count))), ("expire_in_s", .double(Time.seconds(extend) + Double(leases.map(\.ttl).max() ?? 0)))]))
            }
        case .put(let k, let v, let lease):
            if lease != 0 && !leases.contains(where: { $0.id == lease }) {
                result = .error(.leaseNotFound)
            } else {
                revision += 1
                putKey(k, v, lease: lease, now: now, replay: replay, env: env)
                digest(revision, [(k, kv[Int(k)]!, false)], now: now, replay: replay)
            }
        case .delete(let k):
            if value(k) != nil {
                revision += 1
                let old = kv[Int(k)]!
                deleteKey(k, now: now, replay: replay, env: env)
                digest(revision, [(k, old, true)], now: now, replay: replay)
            }
        case .txn(let t):
            // The whole transaction, nested one included, is one revision (etcd's `applyTxn`).
            var changes: [(KeyID, KVRecord, Bool)] = []
            var bumped = false
            var nested = false
            let ok = applyTxn(shared.txn(t), depth: 0, &changes, &bumped, &nested, now: now, replay: replay, env: env)
            if bumped { digest(revision, changes, now: now, replay: replay) }
            result = .txn(succeeded: ok, nested: nested)
        case .leaseGrant(let id, let ttl):
            if leases.contains(where: { $0.id == id }) { result = .error(.leaseNotFound) } else {
                let expiry = lessorPrimary && !replay ? now + ttl * Time.s : Nanos.max
                leases.append(LeaseInfo(id: id, ttl: ttl, expiry: expiry, keys: [], revokeAt: nil))
                leases.sort { $0.id < $1.id }
                result = .leaseGranted(id, ttlSeconds: ttl)
            }
        case .leaseRevoke(let id):
            if let i = leases.firstIndex(where: { $0.id == id }) {
                let keys = leases[i].keys.sorted()
                var changes: [(KeyID, KVRecord, Bool)] = []
                if !keys.isEmpty {
                    revision += 1
                    for k in keys {
                        if let old = value(k) {
                            deleteKey(k, now: now, replay: replay, env: env)
                            changes.append((k, old, true))
                        }
                    }
                    digest(revision, changes, now: now, replay: replay)
                }
                leases.removeAll { $0.id == id }
                if !replay, shared.lastExpiryLogged.remove(id) != nil {
                    shared.recorder.log(now, name, "etcd", Kind.leaseExpired,
                                        .object([("lease", .int(id)), ("keys", .array(keys.map { .string(shared.keys.name($0)) }))]))
                    shared.recorder.count("etcd_leases_expired")
                }
            } else {
                result = .error(.leaseNotFound)
            }
        case .addMember(let s, let mid):
            if !raft.voters.contains(s) { raft.voters.append(s); raft.voters.sort() }
            if !replay { shared.memberIDs[s] = max(shared.memberIDs[s], mid) }
            if s == slot { removed = false }
            raft.match[s] = 0
            raft.next[s] = max(1, raft.lastIndex + 1)
            raft.probing[s] = true
            if !replay { shared.recorder.log(now, name, "etcd", "etcd_member_added", .object([("member", .string(shared.names[s]))])) }
        case .removeMember(let s, let mid):
            raft.voters.removeAll { $0 == s }
            removedGen[s] = max(removedGen[s], Int(mid >> 16))
            if s == slot {
                removed = true
                if !replay, let env { env.etcdTimer(slot, after: Time.s, .removedShutdown) }
            }
            if !replay { shared.recorder.log(now, name, "etcd", "etcd_member_removed", .object([("member", .string(shared.names[s]))])) }
        }
        if !replay, let env { completeProposal(gid: e.gid, result, env) }
    }

    /// Runs the branch the compares pick; returns whether they held. A nested transaction's
    /// outcome goes to `nested` (etcd allows one level inside Patroni's requests; deeper ones
    /// are not sent by any client simulated here and are ignored).
    mutating func applyTxn(_ txn: Txn, depth: Int, _ changes: inout [(KeyID, KVRecord, Bool)], _ bumped: inout Bool, _ nested: inout Bool,
                           now: Nanos, replay: Bool, env: EtcdEnv?) -> Bool {
        let ok = txn.compares.allSatisfy(holds)
        for o in ok ? txn.success : txn.failure {
            switch o {
            case .put(let k, let v, let lease):
                if lease != 0 && !leases.contains(where: { $0.id == lease }) { continue }
                if !bumped { revision += 1; bumped = true }
                putKey(k, v, lease: lease, now: now, replay: replay, env: env)
                changes.append((k, kv[Int(k)]!, false))
            case .delete(let k):
                guard let old = value(k) else { continue }
                if !bumped { revision += 1; bumped = true }
                deleteKey(k, now: now, replay: replay, env: env)
                changes.append((k, old, true))
            case .txn(let inner):
                guard depth == 0 else { continue }
                var deeper = false
                nested = applyTxn(shared.txn(inner), depth: 1, &changes, &bumped, &deeper, now: now, replay: replay, env: env) || nested
            }
        }
        return ok
    }

    func holds(_ c: Compare) -> Bool {
        let r = value(c.key)
        switch c.target {
        case .createRevision(let v): return (r?.createRevision ?? 0) == v
        case .modRevision(let v): return (r?.modRevision ?? 0) == v
        case .value(let v): return r?.value == v
        case .lease(let l): return (r?.lease ?? 0) == l
        }
    }

    mutating func putKey(_ k: KeyID, _ v: ValueID, lease: LeaseID, now: Nanos, replay: Bool, env: EtcdEnv?) {
        while kv.count <= Int(k) { kv.append(nil) }
        let old = kv[Int(k)]
        if let o = old, o.lease != lease, o.lease != 0, let i = leases.firstIndex(where: { $0.id == o.lease }) {
            leases[i].keys.removeAll { $0 == k }
        }
        if lease != 0, old?.lease != lease, let i = leases.firstIndex(where: { $0.id == lease }) { leases[i].keys.append(k) }
        let rec = KVRecord(createRevision: old?.createRevision ?? revision, modRevision: revision,
                           version: (old?.version ?? 0) + 1, value: v, lease: lease)
        kv[Int(k)] = rec
        changed(WatchEvent(kind: .put, key: k, record: rec, revision: revision), now: now, replay: replay, env: env)
    }

    mutating func deleteKey(_ k: KeyID, now: Nanos, replay: Bool, env: EtcdEnv?) {
        guard let old = kv[Int(k)] else { return }
        if old.lease != 0, let i = leases.firstIndex(where: { $0.id == old.lease }) { leases[i].keys.removeAll { $0 == k } }
        kv[Int(k)] = nil
        changed(WatchEvent(kind: .delete, key: k, record: old, revision: revision), now: now, replay: replay, env: env)
    }

    /// Keeps a bounded history for watches that start in the past, and notifies watchers.
    mutating func changed(_ ev: WatchEvent, now: Nanos, replay: Bool, env: EtcdEnv?) {
        history.append(ev)
        if history.count > 4096 { history.removeFirst(1024) }
        if replay { return }
        shared.onChange?(now, ev)
        if shared.observedKey == ev.key, ev.revision > shared.lastObservedRevision {
            shared.lastObservedRevision = ev.revision
            let holder = ev.kind == .put ? shared.valueName?(ev.record.value) : nil
            let cause: String
            if ev.kind == .put { cause = ev.record.version == 1 ? "acquired" : "updated" } else {
                cause = shared.lastExpiryLogged.contains(ev.record.lease) ? "expired" : "released"
            }
            shared.recorder.log(now, holder ?? "", "etcd", Kind.leaderKey, Detail.leaderKey(holder: holder, cause: cause, revision: ev.revision))
        }
        guard let env else { return }
        let keyName = shared.keys.name(ev.key)
        for w in watchers where keyName.hasPrefix(w.prefix) {
            env.etcdRespond(slot, to: w.client, response(w.client.req, .watchEvent(ev)))
        }
    }

    /// Records the change at a revision for the cross-member agreement check.
    func digest(_ rev: Int64, _ changes: [(KeyID, KVRecord, Bool)], now: Nanos, replay: Bool) {
        guard !replay else { return }
        var h = TraceHash()
        h.mix(UInt64(bitPattern: rev))
        for (k, r, del) in changes {
            h.mix(UInt64(k) | (del ? 1 << 40 : 0))
            h.mix(UInt64(r.value) | UInt64(bitPattern: r.lease) << 32)
            h.mix(UInt64(bitPattern: r.createRevision))
        }
        shared.checkRevision(rev, digest: h.value, slot: slot, at: now)
    }

    func response(_ req: UInt32, _ r: EtcdResponse.Result) -> EtcdResponse {
        EtcdResponse(req: req, member: slot, revision: revision, raftTerm: raft.term, result: r)
    }

    /// The KV pairs a range returns, stored for the response.
    func rangeResult(_ k: KeyID, prefix: Bool) -> UInt32 {
        var out: [(KeyID, KVRecord)] = []
        if prefix {
            for id in shared.keys.ids(withPrefix: shared.keys.name(k)) { if let r = value(id) { out.append((id, r)) } }
        } else if let r = value(k) {
            out.append((k, r))
        }
        return shared.storeRange(out)
    }
}
