import SimCore
import SimNet
import Recording
@testable import Etcd

/// A small world for etcd alone: members on hosts 0..<n, test clients on host n, the real
/// kernel and fabric between them.
enum HEv {
    case member(EtcdInput)
    case response(EtcdResponse)
    case refused(member: Int, req: UInt32)
    case clientTimer(EtcdClientTimer)
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

    init(n: Int = 3, config: EtcdConfig = EtcdConfig(), seed: UInt64 = 1, latency: Latency = Latency(.lognormal(median: 250 * Time.us, sigma: 0.3), floorNs: 50 * Time.us), clients nc: Int = 1, retryTimeout: Nanos = 10 * Time.s) {
        let streams = RandomStreams(seed: seed)
        let net = Network(hostCount: n + 1, defaultLink: LinkSpec(latency: latency))
        fabric = Fabric(network: net, kernel: kernel, seed: streams.subseed("net"))
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
        case .refused(let m, let req):
            let c = clientProc.firstIndex(of: e.target)!
            refusals += 1
            for d in clients[c].connectionFailed(member: m, req: req, self) { results[d.tag] = d.outcome }
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
        case .refused(let m, let r): return 4 | UInt64(m) << 8 | UInt64(r) << 16
        case .clientTimer: return 5
        }
    }

    // MARK: EtcdEnv

    func etcdPeerSend(from: Int, to: Int, _ m: RaftMessage) {
        fabric.send(from: memberProc[from], to: memberProc[to], .member(.peer(m)), holdLimitNs: 5 * Time.s)
    }
    func etcdTimer(_ member: Int, after: Nanos, _ t: EtcdTimer) { kernel.schedule(after: after, to: memberProc[member], .member(.timer(t))) }
    func etcdRespond(_ member: Int, to c: ClientRef, _ r: EtcdResponse) { fabric.send(from: memberProc[member], to: c.proc, .response(r)) }
    func etcdActivePeers(_ member: Int) -> Int {
        memberProc.indices.filter { $0 != member && kernel.status(of: memberProc[$0]) != .down && fabric.net.canReach(member, $0) && fabric.net.canReach($0, member) }.count
    }
    func etcdExited(_ member: Int) {
        exited.append(member)
        kernel.stop(memberProc[member])
    }
    func etcdPanicked(_ member: Int, _ message: String) { kernel.stop(memberProc[member]) }

    // MARK: EtcdClientEnv

    func etcdClientSend(from proc: UInt32, toMember slot: Int, _ r: EtcdRequest, pooled: Bool) -> ConnectResult {
        if pooled && kernel.status(of: memberProc[slot]) != .down {
            // An established connection carries the request whatever the path does now.
            fabric.send(from: proc, to: memberProc[slot], .member(.request(r)))
            return .accepted
        }
        switch fabric.connect(from: proc, to: memberProc[slot]) {
        case .accepted:
            fabric.send(from: proc, to: memberProc[slot], .member(.request(r)))
            return .accepted
        case .refused(let after):
            kernel.schedule(after: after, to: proc, .refused(member: slot, req: r.client.req))
            return .refused
        case .noAnswer:
            return .noAnswer
        }
    }
    func etcdClientTimer(_ proc: UInt32, after: Nanos, _ t: EtcdClientTimer) { kernel.schedule(after: after, to: proc, .clientTimer(t)) }
    func etcdClientClearPool(_ proc: UInt32, keep: Int?) {}
    func etcdClientTCPAlive(_ proc: UInt32, member slot: Int) -> Bool {
        let h = Int(kernel.host(of: proc))
        return fabric.net.canReach(h, slot) && fabric.net.canReach(slot, h)
    }

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
