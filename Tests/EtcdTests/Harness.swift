import Settings
import SimCore
import SimNet
import Recording
@testable import Etcd

/// A small world for etcd alone: members on hosts 0..<n, test clients on host n, the real
/// kernel and fabric between them.
enum HEv {
    case member(EtcdInput)
    case response(EtcdResponse)
    case clientConn(ConnID, ConnEvent)
    case clientTimer(EtcdClientTimer)
    case stream(from: Int, to: Int, ConnID, ConnEvent)
    case net(NetTimer)
}

final class EtcdHarness: EtcdEnv, EtcdClientEnv, EventHandler {
    typealias Payload = HEv
    let kernel = Kernel<HEv>()
    let fabric: Fabric<HEv>
    let rec = Recorder()
    let shared: EtcdShared
    var members: [EtcdMember] = []
    var memberProc: [UInt32] = []
    var clients: [EtcdClient] = []
    var clientProc: [UInt32] = []
    var results: [UInt32: CallOutcome] = [:]
    var watched: [(Nanos, WatchEvent)] = []
    var nextTag: UInt32 = 0
    var exited: [Int] = []
    /// Refused connects delivered to the clients.
    var refusals = 0
    /// Raft's stream per ordered member pair (rafthttp: one connection per direction; a
    /// message while it is down is dropped and the stream redialled; writes stuck for 5 s
    /// close it).
    var streams: [Int: (conn: ConnID, heldSince: Nanos, dialStarted: Nanos)] = [:]

    init(n: Int = 3, config: EtcdConfig = EtcdConfig(), seed: UInt64 = 1, latency: Latency = Latency(.lognormal(median: 250 * Time.us, sigma: 0.3), floorNs: 50 * Time.us), clients nc: Int = 1, retryTimeout: Nanos = 10 * Time.s) {
        let streams = RandomStreams(seed: seed)
        let net = Network(hostCount: n + 1, defaultLink: LinkSpec(latency: latency))
        fabric = Fabric(network: net, kernel: kernel, seed: streams.subseed("net"), timer: { .net($0) })
        shared = EtcdShared(config: config, names: (0..<n).map { "e\($0 + 1)" }, recorder: rec)
        for i in 0..<n {
            memberProc.append(kernel.spawn(host: UInt32(i)))
            members.append(EtcdMember(slot: i, shared: shared, rng: streams.stream("host/e\(i + 1)/etcd")))
        }
        for c in 0..<nc {
            let p = kernel.spawn(host: UInt32(n))
            clientProc.append(p)
            kernel.start(p)
            clients.append(EtcdClient(proc: p, members: Array(0..<n), retryTimeoutNs: retryTimeout, rng: streams.stream("client\(c)")))
        }
        for i in 0..<n { startMember(i) }
    }

    var now: Nanos { kernel.now }

    // MARK: EventHandler

    func handle(_ e: Event<HEv>, kernel: Kernel<HEv>) {
        switch e.payload {
        case .member(let input):
            let i = memberProc.firstIndex(of: e.target)!
            members[i].handle(input, self)
        case .response(let r):
            let c = clientProc.firstIndex(of: e.target)!
            if case .watchEvent(let ev) = r.result { watched.append((now, ev)) }
            if let done = clients[c].receive(r, self) { results[done.tag] = done.outcome }
        case .clientConn(let conn, let ev):
            let c = clientProc.firstIndex(of: e.target)!
            if ev == .refused { refusals += 1 }
            if let d = clients[c].connectionEvent(conn, ev, self) { results[d.tag] = d.outcome }
        case .stream(let f, let t, let conn, let ev):
            if ev != .connected, streams[f * 64 + t]?.conn == conn { fabric.close(conn); streams[f * 64 + t] = nil }
        case .net(let t): fabric.handle(t)
        case .clientTimer(let t):
            let c = clientProc.firstIndex(of: e.target)!
            if let d = clients[c].timer(t, self) { results[d.tag] = d.outcome }
        }
    }

    func traceKey(_ p: HEv) -> UInt64 {
        switch p {
        case .member(let i):
            switch i {
            case .peer(let m): return UInt64(m.type.rawValue) << 48 | m.term
            case .timer: return 1
            case .request(let r): return 2 | UInt64(r.client.req) << 8
            }
        case .response(let r): return 3 | UInt64(r.req) << 8
        case .clientConn(let c, let ev): return 4 | UInt64(ev.rawValue) << 8 | UInt64(c.slot) << 16
        case .clientTimer: return 5
        case .stream(let f, let t, _, let ev): return 6 | UInt64(f) << 8 | UInt64(t) << 16 | UInt64(ev.rawValue) << 24
        case .net(let t): return 7 | UInt64(t.conn.slot) << 8
        }
    }

    // MARK: EtcdEnv

    func etcdPeerSend(from: Int, to: Int, _ m: RaftMessage) {
        let k = from * 64 + to, fp = memberProc[from], tp = memberProc[to]
        if let s = streams[k], fabric.isOpen(s.conn) {
            switch fabric.send(s.conn, from: fp, .member(.peer(m))) {
            case .arrives: streams[k]?.heldSince = -1
            case .held:
                if s.heldSince < 0 { streams[k]?.heldSince = now } else if now - s.heldSince >= 5 * Time.s { fabric.close(s.conn); streams[k] = nil }
            case .dropped: streams[k] = nil
            }
            return
        }
        // A dial is abandoned after rafthttp's dial timeout (1 s + election timeout / 5).
        if let s = streams[k], fabric.isConnecting(s.conn) {
            if now - s.dialStarted < Time.s + shared.config.electionTimeoutNs / 5 { return }
            fabric.close(s.conn)
        }
        let c = fabric.newConnection(from: fp, to: tp)
        fabric.setResets(c, toA: .stream(from: from, to: to, c, .reset), toB: nil)
        fabric.connect(c, onConnected: .stream(from: from, to: to, c, .connected), onRefused: .stream(from: from, to: to, c, .refused),
                       onTimedOut: .stream(from: from, to: to, c, .timedOut))
        streams[k] = (c, -1, now)
    }
    func etcdTimer(_ member: Int, after: Nanos, _ t: EtcdTimer) { kernel.schedule(after: after, to: memberProc[member], .member(.timer(t))) }
    func etcdRespond(_ member: Int, to c: ClientRef, _ r: EtcdResponse) { fabric.send(c.conn, from: memberProc[member], .response(r)) }
    func etcdActivePeers(_ member: Int) -> Int {
        memberProc.indices.filter { $0 != member && kernel.status(of: memberProc[$0]) != .down && fabric.net.canReach(member, $0) && fabric.net.canReach($0, member) }.count
    }
    func etcdExited(_ member: Int) {
        exited.append(member)
        kernel.stop(memberProc[member])
        fabric.processDied(memberProc[member])
    }
    func etcdPanicked(_ member: Int, _ message: String) {
        kernel.stop(memberProc[member])
        fabric.processDied(memberProc[member])
    }

    // MARK: EtcdClientEnv

    func etcdConnect(from proc: UInt32, toMember slot: Int) -> ConnID {
        let c = fabric.newConnection(from: proc, to: memberProc[slot])
        fabric.setResets(c, toA: .clientConn(c, .reset), toB: nil)
        fabric.connect(c, onConnected: .clientConn(c, .connected), onRefused: .clientConn(c, .refused), onTimedOut: .clientConn(c, .timedOut))
        return c
    }
    func etcdSend(_ c: ConnID, from proc: UInt32, _ r: EtcdRequest) { fabric.send(c, from: proc, .member(.request(r))) }
    func etcdClose(_ c: ConnID) { fabric.close(c) }
    func etcdProbe(_ c: ConnID, from proc: UInt32) -> Bool { fabric.probe(c, from: proc) }
    func etcdClientTimer(_ proc: UInt32, after: Nanos, _ t: EtcdClientTimer) { kernel.schedule(after: after, to: proc, .clientTimer(t)) }

    // MARK: Control

    func run(until t: Nanos) { var me = self; kernel.run(until: t, handler: &me) }
    func run(for d: Nanos) { run(until: now + d) }

    func startMember(_ i: Int) {
        kernel.start(memberProc[i])
        members[i].start(self)
    }
    func crash(_ i: Int) {
        kernel.stop(memberProc[i])
        members[i].crash()
        fabric.setHostUp(i, false)
        fabric.processDied(memberProc[i])
    }
    func restart(_ i: Int) {
        fabric.setHostUp(i, true)
        startMember(i)
    }
    func pause(_ i: Int) { kernel.pause(memberProc[i]) }
    func resume(_ i: Int) { kernel.resume(memberProc[i]) }
    /// Cuts host `i` from every other host, both ways.
    func isolate(_ i: Int) {
        for o in 0..<fabric.net.hostCount where o != i { fabric.cut(i, o); fabric.cut(o, i) }
    }
    func heal() { fabric.healAll() }

    var leaders: [Int] { members.indices.filter { members[$0].isLeader } }
    func leader() -> Int? { leaders.count == 1 ? leaders[0] : nil }

    /// Runs until exactly one leader exists (or the limit); returns when it appeared.
    func awaitLeader(limit: Nanos = 30 * Time.s, excluding: Int? = nil) -> Nanos? {
        let end = now + limit
        while now < end {
            run(for: 10 * Time.ms)
            if let l = leader(), l != excluding { return now }
        }
        return nil
    }

    @discardableResult
    func call(_ op: EtcdRequest.Op, client c: Int = 0, retry: Bool = true) -> UInt32 {
        nextTag += 1
        clients[c].call(op, tag: nextTag, retry: retry, self)
        return nextTag
    }

    /// Runs until the call completes (or the limit).
    func await(_ tag: UInt32, limit: Nanos = 60 * Time.s) -> CallOutcome? {
        let end = now + limit
        while now < end && results[tag] == nil { run(for: 5 * Time.ms) }
        return results[tag]
    }

    func key(_ name: String) -> KeyID { shared.keys.id(name) }

    var elections: [TimelineEntry] { rec.timeline.filter { $0.kind == Kind.etcdLeader } }
    var violations: [Violation] { rec.violations }
}

extension CallOutcome {
    var response: EtcdResponse? { if case .success(let r) = self { return r } else { return nil } }
    var leaseID: LeaseID? { if case .leaseGranted(let id, _) = response?.result { return id } else { return nil } }
}
