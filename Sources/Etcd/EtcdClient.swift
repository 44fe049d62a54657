import SimCore

/// What Patroni's etcd client needs from the world.
public protocol EtcdClientEnv: AnyObject {
    var now: Nanos { get }
    /// Sends a request to a member over the client's connection (opening one if there is none).
    /// Returns how the connection attempt went: `.accepted` (or already connected), `.refused`
    /// (the world then delivers a refusal), or `.noAnswer` (nothing will come back).
    func etcdClientSend(from proc: UInt32, toMember slot: Int, _ r: EtcdRequest, pooled: Bool) -> ConnectResult
    func etcdClientTimer(_ proc: UInt32, after: Nanos, _ t: EtcdClientTimer)
    /// Drops every pooled connection (urllib3 `http.clear()` after a failed request); the watch
    /// stream's own connection (to `keep`) stays.
    func etcdClientClearPool(_ proc: UInt32, keep: Int?)
    /// Whether a TCP keepalive probe to the member's host would be answered (host up, path open).
    func etcdClientTCPAlive(_ proc: UInt32, member slot: Int) -> Bool
}

public enum ConnectResult: Sendable { case accepted, refused, noAnswer }

public enum EtcdClientTimer: Sendable, Equatable {
    /// One attempt's timeout (by request id).
    case attempt(UInt32)
    /// A retrying call slept; try again (by call tag).
    case retrySleep(UInt32)
    /// TCP keepalive probe on the watch connection (by watch request id).
    case keepalive(UInt32, failures: Int)
}

/// How a logical call ended.
public enum CallOutcome: Sendable {
    case success(EtcdResponse)
    /// Every node failed within the deadline (or, without retry, the one node tried).
    /// `indeterminate`: a write that timed out may still have been applied.
    case failure(reason: String, indeterminate: Bool)
}

/// Patroni's etcd3 client (`patroni/dcs/etcd.py` AbstractEtcdClientWithFailover, `etcd3.py`):
///
/// - one node at a time from the member list in a shuffled order, the current one first
///   (`machines_cache`); a call fails over to the next node on a timeout, a refused connection,
///   an `Unavailable` answer, or a node whose `raft_term` is older than one already seen
///   (`StaleEtcdNode`); on success after a failure that node becomes the current one;
/// - per-node timeout from `_calculate_timeouts`: retry_timeout / nodes (3.33 s with 3 nodes),
///   no per-node retries with 3+ nodes, connect timeout max(1 s, per-node / 2);
/// - calls with a retry (`Retry(deadline=retry_timeout, max_delay=1)`) go round the nodes again
///   after sleeping 0.1 s, 0.2 s, ... (plus up to 0.8 s jitter) until the deadline; calls without
///   one try the current node only and, on failure, move the current node on;
/// - a failed request clears the connection pool.
public struct EtcdClient {
    public let proc: UInt32
    public private(set) var machines: [Int]
    public private(set) var base: Int
    let retryTimeoutNs: Nanos
    public private(set) var maxRaftTerm: UInt64 = 0
    var calls: [Call] = []
    var nextReq: UInt32 = 0
    var rng: Rng
    var pooled: [Bool]
    /// The watch stream (KVCache), if any: its request id and member.
    public private(set) var watch: (req: UInt32, member: Int, lastActivity: Nanos)? = nil

    struct Call {
        var tag: UInt32
        var op: EtcdRequest.Op
        var withRetry: Bool
        var deadline: Nanos
        var nodes: [Int]
        var i: Int
        var perNodeNs: Nanos
        var retriesPerNode: Int
        var triesOnNode: Int
        var req: UInt32
        var anyFailed: Bool
        var delay: Double
        var isWrite: Bool
    }

    public init(proc: UInt32, members: [Int], retryTimeoutNs: Nanos, rng: Rng) {
        self.proc = proc
        self.rng = rng
        var m = members
        self.rng.shuffle(&m)   // the member list's client URLs, shuffled (`_load_machines_cache`)
        machines = m
        base = m[0]
        self.retryTimeoutNs = retryTimeoutNs
        pooled = Array(repeating: false, count: (members.max() ?? 0) + 1)
    }

    /// `machines_cache`: the current node first, then the rest in cache order.
    public var order: [Int] { [base] + machines.filter { $0 != base } }

    /// `_calculate_timeouts`: (nodes to try, per-node timeout, per-node retries).
    public static func calculateTimeouts(nodes: Int, timeoutS: Double) -> (Int, Double, Int) {
        var n = nodes
        var perNode = timeoutS
        var maxRetries = 4 - min(nodes, 3)
        var retries = 1
        while n > 0 {
            perNode = timeoutS / Double(n)
            if perNode >= 1.0 {
                while retries < maxRetries && perNode / Double(retries + 1) >= 1.0 { retries += 1 }
                perNode /= Double(retries)
                break
            }
            n -= 1
            maxRetries = 1
        }
        return (n, perNode, retries - 1)
    }

    public var hasCalls: Bool { !calls.isEmpty }
    public func isActive(_ tag: UInt32) -> Bool { calls.contains { $0.tag == tag } }

    // MARK: - Calls

    /// Starts a logical call. `tag` identifies it to the owner.
    public mutating func call(_ op: EtcdRequest.Op, tag: UInt32, retry: Bool, _ env: EtcdClientEnv) {
        let (n, per, retries) = Self.calculateTimeouts(nodes: machines.count, timeoutS: Time.seconds(retryTimeoutNs))
        let isWrite: Bool
        switch op {
        case .put, .delete, .txn, .leaseGrant, .leaseRevoke, .memberAdd, .memberRemove: isWrite = true
        default: isWrite = false
        }
        var c = Call(tag: tag, op: op, withRetry: retry, deadline: env.now + retryTimeoutNs, nodes: Array(order.prefix(max(1, n))),
                     i: 0, perNodeNs: Time.fromSeconds(per), retriesPerNode: retries, triesOnNode: 0, req: 0, anyFailed: false,
                     delay: 0.1, isWrite: isWrite)
        if !retry { c.nodes = [base] }
        calls.append(c)
        attempt(calls.count - 1, env)
    }

    mutating func attempt(_ ci: Int, _ env: EtcdClientEnv) {
        nextReq &+= 1
        calls[ci].req = nextReq
        let c = calls[ci]
        let node = c.nodes[c.i]
        let r = EtcdRequest(client: ClientRef(proc: proc, req: nextReq), op: c.op)
        let outcome = env.etcdClientSend(from: proc, toMember: node, r, pooled: pooled[node])
        switch outcome {
        case .accepted:
            env.etcdClientTimer(proc, after: c.perNodeNs, .attempt(nextReq))
        case .noAnswer:
            // A fresh connection to a silent host fails at the connect timeout.
            let t = pooled[node] ? c.perNodeNs : max(Time.s, c.perNodeNs / 2)
            env.etcdClientTimer(proc, after: t, .attempt(nextReq))
        case .refused:
            env.etcdClientTimer(proc, after: c.perNodeNs, .attempt(nextReq))  // the refusal arrives first
        }
    }

    /// A response arrived. Returns the completed call, if this finished one.
    public mutating func receive(_ r: EtcdResponse, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        if let w = watch, w.req == r.req {
            watch!.lastActivity = env.now
            return nil
        }
        guard let ci = calls.firstIndex(where: { $0.req == r.req }) else { return nil }
        let node = calls[ci].nodes[calls[ci].i]
        if case .error(let e) = r.result, e.isUnavailable || e == .stopping {
            return failed(ci, reason: e.message, env)
        }
        if r.raftTerm > 0 && r.raftTerm < maxRaftTerm {
            return failed(ci, reason: "StaleEtcdNode: raft_term \(r.raftTerm) < \(maxRaftTerm)", env)
        }
        maxRaftTerm = max(maxRaftTerm, r.raftTerm)
        pooled[node] = true
        let c = calls.remove(at: ci)
        if c.anyFailed { setBase(node, env) }
        return (c.tag, .success(r))
    }

    /// A refused connect (`req`: the attempt it carried) or a reset of the established
    /// connection to `member` (`req` 0: every attempt in flight on it). Each failed attempt
    /// moves on at once; its next connect gets its own answer, so one refusal never fails
    /// more than the attempts it was the answer to.
    public mutating func connectionFailed(member: Int, req: UInt32, _ env: EtcdClientEnv) -> [(tag: UInt32, outcome: CallOutcome)] {
        pooled[member] = false
        var done: [(UInt32, CallOutcome)] = []
        var i = 0
        let failing = calls.filter { $0.nodes[$0.i] == member && (req == 0 || $0.req == req) }.map(\.req)
        while i < calls.count {
            if failing.contains(calls[i].req) {
                let n = calls.count
                if let d = failed(i, reason: "connection refused or reset by \(member)", env) { done.append(d) }
                if calls.count < n { continue }
            }
            i += 1
        }
        return done
    }

    public mutating func timer(_ t: EtcdClientTimer, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        switch t {
        case .attempt(let req):
            guard let ci = calls.firstIndex(where: { $0.req == req }) else { return nil }
            return failed(ci, reason: "read timeout", env)
        case .retrySleep(let tag):
            guard let ci = calls.firstIndex(where: { $0.tag == tag }) else { return nil }
            attempt(ci, env)
            return nil
        case .keepalive: return nil
        }
    }

    /// One node failed: next node, next round after a sleep, or give up.
    mutating func failed(_ ci: Int, reason: String, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        env.etcdClientClearPool(proc, keep: watch?.member)
        for i in pooled.indices { pooled[i] = false }
        calls[ci].anyFailed = true
        let c = calls[ci]
        if !c.withRetry {
            // Without a retry: move the current node on and give up.
            if machines.count > 1 { setBase(order[1], env) }
            calls.remove(at: ci)
            return (c.tag, .failure(reason: reason, indeterminate: c.isWrite))
        }
        if c.triesOnNode < c.retriesPerNode {
            calls[ci].triesOnNode += 1
            attempt(ci, env)
            return nil
        }
        if c.i + 1 < c.nodes.count && env.now < c.deadline {
            calls[ci].i += 1
            calls[ci].triesOnNode = 0
            attempt(ci, env)
            return nil
        }
        // Every node failed: `Retry` sleeps, then tries again on as many nodes as the remaining
        // time allows (at least 1 s each), or raises.
        let sleep = c.delay + Double(rng.below(81)) / 100
        let remaining = Time.seconds(c.deadline - env.now) - sleep
        let (n, per, retries) = Self.calculateTimeouts(nodes: machines.count, timeoutS: max(0, remaining))
        if n == 0 {
            calls.remove(at: ci)
            return (c.tag, .failure(reason: "\(reason); no more machines in the cluster (retry deadline)", indeterminate: c.isWrite))
        }
        calls[ci].nodes = Array(order.prefix(n))
        calls[ci].i = 0
        calls[ci].perNodeNs = Time.fromSeconds(per)
        calls[ci].retriesPerNode = retries
        calls[ci].triesOnNode = 0
        calls[ci].delay = min(c.delay * 2, 1.0)
        env.etcdClientTimer(proc, after: Time.fromSeconds(sleep), .retrySleep(c.tag))
        return nil
    }

    mutating func setBase(_ node: Int, _ env: EtcdClientEnv) {
        guard node != base else { return }
        base = node
        // Switching base_uri restarts the watcher (PatroniEtcd3Client.set_base_uri).
        watch = nil
    }

    public mutating func cancel(_ tag: UInt32) { calls.removeAll { $0.tag == tag } }

    // MARK: - Watch stream

    /// Opens the watch on the current node. Returns its request id.
    public mutating func startWatch(prefix: KeyID, fromRevision: Int64, _ env: EtcdClientEnv) -> UInt32? {
        nextReq &+= 1
        let r = EtcdRequest(client: ClientRef(proc: proc, req: nextReq), op: .watch(prefix, fromRevision: fromRevision))
        let outcome = env.etcdClientSend(from: proc, toMember: base, r, pooled: pooled[base])
        if outcome == .refused { return nil }
        watch = (nextReq, base, env.now)
        // TCP keepalive on the watch socket: idle = loop_wait + retry_timeout, 3 probes.
        return nextReq
    }

    public mutating func dropWatch() { watch = nil }

    /// Patroni's `enable_keepalive(sock, ttl, loop_wait + retry_timeout)`: after `idleNs`
    /// without data the kernel probes every `intervalNs`; 3 unanswered probes kill the socket.
    /// Returns true when the watch is now dead.
    public mutating func keepaliveProbe(req: UInt32, failures: Int, idleNs: Nanos, intervalNs: Nanos, _ env: EtcdClientEnv) -> Bool {
        guard let w = watch, w.req == req else { return false }
        if env.etcdClientTCPAlive(proc, member: w.member) {
            let next = max(idleNs, w.lastActivity + idleNs - env.now)
            env.etcdClientTimer(proc, after: next, .keepalive(req, failures: 0))
            return false
        }
        if failures + 1 >= 3 {
            watch = nil
            return true
        }
        env.etcdClientTimer(proc, after: intervalNs, .keepalive(req, failures: failures + 1))
        return false
    }

    /// The stale-node guard also checks the watch's own responses.
    public mutating func noteTerm(_ t: UInt64) -> Bool {
        if t > 0 && t < maxRaftTerm { return false }
        maxRaftTerm = max(maxRaftTerm, t)
        return true
    }
}
