import SimCore
import Settings
import SimNet
import Recording
import Scenario
import Etcd
import Postgres
import Patroni
import Traffic

/// The simulated cluster: hosts and processes built from a scenario, running on one kernel.
///
/// The world owns every model's state (value types in arrays indexed by small ids), routes every
/// event to its model with one `switch`, carries messages between processes over the `Fabric`
/// (latency, partitions, refused-versus-silent connects), applies the scenario's faults, and
/// records the timeline. Models never call each other: they ask the world, through their
/// environment protocols, to send a message or set a timer.
public final class Simulation {
    public let scenario: Scenario
    public let kernel: Kernel<Ev>
    public let fabric: Fabric<Ev>
    public let rec: Recorder
    /// Keep every write's record in full (for `--writes` and for tests that read single
    /// writes); by default the writes the findings need only as counts are folded.
    public var keepEveryWrite = false
    let streams: RandomStreams
    var faultRng: Rng

    /// Per host: name, power, and its processes by service.
    struct HostState {
        var name: String
        var up = true
        var procs: [(Service, UInt32)] = []
    }
    var hosts: [HostState] = []

    /// Per process: which service, on which host, and the index of its model in that service's array.
    struct ProcInfo {
        var service: Service
        var host: Int
        var model: Int
    }
    var procs: [ProcInfo] = []

    /// Active `for:` undo records, by fault index.
    var undo: [Int: FaultUndo] = [:]
    var noise = NoiseRuntime()
    var faultRecordIndex: [Int: Int] = [:]
    /// Processes stopping gracefully that start again once stopped (`restart: host/process`).
    var pendingRestart: Set<UInt32> = []

    // MARK: Models (value types in arrays, by small ids)
    var etcdShared: EtcdShared!
    var etcd: [EtcdMember] = []
    var etcdProc: [UInt32] = []
    var etcdNames: [String] = []
    var pg: [PgInstance] = []
    var pgProc: [UInt32] = []
    var dbHost: [Int] = []
    var dbNames: [String] = []
    var patroni: [PatroniNode] = []
    var patroniProc: [UInt32] = []
    var pValues: PatroniValues!
    var keys: ClusterKeys!
    /// Every WAL history the servers have written (their state; recorded at the end).
    public let walHistory = WalHistory()
    public let walArchive = WalArchive()
    /// Each server's `synchronous_standby_names` as Patroni last wrote it (its postgresql.conf).
    var configuredSyncNames: [SyncStandbyNames] = []
    var dcsObserver: DCSObserver!
    var watchdogs: [WatchdogDevice] = []
    /// By DB node: joins mid-run (absent at the start).
    var joining: [Bool] = []
    /// Each DB node's answers from PostgreSQL to its Patroni, in flight (bounded:
    /// `pgAnswerLimit`).
    var pgAnswers: [[(id: UInt32, view: PgView)]] = []
    var rootFork: UInt32 = 0
    var initialPrimaryNode = 0
    var initialSync: [Int] = []
    /// Configurations sent by `edit_config` faults, by index.
    var editedConfigs: [PatroniConfig] = []
    /// Tags sent by `set_tags` faults, by index.
    var editedTags: [PatroniConfig.Tags] = []
    var patroniStartRng: Rng
    var pendingEtcdRejoin: Set<UInt32> = []
    /// rafthttp streams, by `from * members + to`.
    /// Each etcd member's rafthttp transport to its peers.
    var transports: [RaftTransport] = []
    /// Processes stopping gracefully that exit once their model says it is done.
    var pendingProcessStop: Set<UInt32> = []
    /// The operator's etcdctl commands awaiting an answer, by request id (1-based).
    var etcdctlCommands: [EtcdRequest.Op] = []
    /// The address etcd answers the operator's etcdctl at (not a process of the cluster).
    static let etcdctlProc = UInt32.max - 1
    // Traffic
    var proxies: [Proxy] = []
    var proxyProc: [UInt32] = []
    /// PgBouncer processes (read by routing while a bouncer model may be mid-update).
    var bouncerProc: [UInt32] = []
    var keepaliveds: [Keepalived] = []
    var bouncers: [PgBouncer] = []
    var clientModels: [Clients] = []
    var monitors: [Monitor] = []
    var clientHosts: [(UInt32, Int)] = []
    /// The keepalived process whose host holds the virtual IP.
    var vipHolder: UInt32? = nil

    /// Bound on processed events (a model bug must not hang a sweep).
    public var maxEvents: UInt64 = 2_000_000_000
    /// The wall-time budget of one run, in seconds of the `wallClock` given to `run`.
    public var maxWallSeconds: Double = 600
    public var traceSink: ((Nanos, UInt32, Ev) -> Void)? = nil
    /// Checked every million events or so: true ends the run early (interrupted).
    public var shouldStop: (() -> Bool)? {
        get { kernel.shouldStop }
        set { kernel.shouldStop = newValue }
    }

    public init(scenario s: Scenario, seed: UInt64? = nil) {
        scenario = s
        rec = Recorder(durationNs: s.durationNs)
        streams = RandomStreams(seed: seed ?? s.seed)
        faultRng = streams.stream("faults")
        patroniStartRng = streams.stream("patroni-start")
        kernel = Kernel<Ev>(capacity: 8192)
        var net = Network(hostCount: s.topology.hosts.count, defaultLink: LinkSpec(latency: s.network.latency, loss: s.network.loss))
        for l in s.network.links {
            guard let a = s.topology.index(of: l.from), let b = s.topology.index(of: l.to) else { continue }
            var spec = net.link(a, b)
            if let lat = l.latency { spec.latency = lat }
            if let loss = l.loss { spec.loss = loss }
            net.setLink(a, b, spec)
            if l.bothWays { net.setLink(b, a, spec) }
        }
        fabric = Fabric(network: net, kernel: kernel, seed: streams.subseed("net"), timer: { .net($0) })
        build()
    }

    func build() {
        prepareModels()
        for (hi, h) in scenario.topology.hosts.enumerated() {
            var hs = HostState(name: h.name)
            for svc in h.services {
                let p = kernel.spawn(host: UInt32(hi))
                procs.append(ProcInfo(service: svc, host: hi, model: addModel(svc, host: hi, proc: p)))
                hs.procs.append((svc, p))
                fabric.listen(p, backlog: listenBacklog(svc))
            }
            hosts.append(hs)
        }
        transports = etcdProc.indices.map { RaftTransport(member: $0, members: etcdProc.count, electionTimeoutNs: scenario.etcd.electionTimeoutNs) }
        seedSteadyState()
        wireTraffic()
        for (i, f) in scenario.faults.enumerated() {
            let jitter = f.jitterNs > 0 ? faultRng.int(0, f.jitterNs) : 0
            kernel.schedule(at: f.atNs + jitter, to: Kernel<Ev>.world, .fault(i))
        }
        scheduleNoise()
    }

    /// Each service's listen backlog (the accept queue a frozen process leaves to its kernel):
    /// Patroni's REST API `request_queue_size`; the postmaster 2 × max_connections (pqcomm.c);
    /// etcd and the proxies the kernel's `somaxconn` (4096, Go's and HAProxy's default);
    /// PgBouncer's `listen_backlog` (128).
    func listenBacklog(_ svc: Service) -> Int {
        let somaxconn = 4096
        switch svc {
        case .patroni: return scenario.patroni.requestQueueSize
        case .postgres: return min(2 * scenario.postgresql.maxConnections, somaxconn)
        case .pgbouncer: return 128
        default: return somaxconn
        }
    }

    // MARK: - Queries used by models and faults

    public func hostName(_ h: Int) -> String { hosts[h].name }
    public func hostIndex(_ name: String) -> Int? { hosts.firstIndex { $0.name == name } }
    func host(of p: UInt32) -> Int { procs[Int(p)].host }
    func proc(_ host: Int, _ svc: Service) -> UInt32? { hosts[host].procs.first { $0.0 == svc }?.1 }
    public var now: Nanos { kernel.now }

    // MARK: - Running

    /// Runs the scenario to its end and returns what happened.
    public func run(wallClock: @escaping () -> Double = { 0 }) -> RunRecord {
        let started = wallClock()
        // The wall-time budget, checked with the interrupt at each stall checkpoint.
        let userStop = kernel.shouldStop
        let budget = maxWallSeconds
        var overWall = false
        var tableLimit: String? = nil
        let shared = etcdShared!, values = pValues!
        kernel.shouldStop = {
            if wallClock() - started > budget { overWall = true; return true }
            if let l = shared.limitHit ?? values.limitHit { tableLimit = l; return true }
            return userStop?() ?? false
        }
        defer { kernel.shouldStop = userStop }
        if !keepEveryWrite { rec.durableLimit = { [unowned self] fork in self.durableLimit(fork) } }
        startAll()
        var handler = Dispatcher(sim: Unmanaged.passUnretained(self), tracing: traceSink != nil)
        let reason = withExtendedLifetime(self) { kernel.run(until: scenario.durationNs, maxEvents: maxEvents, handler: &handler) }
        let aborted = tableLimit.map { "stopped at \(DurationText.seconds3(kernel.now))s of simulated time: \($0)" } ?? (overWall
            ? "stopped after \(DurationText.seconds3(Nanos(min(budget, 1e9) * 1e9))) s of wall time at \(DurationText.seconds3(kernel.now))s of simulated time (the wall-time budget; raise it with --max-wall)"
            : abortMessage(reason))
        var record = RunRecord(scenario: scenario.name, seed: streams.seed, durationNs: scenario.durationNs, events: kernel.processed,
                               traceHash: kernel.trace.hex, wallSeconds: wallClock() - started, hosts: hosts.map(\.name),
                               recorder: rec, forks: walHistory.forks, finalPg: finalPgStates(), aborted: aborted)
        record.interrupted = reason == .interrupted && !overWall && tableLimit == nil
        return record
    }

    /// Why a run ended early, naming what it was doing: the processes and event kinds that
    /// dominate the pending events.
    func abortMessage(_ reason: Kernel<Ev>.StopReason) -> String? {
        let what: String
        switch reason {
        case .reachedEnd, .queueEmpty: return nil
        case .eventLimit: what = "stopped after \(kernel.processed) events (the event limit; raise it with --max-events)"
        case .stalled:
            what = "virtual time stopped advancing at \(DurationText.seconds3(kernel.now))s: \(kernel.stallEvents) events within \(DurationText.format(kernel.stallWindowNs)) of simulated time (a livelock)"
        case .queueLimit:
            what = "more than \(kernel.queueLimit) events pending at \(DurationText.seconds3(kernel.now))s (an event storm)"
        case .interrupted:
            return "interrupted at \(DurationText.seconds3(kernel.now))s of simulated time"
        }
        var counts: [String: Int] = [:]
        for e in kernel.peekEarliest(4096) {
            let who = e.target == Kernel<Ev>.world ? "world" : procName(e.target)
            counts["\(who) \(e.payload.kindName)", default: 0] += 1
        }
        let top = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(3).map { "\($0.key) ×\($0.value)" }
        return what + (top.isEmpty ? "" : "; looping: " + top.joined(separator: ", "))
    }

    func startAll() {
        // A member that joins later: its host is off until its add_replica fault.
        for (n, j) in joining.enumerated() where j {
            let h = dbHost[n]
            hosts[h].up = false
            fabric.setHostUp(h, false)
        }
        for p in 0..<procs.count where hosts[host(of: UInt32(p))].up { startProcess(UInt32(p), initial: true) }
    }
}

/// The kernel's handler: one `switch` over the payload.
struct Dispatcher: EventHandler {
    // Unmanaged and borrowed per call: the simulation outlives its run loop, and both a strong
    // and an unowned reference cost a retain/release pair on every event.
    let sim: Unmanaged<Simulation>
    let tracing: Bool
    func handle(_ e: Event<Ev>, kernel: Kernel<Ev>) {
        sim._withUnsafeGuaranteedRef { sim in
            if tracing, let sink = sim.traceSink { sink(e.time, e.target, e.payload) }
            sim.dispatch(e)
        }
    }
    func traceKey(_ p: Ev) -> UInt64 { p.traceKey }
}
