import SimCore
import Settings
import Etcd

/// How a high-level DCS operation ended.
public enum DCSResult: Sendable, Equatable {
    case ok(Bool)
    /// A revision (write_sync_state returns the new `/sync` version).
    case revision(Int64?)
    /// `DCSError`: etcd unreachable within retry_timeout (or retries exhausted).
    case error
}

/// Patroni's etcd3 DCS (`patroni/dcs/etcd3.py`): one lease per process, the leader and member
/// keys on it, the watch-fed cache (`KVCache`) the HA loop reads, and the operations the loop
/// performs, each a short sequence of calls over Patroni's etcd client.
public struct PatroniDCS {
    public var client: EtcdClient
    let shared: EtcdShared
    let keys: ClusterKeys
    let values: PatroniValues
    let me: Int
    var ttl: Int
    var loopWaitNs: Nanos

    public private(set) var lease: LeaseID? = nil
    var lastLeaseRefresh: Nanos = -1 << 60

    // KVCache
    var cache: [KeyID: KVRecord] = [:]
    public private(set) var cacheReady = false
    var cacheTag: UInt32? = nil
    var cacheRebuildAt: Nanos? = nil
    /// `dcs.event`: set by the watch when the leader key, the config, or (on a replica) the
    /// leader's status changes; the HA loop wakes early on it.
    public var event = false
    var lastWrittenStatus: Int64 = -1
    var lastWrittenFailsafe: [Int]? = nil
    var lastMember: MemberData? = nil

    // Operations in flight (the HA loop's, and an async job's).
    var ops: [Op] = []
    var nextTag: UInt32 = 1 << 20

    public enum Request: Sendable {
        case updateLeader(optime: Int64?, failsafe: [Int]?, leaderLease: LeaseID?)
        case acquire
        case touch(MemberData)
        case deleteLeader
        case put(KeyID, PValue, retry: Bool)
        case delete(KeyID)
        /// Compare-and-set on the key's mod revision (0: create only if absent).
        case cas(KeyID, PValue, modRevision: Int64)
        case casDelete(KeyID, modRevision: Int64)
        case refreshLease
    }

    enum Stage { case keepalive, grant, main, status, failsafe, retryAcquire }

    struct Op {
        var request: Request
        var stage: Stage
        var tag: UInt32
        var force: Bool
        var started: Nanos
        var leaseRecreated = false
    }

    public init(client: EtcdClient, shared: EtcdShared, keys: ClusterKeys, values: PatroniValues, me: Int, config: PatroniConfig) {
        self.client = client
        self.shared = shared
        self.keys = keys
        self.values = values
        self.me = me
        ttl = config.ttl
        loopWaitNs = config.loopWaitNs
    }

    /// A new Patroni process: a new etcd client, no lease (the old one lives on in etcd until
    /// it expires), an empty cache, nothing in flight.
    public mutating func newProcess(loadMembers: Bool = true) {
        client = client.restarted(loadMembers: loadMembers)
        lease = nil
        lastLeaseRefresh = -1 << 60
        cache = [:]
        cacheReady = false
        cacheTag = nil
        cacheRebuildAt = nil
        event = false
        lastWrittenStatus = -1
        lastWrittenFailsafe = nil
        lastMember = nil
        ops = []
        finished = []
    }

    mutating func newTag() -> UInt32 {
        nextTag &+= 1
        return nextTag
    }


    // MARK: - The cluster view

    public func view() -> ClusterView {
        let kvs = cache.keys.sorted().map { ($0, cache[$0]!) }
        return ClusterView.build(kvs, keys: keys, values: values)
    }

    // MARK: - Operations

    /// Starts an operation and returns its tag; its result comes back from `callDone` (or at
    /// once, through `takeFinished`, when it needs no call).
    @discardableResult
    public mutating func start(_ r: Request, _ env: EtcdClientEnv) -> UInt32 {
        var o = Op(request: r, stage: .main, tag: newTag(), force: false, started: env.now)
        switch r {
        case .updateLeader:
            // `_update_leader`: a forced keepalive (with retry) first.
            o.stage = .keepalive
            o.force = true
        case .acquire, .touch, .refreshLease:
            o.stage = .keepalive
        default: break
        }
        ops.append(o)
        advance(o.tag, env)
        return o.tag
    }

    /// Issues the current stage's call, or finishes.
    mutating func advance(_ tag: UInt32, _ env: EtcdClientEnv) {
        guard let oi = ops.firstIndex(where: { $0.tag == tag }) else { return }
        let o = ops[oi]
        func set(_ st: Stage) { ops[oi].stage = st }
        func finish(_ r: DCSResult) { self.finish(tag, r) }
        switch o.stage {
        case .keepalive:
            // `_do_refresh_lease`: skipped if refreshed less than loop_wait ago (unless forced).
            if !o.force, lease != nil, lastLeaseRefresh + loopWaitNs > env.now {
                set(.main)
                advance(tag, env)
                return
            }
            if let l = lease {
                client.call(.leaseKeepAlive(l), tag: o.tag, retry: true, env)
            } else {
                set(.grant)
                client.call(.leaseGrant(ttlSeconds: Int64(ttl)), tag: o.tag, retry: true, env)
            }
        case .grant:
            client.call(.leaseGrant(ttlSeconds: Int64(ttl)), tag: o.tag, retry: true, env)
        case .main, .retryAcquire:
            switch o.request {
            case .updateLeader(_, _, let leaderLease):
                guard let l = lease else { finish(.ok(false)); return }
                if leaderLease == l { finishUpdateLeader(tag, env); return }
                // `Etcd3._update_leader`: the key carries another lease id (a new lease after the
                // old one expired): re-put it if it still names us, or else, in a nested
                // transaction, create it if nobody holds it (a primary that froze past its ttl
                // and whose key nobody took keeps its role).
                let me = values.intern(.leader(self.me), key: keys.leader)
                let create = shared.newTxn(Txn(compares: [Compare(key: keys.leader, .createRevision(0))],
                                               success: [.put(keys.leader, me, lease: l)]))
                let t = shared.newTxn(Txn(compares: [Compare(key: keys.leader, .value(me))],
                                                 success: [.put(keys.leader, me, lease: l)],
                                                 failure: [.txn(create)]))
                client.call(.txn(t), tag: o.tag, retry: true, env)
            case .acquire:
                guard let l = lease else { finish(.ok(false)); return }
                let me = values.intern(.leader(self.me), key: keys.leader)
                let t = shared.newTxn(Txn(compares: [Compare(key: keys.leader, .createRevision(0))],
                                                 success: [.put(keys.leader, me, lease: l)]))
                client.call(.txn(t), tag: o.tag, retry: true, env)
            case .touch(let data):
                guard let l = lease else { finish(.ok(false)); return }
                if let cur = cache[keys.members[me]], cur.lease == l, lastMember == data {
                    finish(.ok(true))
                    return
                }
                lastMember = data
                client.call(.put(keys.members[me], values.intern(.member(data), key: keys.members[me]), lease: l), tag: o.tag, retry: false, env)
            case .refreshLease:
                finish(.ok(lease != nil))
            case .deleteLeader:
                let me = values.intern(.leader(self.me), key: keys.leader)
                let t = shared.newTxn(Txn(compares: [Compare(key: keys.leader, .value(me))], success: [.delete(keys.leader)]))
                client.call(.txn(t), tag: o.tag, retry: false, env)
            case .put(let k, let v, let retry):
                client.call(.put(k, values.intern(v, key: k), lease: 0), tag: o.tag, retry: retry, env)
            case .delete(let k):
                client.call(.delete(k), tag: o.tag, retry: true, env)
            case .cas(let k, let v, let rev):
                let cmp: Compare = rev == 0 ? Compare(key: k, .createRevision(0)) : Compare(key: k, .modRevision(rev))
                let t = shared.newTxn(Txn(compares: [cmp], success: [.put(k, values.intern(v, key: k), lease: 0)]))
                client.call(.txn(t), tag: o.tag, retry: true, env)
            case .casDelete(let k, let rev):
                let t = shared.newTxn(Txn(compares: [Compare(key: k, .modRevision(rev))], success: [.delete(k)]))
                client.call(.txn(t), tag: o.tag, retry: true, env)
            }
        case .status:
            guard case .updateLeader(let optime, _, _) = o.request, let lsn = optime else { set(.failsafe); advance(tag, env); return }
            client.call(.put(keys.status, values.intern(.status(optime: lsn), key: keys.status), lease: 0), tag: o.tag, retry: false, env)
        case .failsafe:
            guard case .updateLeader(_, let fs?, _) = o.request, fs != lastWrittenFailsafe else { finish(.ok(true)); return }
            lastWrittenFailsafe = fs
            client.call(.put(keys.failsafe, values.intern(.failsafe(fs), key: keys.failsafe), lease: 0), tag: o.tag, retry: false, env)
        }
    }

    mutating func finishUpdateLeader(_ tag: UInt32, _ env: EtcdClientEnv) {
        guard let oi = ops.firstIndex(where: { $0.tag == tag }), case .updateLeader(let optime, _, _) = ops[oi].request else { return }
        if let lsn = optime, lsn != lastWrittenStatus {
            lastWrittenStatus = lsn
            ops[oi].stage = .status
        } else {
            ops[oi].stage = .failsafe
        }
        advance(tag, env)
    }

    var finished: [(UInt32, DCSResult)] = []

    mutating func finish(_ tag: UInt32, _ r: DCSResult) {
        ops.removeAll { $0.tag == tag }
        finished.append((tag, r))
    }

    /// Feeds a call's outcome to its operation. The finished operations come out of
    /// `takeFinished`.
    mutating func callDone(_ tag: UInt32, _ outcome: CallOutcome, _ env: EtcdClientEnv) {
        if tag == cacheTag { cacheBuilt(outcome, env); return }
        guard let oi = ops.firstIndex(where: { $0.tag == tag }) else { return }
        let o = ops[oi]
        if case .success(let r) = outcome { noteOwnWrite(o.request, stage: o.stage, r) }
        func set(_ st: Stage) { ops[oi].stage = st }
        func finish(_ r: DCSResult) { self.finish(tag, r) }
        let resp = outcome.responseValue
        switch o.stage {
        case .keepalive, .grant:
            guard let r = resp else {
                // RetryFailedError/EtcdConnectionFailed: DCSError for update_leader and acquire;
                // touch_member returns False.
                if case .touch = o.request { finish(.ok(false)) } else { finish(.error) }
                return
            }
            switch r.result {
            case .keepAlive(let ttlLeft):
                if ttlLeft <= 0 {
                    // TTL 0: the lease is gone; grant a new one.
                    lease = nil
                    set(.grant)
                    ops[oi].leaseRecreated = true
                    advance(tag, env)
                    return
                }
                lastLeaseRefresh = env.now
                set(.main)
                advance(tag, env)
            case .leaseGranted(let id, _):
                lease = id
                lastLeaseRefresh = env.now
                set(.main)
                advance(tag, env)
            default:
                finish(.ok(false))
            }
        case .main, .retryAcquire:
            switch o.request {
            case .updateLeader:
                guard let r = resp else { finish(.error); return }
                // `ret.succeeded or ret.responses[0].response_txn.succeeded`
                if case .txn(let ok, let nested) = r.result, ok || nested { finishUpdateLeader(tag, env) } else { finish(.ok(false)) }
            case .acquire:
                guard let r = resp else { finish(.error); return }
                if case .txn(let ok, _) = r.result {
                    finish(.ok(ok))
                } else if case .error(.leaseNotFound) = r.result, o.stage != .retryAcquire {
                    // "Our lease disappeared from Etcd. Will try to get a new one and retry attempt"
                    lease = nil
                    set(.grant)
                    advance(tag, env)
                } else { finish(.ok(false)) }
            case .cas:
                guard let r = resp else { finish(.error); return }
                if case .txn(let ok, _) = r.result, ok { finish(.revision(r.revision)) } else { finish(.revision(nil)) }
            case .casDelete, .delete, .deleteLeader, .put, .touch:
                guard let r = resp else { finish(.ok(false)); return }
                if case .error = r.result { finish(.ok(false)); return }
                if case .txn(let ok, _) = r.result { finish(.ok(ok)); return }
                finish(.ok(true))
            case .refreshLease:
                finish(.ok(lease != nil))
            }
        case .status:
            set(.failsafe)
            advance(tag, env)
        case .failsafe:
            finish(.ok(true))
        }
    }

    /// The client's `call_rpc` hook: a successful put or transaction of ours goes into the
    /// cache at once (with the response's revision), ahead of the watch event.
    mutating func noteOwnWrite(_ req: Request, stage: Stage, _ r: EtcdResponse) {
        func put(_ k: KeyID, _ v: PValue, lease: LeaseID) {
            let old = cache[k]
            if let o = old, o.modRevision >= r.revision { return }
            cache[k] = KVRecord(createRevision: old?.createRevision ?? r.revision, modRevision: r.revision,
                                version: (old?.version ?? 0) + 1, value: values.intern(v, key: k), lease: lease)
        }
        func delete(_ k: KeyID) {
            if let o = cache[k], o.modRevision < r.revision { cache[k] = nil }
        }
        switch (req, stage, r.result) {
        case (.put(let k, let v, _), .main, .ok): put(k, v, lease: 0)
        case (.touch(let d), .main, .ok): if let l = lease { put(keys.members[me], .member(d), lease: l) }
        case (.acquire, .main, .txn(true, _)), (.updateLeader, .main, .txn(true, _)), (.updateLeader, .main, .txn(false, true)):
            if let l = lease { put(keys.leader, .leader(me), lease: l) }
        case (.cas(let k, let v, _), .main, .txn(true, _)): put(k, v, lease: 0)
        case (.casDelete(let k, _), .main, .txn(true, _)), (.delete(let k), .main, .ok): delete(k)
        case (.deleteLeader, .main, .txn(true, _)): delete(keys.leader)
        default: break
        }
    }

    public mutating func takeFinished() -> [(UInt32, DCSResult)] {
        defer { finished.removeAll() }
        return finished
    }

    // MARK: - KVCache

    /// `KVCache._build_cache`: a serializable range of the cluster prefix (with retry), then a
    /// watch from the next revision on the current node.
    public mutating func buildCache(_ env: EtcdClientEnv) {
        guard cacheTag == nil else { return }
        cacheReady = false
        let t = newTag()
        cacheTag = t
        client.call(.range(keys.prefix, prefix: true, serializable: true), tag: t, retry: true, env)
    }

    mutating func cacheBuilt(_ outcome: CallOutcome, _ env: EtcdClientEnv) {
        cacheTag = nil
        guard case .success(let r) = outcome, case .range(let id) = r.result else {
            // `KVCache.run`: log, sleep 1 s, try again.
            cacheRebuildAt = env.now + Time.s
            return
        }
        cache = [:]
        for (k, rec) in shared.range(id) { cache[k] = rec }
        cacheReady = true
        _ = client.startWatch(prefix: keys.prefix, fromRevision: r.revision + 1, env)
    }

    /// A watch event: update the cache and decide whether to wake the HA loop
    /// (`KVCache._process_event`).
    mutating func watchEvent(_ ev: WatchEvent, raftTerm: UInt64, amLeader: Bool, _ env: EtcdClientEnv) {
        if !client.noteTerm(raftTerm) {
            // StaleEtcdNode on the watch: drop it; the cache rebuilds elsewhere.
            watchDied(env)
            return
        }
        let old = cache[ev.key]
        if let o = old, o.modRevision >= ev.revision { return }
        if ev.kind == .delete { cache[ev.key] = nil } else { cache[ev.key] = ev.record }
        let oldValue = old?.value, newValue: ValueID? = ev.kind == .delete ? nil : ev.record.value
        guard oldValue != newValue else { return }
        if ev.key == keys.leader { event = true }
        if ev.key == keys.config && old != nil && newValue != nil { event = true }
        if ev.key == keys.status && newValue != nil && !amLeader { event = true }
    }

    /// The watch connection is gone (reset, keepalive failure, base switch): the cache is not
    /// ready until rebuilt.
    public mutating func watchDied(_ env: EtcdClientEnv) {
        cacheReady = false
        client.dropWatch(env)
    }

    public var watchAlive: Bool { client.watch != nil }

    /// `AbstractDCS.reload_config`: loop_wait, ttl and retry_timeout reach the client
    /// (`set_retry_timeout` sets the Retry deadline and the read timeout; `set_ttl` the
    /// member-list cache lifetime).
    mutating func setConfig(_ c: PatroniConfig) {
        if ttl != c.ttl {
            // `set_ttl`: the lease is dropped and re-granted with the new TTL.
            ttl = c.ttl
            lease = nil
            client.setTTL(c.ttl)
        }
        loopWaitNs = c.loopWaitNs
        client.setRetryTimeout(c.retryTimeoutNs)
    }

    /// `Etcd3.watch` zeroes the refresh timestamp: the next touch_member keeps the lease alive.
    mutating func forceLeaseRefreshNextCycle() { lastLeaseRefresh = -1 << 60 }

    /// Steady state: the process has been running and holds `l`, last refreshed at `at`.
    mutating func adoptLease(_ l: LeaseID, refreshedAt at: Nanos) {
        lease = l
        lastLeaseRefresh = at
    }
}

extension CallOutcome {
    var responseValue: EtcdResponse? {
        if case .success(let r) = self {
            if case .error(let e) = r.result, e.isUnavailable { return nil }
            return r
        }
        return nil
    }
}
