import SimCore

/// What Patroni's etcd client needs from the world: TCP connections to the members (the
/// network keeps their state), and timers.
public protocol EtcdClientEnv: AnyObject {
    var now: Nanos { get }
    /// Opens a connection to a member; the hand-shake's outcome comes back as an
    /// `etcdConn(conn, event)` input (connected, refused, timed out), and a later reset too.
    func etcdConnect(from proc: UInt32, toMember slot: Int) -> ConnID
    func etcdSend(_ c: ConnID, from proc: UInt32, _ r: EtcdRequest)
    func etcdClose(_ c: ConnID)
    /// Whether a TCP keepalive probe on `c` would be answered.
    func etcdProbe(_ c: ConnID, from proc: UInt32) -> Bool
    func etcdClientTimer(_ proc: UInt32, after: Nanos, _ t: EtcdClientTimer)
}

public enum EtcdClientTimer: Sendable, Equatable {
    /// An attempt's connect timeout (urllib3 `Timeout.connect`), by request id.
    case connectTimeout(UInt32)
    /// An attempt's total timeout (urllib3 `Timeout.total`), by request id.
    case readTimeout(UInt32)
    /// A retrying call slept (`retry.sleep_func`); try again (by call tag).
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

/// Patroni 4.1's etcd3 client (`patroni/dcs/etcd.py` AbstractEtcdClientWithFailover,
/// `patroni/dcs/etcd3.py` Etcd3Client), over urllib3:
///
/// - `api_execute`: one node at a time from `machines_cache` (the current `base_uri` first);
///   with a `Retry` the call goes round the nodes; without one it tries the current node only
///   and, failing, moves `base_uri` on. A node fails on a timeout, a refused or reset
///   connection, an `Unavailable` answer (`_handle_server_response` turns it into
///   `socket.timeout`) or a stale `raft_term` (`StaleEtcdNode`). Every failure clears the
///   connection pool (`http.clear()`). Success after a failure makes that node the base and
///   refreshes the member list.
/// - Timeouts (`_prepare_common_parameters` / `_calculate_timeouts`): per-node total
///   = retry_timeout / nodes (with 3+ nodes; 1 node: 3 tries of retry_timeout / 3; 2 nodes: 2
///   tries each), connect timeout max(1 s, total / 2). urllib3 retries (`retries=`) repeat
///   connect errors only: a POST that timed out reading is not retried on the same node.
/// - When every node of a round failed (`EtcdConnectionFailed`): the member list is read
///   again from the configured hosts and the cache (`_load_machines_cache` →
///   `_get_machines_list`, one member-list request per node with the same timeouts), then the
///   call sleeps `retry.sleeptime` (0.1 s doubling to `max_delay` 1 s, plus 0–0.8 s jitter) and
///   tries again on as many nodes as the time left allows (1 s each at least). With none, the
///   call raises ("Exceeded retry deadline" at the HA level), marks the member list for a
///   reload at the next call, and restarts the watcher.
/// - A member list older than `machines_cache_ttl` (ttl × 10) is refreshed before a call.
public struct EtcdClient {
    public let proc: UInt32
    /// The configured hosts (`etcd.hosts`), by member slot.
    let configured: [Int]
    public private(set) var machines: [Int]
    public private(set) var base: Int
    /// `read_timeout` = `Retry.deadline` = retry_timeout (`set_retry_timeout` updates both).
    public private(set) var retryTimeoutNs: Nanos
    var machinesCacheTTLNs: Nanos
    var machinesCacheUpdated: Nanos = 0
    /// `_update_machines_cache`: the next call first reloads the member list.
    var updateMachinesCache = false
    public private(set) var maxRaftTerm: UInt64 = 0
    var calls: [Call] = []
    var nextReq: UInt32 = 0
    var rng: Rng
    /// urllib3's pool: idle keep-alive connections per member.
    var idle: [[ConnID]]
    /// The watch stream (KVCache), if any.
    public private(set) var watch: Watch? = nil

    public struct Watch: Sendable {
        public var req: UInt32
        public var member: Int
        public var conn: ConnID
        public var established: Bool
        public var lastActivity: Nanos
        var prefix: KeyID
        var fromRevision: Int64
    }

    enum Step: Equatable {
        /// The call's own request (`_do_http_request`).
        case request
        /// `_load_machines_cache` before the request (after a deadline failure).
        case loadMachines
        /// `_refresh_machines_cache` after a failed round, or on `machines_cache_ttl`.
        case refreshMachines(afterRound: Bool)
        /// `_refresh_machines_cache()` inside `_do_http_request` after a success that followed a
        /// failed node: the call returns its answer only once the member list is read (or every
        /// node failed to give it).
        case refreshAfterSuccess
    }

    struct Call {
        var tag: UInt32
        var op: EtcdRequest.Op
        var withRetry: Bool
        var isWrite: Bool
        var deadline: Nanos
        var step: Step = .request
        var nodes: [Int] = []
        var i = 0
        var perNodeNs: Nanos = 0
        var connectNs: Nanos = 0
        var retriesPerNode = 0
        var triesOnNode = 0
        var delay: Double = 0.1
        var someFailed = false
        // The attempt in flight.
        var req: UInt32 = 0
        var conn: ConnID = .none
        var connecting = false
        var attemptStart: Nanos = 0
        var lastReason = ""
        /// The answer held while `refreshAfterSuccess` runs.
        var answer: EtcdResponse? = nil
    }

    /// `members`: the member list the client holds when the run starts; `configured`: the
    /// hosts of its configuration, which it reloads the list from (nil: every member).
    public init(proc: UInt32, members: [Int], configured: [Int]? = nil, retryTimeoutNs: Nanos, ttlSeconds: Int = 30, rng: Rng) {
        self.proc = proc
        self.rng = rng
        self.configured = configured ?? members
        var m = members
        // `_get_machines_list` shuffles the member list it gets back.
        self.rng.shuffle(&m)
        machines = m
        base = m[0]
        self.retryTimeoutNs = retryTimeoutNs
        machinesCacheTTLNs = Nanos(ttlSeconds) * 10 * Time.s
        idle = Array(repeating: [], count: (members.max() ?? 0) + 1)
    }

    /// The client of a new process (the old one crashed or exited): no pooled connections,
    /// no calls, no watch; `__init__` loads the member list from the configured hosts
    /// (`_load_machines_cache`), here at the first call (unless `loadMembers` is false: a
    /// daemon already running when the run starts has its list).
    public func restarted(loadMembers: Bool = true) -> EtcdClient {
        var c = EtcdClient(proc: proc, members: configured, retryTimeoutNs: retryTimeoutNs, rng: rng)
        // One idle pool per member slot of the cluster, not only of the configured hosts.
        c.idle = Array(repeating: [], count: idle.count)
        c.machinesCacheTTLNs = machinesCacheTTLNs
        c.updateMachinesCache = loadMembers
        c.nextReq = nextReq
        return c
    }

    /// Whether a call with this tag is under way.
    public func hasCall(tag: UInt32) -> Bool { calls.contains { $0.tag == tag } }

    /// `machines_cache`: the current node first, then the rest in cache order.
    public var order: [Int] { (machines.contains(base) ? [base] : []) + machines.filter { $0 != base } }

    /// `_calculate_timeouts`: (nodes to try, per-node timeout in seconds, per-node retries).
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

    /// `set_retry_timeout`: the HA loop applies a changed retry_timeout on reload.
    public mutating func setRetryTimeout(_ t: Nanos) { retryTimeoutNs = t }

    /// `set_ttl` also sets `machines_cache_ttl` to ttl × 10.
    public mutating func setTTL(_ ttlSeconds: Int) { machinesCacheTTLNs = Nanos(ttlSeconds) * 10 * Time.s }

    // MARK: - Calls

    /// Starts a logical call (`api_execute`). `tag` identifies it to the owner.
    public mutating func call(_ op: EtcdRequest.Op, tag: UInt32, retry: Bool, _ env: EtcdClientEnv) {
        let isWrite: Bool
        switch op {
        case .put, .delete, .txn, .leaseGrant, .leaseRevoke, .memberAdd, .memberRemove: isWrite = true
        default: isWrite = false
        }
        var c = Call(tag: tag, op: op, withRetry: retry, isWrite: isWrite, deadline: env.now + retryTimeoutNs)
        if updateMachinesCache {
            c.step = .loadMachines
            c.nodes = configured
        } else if env.now - machinesCacheUpdated > machinesCacheTTLNs {
            c.step = .refreshMachines(afterRound: false)
            c.nodes = machines
        }
        if c.step != .request { setTimeouts(&c, nodes: c.nodes.count, timeoutS: Time.seconds(retryTimeoutNs)) } else { beginRound(&c) }
        calls.append(c)
        attempt(calls.count - 1, env)
    }

    /// The first round: every node of `machines_cache`, with the timeouts for that many nodes.
    func beginRound(_ c: inout Call) {
        c.step = .request
        c.nodes = c.withRetry ? order : [base]
        c.i = 0
        setTimeouts(&c, nodes: machines.count, timeoutS: Time.seconds(retryTimeoutNs))
    }

    func setTimeouts(_ c: inout Call, nodes: Int, timeoutS: Double) {
        let (_, per, retries) = Self.calculateTimeouts(nodes: nodes, timeoutS: timeoutS)
        c.perNodeNs = Time.fromSeconds(per)
        c.connectNs = Time.fromSeconds(max(1.0, per / 2))
        c.retriesPerNode = retries
        c.triesOnNode = 0
    }

    /// One HTTP request to the current node: over an idle pooled connection, or a new one.
    mutating func attempt(_ ci: Int, _ env: EtcdClientEnv) {
        nextReq &+= 1
        calls[ci].req = nextReq
        calls[ci].attemptStart = env.now
        let node = calls[ci].nodes[calls[ci].i]
        while let conn = idle[node].popLast() {
            calls[ci].conn = conn
            calls[ci].connecting = false
            sendRequest(ci, env)
            return
        }
        calls[ci].conn = env.etcdConnect(from: proc, toMember: node)
        calls[ci].connecting = true
        env.etcdClientTimer(proc, after: calls[ci].connectNs, .connectTimeout(nextReq))
    }

    mutating func sendRequest(_ ci: Int, _ env: EtcdClientEnv) {
        let c = calls[ci]
        let op: EtcdRequest.Op = c.step == .request ? c.op : .memberList
        env.etcdSend(c.conn, from: proc, EtcdRequest(client: ClientRef(proc: proc, req: c.req, conn: c.conn), op: op))
        // urllib3's total timeout runs from the start of the attempt (connect included).
        env.etcdClientTimer(proc, after: max(0, c.attemptStart + c.perNodeNs - env.now), .readTimeout(c.req))
    }

    /// A connection event from the network.
    public mutating func connectionEvent(_ conn: ConnID, _ e: ConnEvent, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        if let w = watch, w.conn == conn {
            if e == .connected {
                watch!.established = true
                watch!.lastActivity = env.now
                env.etcdSend(conn, from: proc, EtcdRequest(client: ClientRef(proc: proc, req: w.req, conn: conn), op: .watch(w.prefix, fromRevision: w.fromRevision)))
            } else {
                watch = nil
                watchBroken = true
            }
            return nil
        }
        for n in idle.indices { idle[n].removeAll { $0 == conn } }
        guard let ci = calls.firstIndex(where: { $0.conn == conn }) else { return nil }
        switch e {
        case .connected:
            guard calls[ci].connecting else { return nil }
            calls[ci].connecting = false
            sendRequest(ci, env)
            return nil
        case .refused, .timedOut:
            return failed(ci, reason: "connection refused", connectError: true, env)
        case .reset:
            return failed(ci, reason: "connection reset by peer", connectError: false, env)
        }
    }

    /// Set when the watch stream died on its own (a reset, a refused connect): the owner
    /// rebuilds the cache.
    public var watchBroken = false

    /// A response arrived. Returns the completed call, if this finished one.
    public mutating func receive(_ r: EtcdResponse, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        if let w = watch, w.req == r.req {
            watch!.lastActivity = env.now
            return nil
        }
        guard let ci = calls.firstIndex(where: { $0.req == r.req }) else { return nil }
        let node = calls[ci].nodes[calls[ci].i]
        if case .error(let e) = r.result, e.isUnavailable || e == .stopping {
            // `_handle_server_response`: Unavailable is re-raised as socket.timeout.
            idle[node].append(calls[ci].conn)
            return failed(ci, reason: e.message, connectError: false, env)
        }
        if r.raftTerm > 0 && r.raftTerm < maxRaftTerm {
            idle[node].append(calls[ci].conn)
            return failed(ci, reason: "StaleEtcdNode: raft_term \(r.raftTerm) < \(maxRaftTerm)", connectError: false, env)
        }
        maxRaftTerm = max(maxRaftTerm, r.raftTerm)
        idle[node].append(calls[ci].conn)
        switch calls[ci].step {
        case .request:
            if calls[ci].someFailed {
                setBase(node)
                // `set_base_uri(base_uri); self._refresh_machines_cache()` before returning: one
                // member-list request per node of the (set-ordered) cache until one answers.
                var list = machines
                rng.shuffle(&list)
                calls[ci].answer = r
                calls[ci].step = .refreshAfterSuccess
                calls[ci].nodes = list
                calls[ci].i = 0
                var c = calls[ci]
                setTimeouts(&c, nodes: list.count, timeoutS: Time.seconds(retryTimeoutNs))
                calls[ci] = c
                attempt(ci, env)
                return nil
            }
            let c = calls.remove(at: ci)
            return (c.tag, .success(r))
        case .loadMachines, .refreshMachines, .refreshAfterSuccess:
            if case .members(let mask) = r.result { adoptMembers(mask, env) }
            return machinesStepDone(ci, ok: true, env)
        }
    }

    /// `_get_machines_list`: a member list (shuffled) becomes `machines_cache`.
    mutating func adoptMembers(_ mask: UInt16, _ env: EtcdClientEnv) {
        var m = (0..<16).filter { mask & (1 << $0) != 0 && $0 < idle.count }
        guard !m.isEmpty else { return }
        rng.shuffle(&m)
        machines = m
        machinesCacheUpdated = env.now
        if !machines.contains(base) { setBase(machines[0]) }
    }

    /// A member-list step finished (`ok`: a node answered; false: every node failed).
    mutating func machinesStepDone(_ ci: Int, ok: Bool, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        switch calls[ci].step {
        case .loadMachines:
            if !ok {
                // api_execute: "No more machines in the cluster" before the request was sent.
                let c = calls.remove(at: ci)
                return (c.tag, .failure(reason: "Could not get the list of servers; No more machines in the cluster", indeterminate: false))
            }
            updateMachinesCache = false
            var c = calls[ci]
            beginRound(&c)
            calls[ci] = c
            attempt(ci, env)
            return nil
        case .refreshMachines(let afterRound):
            if afterRound {
                // `_load_machines_cache` sets `_update_machines_cache` first and clears it only
                // when the list was read: a failed reload makes the next call reload first.
                updateMachinesCache = !ok
                return sleepOrGiveUp(ci, env)
            }
            var c = calls[ci]
            beginRound(&c)
            calls[ci] = c
            attempt(ci, env)
            return nil
        case .refreshAfterSuccess:
            let c = calls.remove(at: ci)
            return (c.tag, .success(c.answer!))
        case .request:
            return nil
        }
    }

    public mutating func timer(_ t: EtcdClientTimer, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        switch t {
        case .connectTimeout(let req):
            guard let ci = calls.firstIndex(where: { $0.req == req }), calls[ci].connecting else { return nil }
            env.etcdClose(calls[ci].conn)
            return failed(ci, reason: "connect timeout", connectError: true, env)
        case .readTimeout(let req):
            guard let ci = calls.firstIndex(where: { $0.req == req }), !calls[ci].connecting else { return nil }
            env.etcdClose(calls[ci].conn)
            return failed(ci, reason: "read timeout", connectError: false, env)
        case .retrySleep(let tag):
            guard let ci = calls.firstIndex(where: { $0.tag == tag }) else { return nil }
            attempt(ci, env)
            return nil
        case .keepalive: return nil
        }
    }

    /// One attempt failed: the same node again (a connect error, within urllib3's retries),
    /// the next node, the member-list refresh, a sleep, or the end of the call.
    mutating func failed(_ ci: Int, reason: String, connectError: Bool, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        calls[ci].lastReason = reason
        if connectError && calls[ci].triesOnNode < calls[ci].retriesPerNode {
            calls[ci].triesOnNode += 1
            attempt(ci, env)
            return nil
        }
        clearPool(env)
        let c = calls[ci]
        switch c.step {
        case .loadMachines, .refreshMachines, .refreshAfterSuccess:
            if c.i + 1 < c.nodes.count {
                calls[ci].i += 1
                calls[ci].triesOnNode = 0
                attempt(ci, env)
                return nil
            }
            return machinesStepDone(ci, ok: false, env)
        case .request:
            break
        }
        if !c.withRetry {
            // Without a retry: move base_uri on (or restart the watcher with one node) and raise.
            if machines.count == 1 { restartWatcher() } else if let k = order.firstIndex(of: c.nodes[c.i]), k + 1 < order.count { setBase(order[k + 1]) }
            calls.remove(at: ci)
            return (c.tag, .failure(reason: reason, indeterminate: c.isWrite))
        }
        calls[ci].someFailed = true
        if c.i + 1 < c.nodes.count {
            calls[ci].i += 1
            calls[ci].triesOnNode = 0
            attempt(ci, env)
            return nil
        }
        // EtcdConnectionFailed: reload the member list from the configured hosts and the cache,
        // with the timeouts for that many nodes, before sleeping.
        // `_get_machines_list(list(set(config + cache)))`: Python's set order, here a shuffle.
        var list = configured
        for m in machines where !list.contains(m) { list.append(m) }
        rng.shuffle(&list)
        calls[ci].step = .refreshMachines(afterRound: true)
        calls[ci].nodes = list
        calls[ci].i = 0
        var c2 = calls[ci]
        setTimeouts(&c2, nodes: list.count, timeoutS: Time.seconds(retryTimeoutNs))
        calls[ci] = c2
        attempt(ci, env)
        return nil
    }

    /// After a failed round and its member-list refresh: `retry.sleeptime`, then a round on as
    /// many nodes as the time left allows, or the end of the call.
    mutating func sleepOrGiveUp(_ ci: Int, _ env: EtcdClientEnv) -> (tag: UInt32, outcome: CallOutcome)? {
        let c = calls[ci]
        let sleep = c.delay + Double(rng.below(81)) / 100
        let remaining = Time.seconds(c.deadline - env.now) - sleep
        let (n, per, retries) = Self.calculateTimeouts(nodes: machines.count, timeoutS: remaining)
        if n == 0 {
            updateMachinesCache = true
            restartWatcher()   // set_base_uri(self._base_uri) restarts the watcher
            calls.remove(at: ci)
            return (c.tag, .failure(reason: "\(c.lastReason); No more machines in the cluster (retry deadline)", indeterminate: c.isWrite))
        }
        calls[ci].step = .request
        calls[ci].nodes = Array(order.prefix(n))
        calls[ci].i = 0
        calls[ci].perNodeNs = Time.fromSeconds(per)
        calls[ci].connectNs = Time.fromSeconds(max(1.0, per / 2))
        calls[ci].retriesPerNode = retries
        calls[ci].triesOnNode = 0
        calls[ci].delay = min(c.delay * 2, 1.0)
        env.etcdClientTimer(proc, after: Time.fromSeconds(sleep), .retrySleep(c.tag))
        return nil
    }

    /// `http.clear()`: idle pooled connections are closed (the watch's stream is in use, not
    /// in the pool, and survives).
    mutating func clearPool(_ env: EtcdClientEnv) {
        for n in idle.indices {
            for conn in idle[n] { env.etcdClose(conn) }
            idle[n].removeAll()
        }
    }

    mutating func setBase(_ node: Int) {
        guard node != base else { return }
        base = node
        restartWatcher()
    }

    /// `PatroniEtcd3Client.set_base_uri` → `_restart_watcher`: the watch stream is killed; the
    /// cache is rebuilt.
    mutating func restartWatcher() {
        if watch != nil { watchBroken = true }
        watch = nil
    }

    // MARK: - Watch stream

    /// Opens the watch on the current node over its own connection (`watchprefix` without a
    /// timeout). Returns its request id.
    public mutating func startWatch(prefix: KeyID, fromRevision: Int64, _ env: EtcdClientEnv) -> UInt32 {
        nextReq &+= 1
        let conn = env.etcdConnect(from: proc, toMember: base)
        watch = Watch(req: nextReq, member: base, conn: conn, established: false, lastActivity: env.now, prefix: prefix, fromRevision: fromRevision)
        watchBroken = false
        return nextReq
    }

    /// The owner gave the watch up (or rebuilds the cache).
    public mutating func dropWatch(_ env: EtcdClientEnv) {
        if let w = watch { env.etcdClose(w.conn) }
        watch = nil
        watchBroken = false
    }

    /// Patroni's `enable_keepalive(sock, ttl, loop_wait + retry_timeout)`: after `idleNs`
    /// without data the kernel probes every `intervalNs`; 3 unanswered probes kill the socket.
    /// Returns true when the watch is now dead.
    public mutating func keepaliveProbe(req: UInt32, failures: Int, idleNs: Nanos, intervalNs: Nanos, _ env: EtcdClientEnv) -> Bool {
        guard let w = watch, w.req == req, w.established else { return false }
        if env.etcdProbe(w.conn, from: proc) {
            let next = max(idleNs, w.lastActivity + idleNs - env.now)
            env.etcdClientTimer(proc, after: next, .keepalive(req, failures: 0))
            return false
        }
        if failures + 1 >= 3 {
            env.etcdClose(w.conn)
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
