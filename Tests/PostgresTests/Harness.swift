import Settings
import SimCore
import SimNet
import Recording
@testable import Postgres

enum PEv {
    case pg(PgInput)
    case client(PgMessage)
    case clientConn(ConnID, ConnEvent)
    case net(NetTimer)
}

/// PostgreSQL servers on hosts 0..<n and one test client on host n, over the real kernel and
/// fabric. The client has one session per server and counts what it gets back.
final class PgHarness: PgEnv, EventHandler {
    typealias Payload = PEv
    let kernel = Kernel<PEv>()
    let fabric: Fabric<PEv>
    let recorder = Recorder()
    var nodes: [PgInstance] = []
    var procs: [UInt32] = []
    let client: UInt32
    var notes: [(Int, PgNotification)] = []
    var results: [UInt32: (Nanos, QueryStatus, WalPosition)] = [:]
    var closed: [(Nanos, UInt32)] = []
    var sent: [UInt32: Nanos] = [:]
    /// The client's connection of each session id.
    var sessions: [UInt32: ConnID] = [:]

    init(n: Int = 2, config: PgConfig = PgConfig(), seed: UInt64 = 1, latency: Latency = Latency(.constant(250 * Time.us))) {
        let streams = RandomStreams(seed: seed)
        fabric = Fabric(network: Network(hostCount: n + 1, defaultLink: LinkSpec(latency: latency)), kernel: kernel, seed: streams.subseed("net"), timer: { .net($0) })
        let root = walHistory.newFork(parent: nil, switchLsn: 0, timeline: 1, host: "pg0", at: 0)
        for i in 0..<n {
            procs.append(kernel.spawn(host: UInt32(i)))
            var pg = PgInstance(node: i, config: config, rng: streams.stream("pg\(i)"))
            pg.seed(fork: root, timeline: 1, lsn: 50 << 20, primary: i == 0)
            nodes.append(pg)
        }
        client = kernel.spawn(host: UInt32(n))
        kernel.start(client)
    }

    var now: Nanos { kernel.now }

    func handle(_ e: Event<PEv>, kernel: Kernel<PEv>) {
        switch e.payload {
        case .pg(let input):
            let i = procs.firstIndex(of: e.target)!
            nodes[i].handle(input, self)
        case .client(let m):
            switch m {
            case .result(_, let id, let status, let at, _): results[id] = (now, status, at)
            case .closed(let s, _): closed.append((now, s))
            default: break
            }
        case .clientConn: break
        case .net(let t): fabric.handle(t)
        }
    }
    func traceKey(_ p: PEv) -> UInt64 { 0 }

    // MARK: PgEnv
    @discardableResult func pgTimer(_ node: Int, after: Nanos, _ t: PgTimer) -> TimerToken { kernel.schedule(after: after, to: procs[node], .pg(.timer(t))) }
    func pgCancel(_ t: TimerToken) { kernel.cancel(t) }
    func pgSend(_ c: ConnID, from node: Int, _ m: PgMessage, transmitNs: Nanos) {
        let me = procs[node]
        guard let peer = fabric.peer(c, of: me) else { return }
        fabric.send(c, from: me, peer == client ? .client(m) : .pg(.message(c, m)), transmitNs: transmitNs)
    }
    func pgConnect(from node: Int, to other: Int) -> ConnID {
        let c = fabric.newConnection(from: procs[node], to: procs[other])
        fabric.setResets(c, toA: .pg(.conn(c, .reset)), toB: .pg(.conn(c, .reset)))
        fabric.connect(c, onConnected: .pg(.conn(c, .connected)), onRefused: .pg(.conn(c, .refused)), onTimedOut: .pg(.conn(c, .timedOut)))
        return c
    }
    func pgClose(_ c: ConnID) { fabric.close(c) }
    func pgNotify(_ node: Int, _ n: PgNotification) { notes.append((node, n)) }
    var answers: [(node: Int, query: UInt32, view: PgView)] = []
    func pgAnswer(_ node: Int, query: UInt32, _ view: PgView) { answers.append((node, query, view)) }
    let walHistory = WalHistory()
    let walArchive = WalArchive()
    func pgCommitted(_ node: Int, query: UInt32, at: WalPosition) {
        guard Int(query) < recorder.writes.count else { return }
        recorder.writes[Int(query)].committedHost = Int16(node)
        recorder.writes[Int(query)].committedAt = at
    }
    func pgSyncConfirmed(query: UInt32) { if Int(query) < recorder.writes.count { recorder.writes[Int(query)].syncConfirmed = true } }
    /// The harness sets synchronous_standby_names directly; a reload request rereads this.
    var configuredSyncNames: [Int: SyncStandbyNames] = [:]
    func pgConfiguredSyncNames(_ node: Int) -> SyncStandbyNames { configuredSyncNames[node] ?? .none }
    func pgName(_ node: Int) -> String { "pg\(node)" }


    // MARK: Control
    func run(until t: Nanos) {
        var me = self
        kernel.run(until: t, handler: &me)
    }
    func run(for d: Nanos) { run(until: now + d) }

    func start(_ i: Int, standbyOf up: Int? = nil) {
        kernel.start(procs[i])
        nodes[i].start(asStandby: up != nil, upstream: up, self)
        fabric.setListening(procs[i], true)
    }
    /// Starts node 0 as primary and the rest as its standbys; opens a client session to each.
    func startCluster() {
        start(0)
        for i in 1..<nodes.count { start(i, standbyOf: 0) }
        run(for: 3 * Time.s)
        for i in nodes.indices { connectSession(UInt32(i), on: i) }
        run(for: 100 * Time.ms)
    }
    func crash(_ i: Int) {
        kernel.stop(procs[i])
        fabric.setListening(procs[i], false)
        nodes[i].crash(self)
        fabric.processDied(procs[i])
    }
    /// A write on node `i`'s session; returns its id (a recorder write).
    /// A write on node `i`, on its default session or on `session`; returns its id.
    @discardableResult
    func write(on i: Int = 0, session: UInt32? = nil, bytes: Int32 = 1000) -> UInt32 {
        let id = recorder.newWrite(client: 0, directHost: Int16(i), at: now, bytes: bytes)
        sent[id] = now
        clientSend(session ?? UInt32(i), .query(session: session ?? UInt32(i), id: id, bytes: bytes, write: true))
        return id
    }

    /// Sends a client message on a session's connection.
    func clientSend(_ s: UInt32, _ m: PgMessage) {
        guard let c = sessions[s] else { return }
        fabric.send(c, from: client, .pg(.message(c, m)))
    }

    /// Opens a connection to node `i` for session `s` and sends its startup packet once it is
    /// established (the client's side of the protocol, without waiting).
    func connectSession(_ s: UInt32, on i: Int) {
        let c = fabric.newConnection(from: client, to: procs[i])
        fabric.setResets(c, toA: .clientConn(c, .reset), toB: .pg(.conn(c, .reset)))
        fabric.connect(c, onConnected: .clientConn(c, .connected), onRefused: .clientConn(c, .refused))
        sessions[s] = c
        run(for: 10 * Time.ms)
        fabric.send(c, from: client, .pg(.message(c, .startup(session: s))))
    }

    func openSession(_ s: UInt32, on i: Int) {
        connectSession(s, on: i)
        run(for: 10 * Time.ms)
    }
    func latency(_ id: UInt32) -> Nanos? { results[id].map { $0.0 - sent[id]! } }
}

