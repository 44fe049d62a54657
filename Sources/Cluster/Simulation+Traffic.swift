import SimCore
import Settings
import SimNet
import Recording
import Scenario
import Postgres
import Patroni
import Traffic

/// The world's side of the traffic path: proxies, clients, poolers, keepalived, the VIP.
extension Simulation {
    func addTrafficModel(_ svc: Service, host: Int, proc: UInt32) -> Int {
        let name = scenario.topology.hosts[host].name
        let streamName = scenario.topology.streamName(host)
        let rng = streams.stream("host/\(streamName)/\(svc.rawValue)")
        switch svc {
        case .haproxy, .envoy, .lb:
            let kind: Proxy.Kind = svc == .haproxy ? .haproxy : svc == .envoy ? .envoy : .cloudLB
            proxies.append(Proxy(proc: proc, name: name, kind: kind, nodes: Array(dbNames.indices), nodeNames: dbNames,
                                 hap: scenario.haproxy, envoy: scenario.envoy, lb: scenario.cloudLB, rng: rng))
            proxyProc.append(proc)
            return proxies.count - 1
        case .keepalived:
            keepaliveds.append(Keepalived(proc: proc, name: name, index: keepaliveds.count, cfg: scenario.keepalived, rng: rng))
            return keepaliveds.count - 1
        case .pgbouncer:
            bouncers.append(PgBouncer(proc: proc, name: name, cfg: scenario.pgbouncer, upstream: .proc(UInt32.max)))
            bouncerProc.append(proc)
            return bouncers.count - 1
        case .clients:
            clientHosts.append((proc, host))
            clientModels.append(Clients(proc: proc, cfg: scenario.workload, writers: [], readers: [], rng: rng))
            return clientModels.count - 1
        case .monitor:
            let jobs = scenario.workload.monitor.map { m in
                (m, m.hosts.isEmpty ? Array(scenario.topology.dbHosts.indices) : m.hosts.compactMap { scenario.topology.dbHosts.firstIndex(of: $0) })
            }
            monitors.append(Monitor(proc: proc, name: name, jobs: jobs, rng: rng))
            return monitors.count - 1
        default:
            return 0
        }
    }

    /// After every process exists: peers of keepalived, PgBouncer's upstream, and which front
    /// each client uses.
    func wireTraffic() {
        let kaProcs = keepaliveds.map(\.proc)
        for i in keepaliveds.indices { keepaliveds[i].setPeers(kaProcs) }
        for i in bouncers.indices {
            let h = host(of: bouncers[i].proc)
            let local = proxyProc.first { host(of: $0) == h }
            bouncers[i] = PgBouncer(proc: bouncers[i].proc, name: hosts[h].name, cfg: scenario.pgbouncer,
                                    upstream: local.map { .proc($0) } ?? .server(initialPrimaryNode))
        }
        guard !clientModels.isEmpty else { return }
        // The front the application talks to.
        var fronts: [Endpoint]
        if !keepaliveds.isEmpty {
            fronts = [.vip(bouncers.isEmpty ? .proxy : .pooler)]
        } else if !bouncers.isEmpty {
            fronts = bouncers.map { .proc($0.proc) }
        } else if !proxies.isEmpty {
            fronts = proxyProc.map { .proc($0) }
        } else {
            // No front: the application's connection string names the initial primary.
            fronts = [.server(initialPrimaryNode)]
        }
        let w = scenario.workload
        var writers: [[(Endpoint, Int16)]] = Array(repeating: [], count: clientModels.count)
        var readers: [[Endpoint]] = Array(repeating: [], count: clientModels.count)
        for k in 0..<w.clients { writers[k % clientModels.count].append((fronts[k % fronts.count], -1)) }
        var k = w.clients
        for d in w.direct {
            guard let node = dbNames.firstIndex(of: d.host) else { continue }
            for _ in 0..<d.clients {
                writers[k % clientModels.count].append((.server(node), Int16(dbHost[node])))
                k += 1
            }
        }
        if w.readRate > 0 {
            let readFront: [Endpoint] = proxies.isEmpty ? dbNames.indices.map { .server($0) } : fronts
            for r in 0..<w.readClients { readers[r % clientModels.count].append(readFront[r % readFront.count]) }
        }
        for i in clientModels.indices {
            clientModels[i] = Clients(proc: clientHosts[i].0, cfg: w, writers: writers[i], readers: readers[i],
                                      rng: streams.stream("workload/\(scenario.topology.streamName(clientHosts[i].1))"))
        }
    }

    func startTrafficModel(_ p: UInt32, initial: Bool) {
        let m = procs[Int(p)].model
        switch procs[Int(p)].service {
        case .haproxy, .envoy, .lb:
            if initial { proxies[m].settle(primary: initialPrimaryNode, sync: initialSync, quorum: scenario.patroni.synchronousMode == .quorum, absent: joining.indices.filter { joining[$0] }) }
            proxies[m].start(steady: initial, self)
        case .keepalived:
            if initial { keepaliveds[m].startSteady(master: m == 0, self) } else { keepaliveds[m].start(self) }
        case .pgbouncer: bouncers[m].start(self)
        case .clients: clientModels[m].start(self)
        case .monitor: monitors[m].start(self)
        default: break
        }
    }

    func crashTrafficModel(_ p: UInt32) {
        let m = procs[Int(p)].model
        switch procs[Int(p)].service {
        case .haproxy, .envoy, .lb: proxies[m].crash()
        case .keepalived: keepaliveds[m].crash()
        case .pgbouncer: bouncers[m].crash()
        case .clients: clientModels[m].crash(self)
        case .monitor: monitors[m].crash()
        default: break
        }
    }

    func traffic(_ target: UInt32, _ input: TrafficInput) {
        let m = procs[Int(target)].model
        switch procs[Int(target)].service {
        case .haproxy, .envoy, .lb: proxies[m].handle(input, self)
        case .keepalived: keepaliveds[m].handle(input, self)
        case .pgbouncer: bouncers[m].handle(input, self)
        case .clients: clientModels[m].handle(input, self)
        case .monitor: monitors[m].handle(input, self)
        default: break
        }
    }

    /// A graceful stop (SIGTERM) of a traffic process: keepalived advertises priority 0 (the
    /// backup takes over at once); HAProxy, Envoy, a load balancer and PgBouncer close every
    /// connection (hard stop); an application ends its sessions.
    func stopTrafficGracefully(_ p: UInt32) {
        let m = procs[Int(p)].model
        switch procs[Int(p)].service {
        case .keepalived: keepaliveds[m].stop(self)
        case .haproxy, .envoy, .lb: proxies[m].stop(self)
        case .pgbouncer: bouncers[m].stop(self)
        case .clients: clientModels[m].stop(self)
        default: break
        }
    }

    // MARK: - Routing helpers

    /// The process a VIP endpoint leads to right now.
    func vipTarget(_ s: Endpoint.Service) -> UInt32? {
        guard let holder = vipHolder, isUp(holder) || hosts[host(of: holder)].up else { return nil }
        let h = host(of: holder)
        switch s {
        case .proxy: return proxyProc.first { host(of: $0) == h }
        case .pooler: return bouncerProc.first { host(of: $0) == h }
        }
    }

    func resolve(_ e: Endpoint) -> UInt32? {
        switch e {
        case .server(let n): return pgProc[n]
        case .proc(let p): return p == UInt32.max ? nil : p
        case .vip(let s): return vipTarget(s)
        }
    }
}

extension Simulation: TrafficEnv {
    @discardableResult
    public func trafficTimer(_ proc: UInt32, after: Nanos, _ t: TrafficTimer) -> TimerToken {
        kernel.schedule(after: after, to: proc, .traffic(.timer(t)))
    }

    public func trafficCancel(_ t: TimerToken) { kernel.cancel(t) }

    public func trafficConnect(from: UInt32, to e: Endpoint) -> ConnID {
        guard let target = resolve(e) else { return .none }  // an unheld VIP: nobody answers
        let c = fabric.newConnection(from: from, to: target)
        let resetB: Ev = procs[Int(target)].service == .postgres ? .pg(.conn(c, .reset)) : .traffic(.conn(c, .reset))
        fabric.setResets(c, toA: .traffic(.conn(c, .reset)), toB: resetB)
        fabric.connect(c, onConnected: .traffic(.conn(c, .connected)), onRefused: .traffic(.conn(c, .refused)),
                       onTimedOut: .traffic(.conn(c, .timedOut)))
        return c
    }

    /// A protocol message on a connection: to a PostgreSQL server, to the proxy or pooler a
    /// client connected to, or back to the side that opened it.
    public func trafficSend(_ c: ConnID, from: UInt32, _ m: PgMessage) {
        guard let peer = fabric.peer(c, of: from) else { return }
        if procs[Int(peer)].service == .postgres {
            fabric.send(c, from: from, .pg(.message(c, m)))
        } else if fabric.isInitiator(c, from) {
            fabric.send(c, from: from, .traffic(.client(c, m)))
        } else {
            fabric.send(c, from: from, .traffic(.server(c, m)))
        }
    }

    public func trafficClose(_ c: ConnID) { fabric.close(c) }

    public func httpConnect(from: UInt32, toNode node: Int) -> ConnID {
        let c = fabric.newConnection(from: from, to: patroniProc[node])
        fabric.setResets(c, toA: .traffic(.conn(c, .reset)), toB: nil)
        fabric.connect(c, onConnected: .traffic(.conn(c, .connected)), onRefused: .traffic(.conn(c, .refused)),
                       onTimedOut: .traffic(.conn(c, .timedOut)))
        return c
    }

    public func httpGet(_ c: ConnID, from: UInt32, path: RESTPath, lag: Int64?, id: UInt32) {
        fabric.send(c, from: from, .patroni(.rest(RESTRequest(conn: c, id: id, kind: .get(path, lag: lag)))))
    }

    /// VRRP adverts are UDP: lost on a cut path or to link loss, never retransmitted.
    public func vrrpSend(from: UInt32, to: UInt32, priority: UInt8) {
        fabric.datagram(from: from, to: to, .traffic(.advert(from: procs[Int(from)].model, priority: priority)))
    }

    /// A new MASTER sends gratuitous ARPs: the VIP moves to its host. Connections that went
    /// through the old holder are reset at the clients' next packet (the new host knows none).
    public func vrrpTakeVIP(from: UInt32) {
        let old = vipHolder
        vipHolder = from
        rec.log(now, hosts[host(of: from)].name, "keepalived", Kind.vip, .object([("holder", .string(hosts[host(of: from)].name))]))
        guard let o = old, o != from else { return }
        let oldHost = host(of: o)
        for c in fabric.connections(where: { a, b in self.procs[Int(a)].service == .clients && self.host(of: b) == oldHost }) {
            guard let client = fabric.ends(c)?.initiator else { continue }
            fabric.close(c)
            kernel.schedule(after: fabric.net.rtoMinNs, to: client, .traffic(.conn(c, .reset)))
        }
    }

    public func vrrpReleaseVIP(from: UInt32) {
        if vipHolder == from { vipHolder = nil }
    }

    public func localProxyAlive(_ proc: UInt32) -> Bool {
        let h = host(of: proc)
        return proxyProc.contains { host(of: $0) == h && kernel.status(of: $0) == .running }
    }
}
