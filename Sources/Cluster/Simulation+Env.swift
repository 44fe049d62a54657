import SimCore
import SimNet
import Recording
import Etcd
import Postgres
import Patroni

/// A host's watchdog device (`/dev/watchdog`): armed with a timeout, pinged, disarmed. If a ping
/// does not come in time, the host is reset.
struct WatchdogDevice {
    var armed = false
    var timeoutNs: Nanos = 0
    var deadline: Nanos = 0
    var gen: UInt32 = 0
}

// MARK: - etcd

extension Simulation: EtcdEnv {
    public func etcdPeerSend(from: Int, to: Int, _ m: RaftMessage) {
        if m.type == .leaseRenew, !isUp(etcdProc[to]), case .refused(let rtt) = fabric.connect(from: etcdProc[from], to: etcdProc[to]) {
            // The forwarded renewal is an HTTP POST: a dead leader process on a live host
            // refuses the connection, and `LeaseRenew` throttles and tries again.
            var r = RaftMessage(type: .leaseRenewResp, from: to, to: from, term: m.term)
            r.index = m.index
            r.reject = true
            kernel.schedule(after: rtt, to: etcdProc[from], .etcd(.peer(r)))
            return
        }
        // rafthttp gives up on a stream after its 5 s read/write timeouts.
        fabric.send(from: etcdProc[from], to: etcdProc[to], .etcd(.peer(m)), holdLimitNs: 5 * Time.s)
    }

    public func etcdTimer(_ member: Int, after: Nanos, _ t: EtcdTimer) {
        kernel.schedule(after: after, to: etcdProc[member], .etcd(.timer(t)))
    }

    public func etcdRespond(_ member: Int, to c: ClientRef, _ r: EtcdResponse) {
        guard Int(c.proc) < procs.count else {
            // The operator's etcdctl (outside the cluster, one round trip away).
            if c.proc == Self.etcdctlProc { kernel.schedule(after: fabric.net.loopbackNs + Time.ms, to: Kernel<Ev>.world, .etcdctlAnswer(req: c.req, r.result)) }
            return
        }
        fabric.send(from: etcdProc[member], to: c.proc, .patroni(.etcd(r)))
    }

    public func etcdActivePeers(_ member: Int) -> Int {
        let me = Int(kernel.host(of: etcdProc[member]))
        // Only `etcdProc` here: this runs inside a member's handler, with `etcd` borrowed.
        return etcdProc.indices.filter { o in
            o != member && isUp(etcdProc[o]) && fabric.net.canReach(me, Int(kernel.host(of: etcdProc[o]))) && fabric.net.canReach(Int(kernel.host(of: etcdProc[o])), me)
        }.count
    }

    public func etcdExited(_ member: Int) {
        kernel.schedule(after: 0, to: Kernel<Ev>.world, .exited(etcdProc[member], crashed: false))
    }

    public func etcdPanicked(_ member: Int, _ message: String) {
        kernel.schedule(after: 0, to: Kernel<Ev>.world, .exited(etcdProc[member], crashed: true))
    }
}

// MARK: - Patroni's etcd client

extension Simulation: EtcdClientEnv {
    public func etcdClientSend(from proc: UInt32, toMember slot: Int, _ r: EtcdRequest, pooled: Bool) -> ConnectResult {
        let key = Int(proc) << 8 | slot
        if let c = clientConns[key], fabric.isOpen(c) {
            // An established connection carries the request, whatever the path does now.
            fabric.send(from: proc, to: etcdProc[slot], .etcd(.request(r)), holdLimitNs: scenario.patroni.retryTimeoutNs)
            return .accepted
        }
        switch fabric.connect(from: proc, to: etcdProc[slot]) {
        case .accepted:
            clientConns[key] = fabric.open(proc, etcdProc[slot], resetToA: .patroni(.etcdConnectionFailed(member: slot, req: 0)), resetToB: nil)
            fabric.send(from: proc, to: etcdProc[slot], .etcd(.request(r)), holdLimitNs: scenario.patroni.retryTimeoutNs)
            return .accepted
        case .refused(let after):
            // Each connect gets its own RST: only this attempt fails.
            kernel.schedule(after: after, to: proc, .patroni(.etcdConnectionFailed(member: slot, req: r.client.req)))
            return .refused
        case .noAnswer:
            return .noAnswer
        }
    }

    public func etcdClientTimer(_ proc: UInt32, after: Nanos, _ t: EtcdClientTimer) {
        kernel.schedule(after: after, to: proc, .patroni(.timer(.client(t))))
    }

    public func etcdClientClearPool(_ proc: UInt32, keep: Int?) {
        // urllib3's pool is cleared; the watch stream has its own connection and survives.
        for slot in etcdProc.indices where slot != keep {
            let key = Int(proc) << 8 | slot
            if let c = clientConns.removeValue(forKey: key) { fabric.close(c) }
        }
    }

    public func etcdClientTCPAlive(_ proc: UInt32, member slot: Int) -> Bool {
        let a = Int(kernel.host(of: proc)), b = Int(kernel.host(of: etcdProc[slot]))
        return fabric.net.canReach(a, b) && fabric.net.canReach(b, a)
    }

    func closeClientConnections(of proc: UInt32) {
        for slot in etcdProc.indices {
            let key = Int(proc) << 8 | slot
            if let c = clientConns.removeValue(forKey: key) { fabric.close(c) }
        }
    }
}

// MARK: - PostgreSQL

extension Simulation: PgEnv {
    public var recorder: Recorder { rec }

    public func pgTimer(_ node: Int, after: Nanos, _ t: PgTimer) {
        switch t {
        case .rewindDone, .recloneDone, .backupTimeout, .backupFailed, .backupRetry:
            // pg_rewind and pg_basebackup run whether the postmaster does or not.
            kernel.schedule(after: after, to: Kernel<Ev>.world, .pgTool(node: node, t))
        default:
            kernel.schedule(after: after, to: pgProc[node], .pg(.timer(t)))
        }
    }

    public func pgSendToProc(from node: Int, to proc: UInt32, _ m: PgMessage) {
        pgToClient(from: pgProc[node], to: proc, m)
    }

    public func pgSendToNode(from node: Int, to other: Int, _ m: PgMessage, transmitNs: Nanos) {
        fabric.send(from: pgProc[node], to: pgProc[other], .pg(.message(from: pgProc[node], m)),
                    holdLimitNs: scenario.postgresql.walSenderTimeoutNs, transmitNs: transmitNs)
    }

    public func pgConnect(from node: Int, to other: Int) -> ConnectOutcomeLite {
        // (Not `pg[other]`: this runs inside a server's handler, with `pg` borrowed. A server
        // that is up but not ready refuses START_REPLICATION instead.)
        switch fabric.connect(from: pgProc[node], to: pgProc[other]) {
        case .accepted(let t): return .accepted(t)
        case .refused(let t): return .refused(t)
        case .noAnswer: return .noAnswer
        }
    }

    public func pgOpenReplication(standby: Int, upstream: Int, epoch: UInt32) {
        let broken = Ev.pg(.message(from: UInt32.max, .replBroken(epoch: epoch)))
        replConns[epoch] = fabric.open(pgProc[standby], pgProc[upstream], resetToA: broken, resetToB: broken)
    }

    public func pgCloseReplication(standby: Int, upstream: Int, epoch: UInt32) {
        if let c = replConns.removeValue(forKey: epoch) { fabric.close(c) }
    }

    public func pgNotify(_ node: Int, _ n: PgNotification) {
        guard node < patroniProc.count else { return }
        kernel.schedule(after: 0, to: patroniProc[node], .patroni(.pg(n)))
    }

    public func pgName(_ node: Int) -> String { dbNames[node] }
}

// MARK: - Patroni

extension Simulation: PatroniEnv {
    public func patroniTimer(_ node: Int, after: Nanos, _ t: PatroniTimer) {
        kernel.schedule(after: after, to: patroniProc[node], .patroni(.timer(t)))
    }

    public func pgView(_ n: Int) -> PgView {
        let p = pg[n]
        let status = kernel.status(of: pgProc[n])
        let alive = status != .down
        let now = kernel.now
        return PgView(reachable: status == .running, running: alive && p.isRunning, starting: alive && p.state == .starting && p.pendingSourceNode == nil,
                      stopping: alive && p.state == .stopping, hasData: p.hasData, inRecovery: p.inRecovery, promoting: p.promoting,
                      timeline: p.timeline, lastOperation: p.lastOperation(now), received: p.receivedLSN, replayed: p.replayLSN(now),
                      streamingFrom: p.streamingFrom, upstream: p.upstream, controlInProduction: p.controlInProduction,
                      cleanShutdown: p.cleanShutdown, position: p.position,
                      replication: p.replicationView().map { ($0.standby, $0.streaming, $0.sync, $0.flush) }, syncNames: p.syncNames)
    }

    public func pgStart(_ n: Int, asStandby: Bool, upstream: Int?) {
        let p = pgProc[n]
        if kernel.status(of: p) == .down {
            guard hosts[dbHost[n]].up else { return }
            kernel.start(p)
        }
        pg[n].start(asStandby: asStandby, upstream: upstream, self)
    }

    public func pgStop(_ n: Int, immediate: Bool) {
        guard isUp(pgProc[n]) else { pgNotify(n, .stopped); return }
        pg[n].stop(immediate ? .immediate : .fast, self)
    }

    public func pgPromote(_ n: Int) { if isUp(pgProc[n]) { pg[n].promote(self) } }
    public func pgSetUpstream(_ n: Int, _ u: Int?) { pg[n].setUpstream(u, self) }
    public func pgSetSyncNames(_ n: Int, _ ssn: SyncStandbyNames) { pg[n].setSyncNames(ssn, self) }

    public func pgRewind(_ n: Int, from source: Int) -> Bool {
        guard pathOpen(dbHost[n], dbHost[source]), isUp(pgProc[source]), pg[source].isRunning else { return false }
        pg[n].rewind(from: source, sourceEnd: pg[source].durablePosition, self)
        return true
    }

    public func pgReclone(_ n: Int, from source: Int) {
        pg[n].reclone(from: source, fastCheckpoint: false, self)
    }

    public func pgNeedsRewind(_ n: Int, leader: Int) -> Bool? {
        guard pathOpen(dbHost[n], dbHost[leader]), isUp(pgProc[leader]), pg[leader].isPrimary, pg[n].hasData else { return nil }
        let mine = WalPosition(fork: pg[n].fork, lsn: pg[n].inRecovery ? pg[n].receivedLSN : pg[n].flushLSN)
        return !rec.contains(pg[leader].durablePosition, mine)
    }

    public func pgUserSyncNames(_ n: Int) -> String { scenario.postgresql.synchronousStandbyNames }
    public func editedConfig(_ i: Int) -> PatroniConfig { editedConfigs[i] }

    public func restCall(from node: Int, to peer: Int, _ r: RESTRequest) {
        var req = r
        req.from = patroniProc[node]
        switch fabric.connect(from: patroniProc[node], to: patroniProc[peer]) {
        case .accepted:
            fabric.send(from: patroniProc[node], to: patroniProc[peer], .patroni(.rest(req)), holdLimitNs: 2 * Time.s)
        case .refused(let after):
            kernel.schedule(after: after, to: patroniProc[node], .patroni(.restRefused(id: r.id)))
        case .noAnswer:
            break
        }
    }

    public func restRespond(_ node: Int, to proc: UInt32, _ r: RESTResponse) {
        restToCaller(from: patroniProc[node], to: proc, r)
    }

    public func watchdogActivate(_ node: Int, timeoutS: Int) -> Bool {
        guard scenario.patroni.watchdog.hasDevice, scenario.patroni.watchdog.mode != .off else { return false }
        let h = dbHost[node]
        watchdogs[h].armed = true
        watchdogs[h].timeoutNs = Nanos(timeoutS) * Time.s
        rec.log(now, hosts[h].name, "watchdog", "watchdog_armed", .object([("timeout_s", .int(Int64(timeoutS)))]))
        watchdogKeepalive(node)
        return true
    }

    public func watchdogKeepalive(_ node: Int) {
        let h = dbHost[node]
        guard watchdogs[h].armed else { return }
        watchdogs[h].gen &+= 1
        watchdogs[h].deadline = now + watchdogs[h].timeoutNs
        kernel.schedule(after: watchdogs[h].timeoutNs, to: Kernel<Ev>.world, .watchdog(host: h, gen: watchdogs[h].gen))
    }

    public func watchdogDisable(_ node: Int) {
        let h = dbHost[node]
        if watchdogs[h].armed { rec.log(now, hosts[h].name, "watchdog", "watchdog_disarmed") }
        watchdogs[h].armed = false
    }

    public func patroniExited(_ node: Int) {
        kernel.schedule(after: 0, to: Kernel<Ev>.world, .exited(patroniProc[node], crashed: false))
    }

    public func nodeName(_ node: Int) -> String { dbNames[node] }

    func pathOpen(_ a: Int, _ b: Int) -> Bool { fabric.net.canReach(a, b) && fabric.net.canReach(b, a) }

    /// No ping within the timeout: the kernel resets the host.
    func watchdogCheck(_ h: Int, _ g: UInt32) {
        guard watchdogs[h].armed, watchdogs[h].gen == g, now >= watchdogs[h].deadline else { return }
        watchdogs[h].armed = false
        rec.log(now, hosts[h].name, "watchdog", Kind.watchdogReset, .object([("why", "no keepalive within the watchdog timeout")]))
        crashHost(h)
        // The machine reboots: it answers again once its kernel is up, and starts its services.
        kernel.schedule(after: 10 * Time.s, to: Kernel<Ev>.world, .powerOn(h))
    }
}
