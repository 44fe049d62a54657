import SimCore
import Settings
import SimNet
import Recording
import Etcd
import Postgres
import Patroni

// MARK: - etcd

extension Simulation: EtcdEnv {
    /// A message to a peer goes by the member's rafthttp transport (`RaftTransport`).
    public func etcdPeerSend(from: Int, to: Int, _ m: RaftMessage) {
        let fp = etcdProc[from], tp = etcdProc[to]
        if m.type == .leaseRenew || m.type == .leaseRenewResp || m.type == .readIndex || m.type == .readIndexResp {
            // Lease renewals and read indexes: HTTP requests of their own. A dead peer process
            // on a live host refuses them, and `LeaseRenew` throttles and tries again.
            if m.type == .leaseRenew, !isUp(tp), fabric.net.pathOpen(host(of: fp), host(of: tp)) {
                var r = RaftMessage(type: .leaseRenewResp, from: to, to: from, term: m.term)
                r.index = m.index
                r.reject = true
                kernel.schedule(after: 2 * fabric.net.link(host(of: fp), host(of: tp)).latency.typicalNs, to: fp, .etcd(.peer(r)))
                return
            }
        }
        transports[from].send(to: to, m, self)
    }

    /// A stream's or pipeline's hand-shake or reset (delivered to the sending member's process).
    func etcdStreamEvent(from: Int, to: Int, _ c: ConnID, _ e: ConnEvent) {
        transports[from].connectionEvent(to: to, c, e, self)
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
        fabric.send(c.conn, from: etcdProc[member], .patroni(.etcd(r)))
    }

    public func etcdActivePeers(_ member: Int) -> Int {
        let me = Int(kernel.host(of: etcdProc[member]))
        // Only `etcdProc` here: this runs inside a member's handler, with `etcd` borrowed.
        return etcdProc.indices.filter { o in
            o != member && isUp(etcdProc[o]) && fabric.net.pathOpen(me, Int(kernel.host(of: etcdProc[o])))
        }.count
    }

    public func etcdExited(_ member: Int) {
        kernel.schedule(after: 0, to: Kernel<Ev>.world, .exited(etcdProc[member], crashed: false))
    }

    public func etcdPanicked(_ member: Int, _ message: String) {
        kernel.schedule(after: 0, to: Kernel<Ev>.world, .exited(etcdProc[member], crashed: true))
    }
}

// MARK: - rafthttp's connections

extension Simulation: RaftTransportEnv {
    public func peerConnOpen(_ c: ConnID) -> Bool { fabric.isOpen(c) }
    public func peerConnConnecting(_ c: ConnID) -> Bool { fabric.isConnecting(c) }

    public func peerSend(_ c: ConnID, from: Int, to: Int, _ m: RaftMessage) -> PeerDelivery {
        switch fabric.send(c, from: etcdProc[from], .etcd(.peer(m))) {
        case .arrives: .arrives
        case .held: .held
        case .dropped: .dropped
        }
    }

    public func peerDial(from: Int, to: Int) -> ConnID {
        let c = fabric.newConnection(from: etcdProc[from], to: etcdProc[to])
        let f8 = UInt8(from), t8 = UInt8(to)
        fabric.setResets(c, toA: .etcdStream(from: f8, to: t8, c, .reset), toB: nil)
        fabric.connect(c, onConnected: .etcdStream(from: f8, to: t8, c, .connected), onRefused: .etcdStream(from: f8, to: t8, c, .refused),
                       onTimedOut: .etcdStream(from: f8, to: t8, c, .timedOut))
        return c
    }

    public func peerClose(_ c: ConnID) { fabric.close(c) }
}

// MARK: - Patroni's etcd client

extension Simulation: EtcdClientEnv {
    public func etcdConnect(from proc: UInt32, toMember slot: Int) -> ConnID {
        let c = fabric.newConnection(from: proc, to: etcdProc[slot])
        fabric.setResets(c, toA: .patroni(.etcdConn(c, .reset)), toB: nil)
        // Patroni's `Etcd3.set_socket_options`: TCP_USER_TIMEOUT = ttl on every client socket.
        fabric.setUserTimeout(c, scenario.patroni.ttlNs)
        fabric.connect(c, onConnected: .patroni(.etcdConn(c, .connected)), onRefused: .patroni(.etcdConn(c, .refused)),
                       onTimedOut: .patroni(.etcdConn(c, .timedOut)))
        return c
    }

    public func etcdSend(_ c: ConnID, from proc: UInt32, _ r: EtcdRequest) {
        fabric.send(c, from: proc, .etcd(.request(r)))
    }

    public func etcdClose(_ c: ConnID) { fabric.close(c) }

    public func etcdProbe(_ c: ConnID, from proc: UInt32) -> Bool { fabric.probe(c, from: proc) }

    public func etcdClientTimer(_ proc: UInt32, after: Nanos, _ t: EtcdClientTimer) {
        kernel.schedule(after: after, to: proc, .patroni(.timer(.client(t))))
    }
}

// MARK: - PostgreSQL

extension Simulation: PgEnv {
    public var recorder: Recorder { rec }

    @discardableResult
    public func pgTimer(_ node: Int, after: Nanos, _ t: PgTimer) -> TimerToken {
        switch t {
        case .rewindDone, .recloneDone, .backupTimeout, .backupRetry:
            // pg_rewind and pg_basebackup run whether the postmaster does or not.
            return kernel.schedule(after: after, to: Kernel<Ev>.world, .pgTool(node: node, t))
        default:
            return kernel.schedule(after: after, to: pgProc[node], .pg(.timer(t)))
        }
    }

    public func pgCancel(_ t: TimerToken) { kernel.cancel(t) }

    public func pgSend(_ c: ConnID, from node: Int, _ m: PgMessage, transmitNs: Nanos) {
        let me = pgProc[node]
        guard let peer = fabric.peer(c, of: me) else { return }
        if procs[Int(peer)].service == .postgres {
            fabric.send(c, from: me, .pg(.message(c, m)), transmitNs: transmitNs)
        } else if procs[Int(peer)].service == .patroni {
            // A Patroni's rewind check asked this server where its history stands.
            if case .timelineReply(let r, let end) = m { fabric.send(c, from: me, .patroni(.leaderPgReply(c, inRecovery: r, end: end))) }
        } else {
            fabric.send(c, from: me, .traffic(.server(c, m)), transmitNs: transmitNs)
        }
    }

    public func pgConnect(from node: Int, to other: Int) -> ConnID {
        let c = fabric.newConnection(from: pgProc[node], to: pgProc[other])
        fabric.setResets(c, toA: .pg(.conn(c, .reset)), toB: .pg(.conn(c, .reset)))
        fabric.connect(c, onConnected: .pg(.conn(c, .connected)), onRefused: .pg(.conn(c, .refused)), onTimedOut: .pg(.conn(c, .timedOut)))
        return c
    }

    public func pgClose(_ c: ConnID) { fabric.close(c) }

    public func pgNotify(_ node: Int, _ n: PgNotification) {
        // A `stop: host/postgres` (pg_ctl stop -m fast outside Patroni) ends the process once
        // the server has stopped.
        if n == .stopped, pendingProcessStop.contains(pgProc[node]) {
            kernel.schedule(after: 0, to: Kernel<Ev>.world, .exited(pgProc[node], crashed: false))
        }
        guard node < patroniProc.count else { return }
        kernel.schedule(after: 0, to: patroniProc[node], .patroni(.pg(n)))
    }

    public func pgName(_ node: Int) -> String { dbNames[node] }

    /// The record of writes learns where each committed (the model keeps no record itself).
    public func pgCommitted(_ node: Int, query: UInt32, at: WalPosition) {
        guard Int(query) < rec.writes.count else { return }
        rec.writes[Int(query)].committedHost = Int16(node)
        rec.writes[Int(query)].committedAt = at
    }

    public func pgSyncConfirmed(query: UInt32) {
        if Int(query) < rec.writes.count { rec.writes[Int(query)].syncConfirmed = true }
    }

    /// The postmaster accepts connections only in some states: the network learns after each
    /// of its inputs.
    func syncListening(_ n: Int) {
        fabric.setListening(pgProc[n], pg[n].listening)
    }
}

// MARK: - Patroni

extension Simulation: PatroniEnv {
    @discardableResult
    public func patroniTimer(_ node: Int, after: Nanos, _ t: PatroniTimer) -> TimerToken {
        kernel.schedule(after: after, to: patroniProc[node], .patroni(.timer(t)))
    }

    public func patroniCancel(_ t: TimerToken) { kernel.cancel(t) }

    /// A query goes to the server as a local message; with no server process the connection is
    /// refused at once and Patroni has only the files (`pg_controldata`, postmaster.pid).
    public func pgQuery(_ n: Int, id: UInt32) {
        if isUp(pgProc[n]) {
            pgRequest(n, .query(id))
        } else {
            deliverPgAnswer(n, id, pg[n].view(now, status: .down))
        }
    }

    public func pgAnswer(_ n: Int, query id: UInt32, _ view: PgView) { deliverPgAnswer(n, id, view) }

    /// The answer's body waits in the node's mailbox (events stay small); the event tells
    /// Patroni it is there.
    func deliverPgAnswer(_ n: Int, _ id: UInt32, _ view: PgView) {
        guard n < patroniProc.count else { return }
        if pgAnswers[n].count >= Self.pgAnswerLimit { pgAnswers[n].removeFirst() }
        pgAnswers[n].append((id, view))
        kernel.schedule(after: Self.localRequestNs, to: patroniProc[n], .patroni(.pgAnswer(id)))
    }

    /// Answers not yet taken per node: Patroni asks at most once per cycle and per REST
    /// request in flight; a Patroni that crashed leaves its answers behind (cleared when it
    /// restarts), so a small bound suffices.
    static let pgAnswerLimit = 256

    public func takePgAnswer(_ n: Int, id: UInt32) -> PgView? {
        guard let i = pgAnswers[n].firstIndex(where: { $0.id == id }) else { return nil }
        return pgAnswers[n].remove(at: i).view
    }

    /// The host's files and process table, read where Patroni reads them without a query.
    public func pgLocalState(_ n: Int) -> PgView { pg[n].view(kernel.now, status: kernel.status(of: pgProc[n])) }

    /// A request from Patroni to the PostgreSQL on its host, delivered as a local message.
    /// `pg_ctl` forks, execs and signals, a reload is a SIGHUP, pg_rewind a new process: a
    /// fraction of a millisecond on an idle host (an assumption; no source measures it).
    static let localRequestNs: Nanos = 200 * Time.us

    func pgRequest(_ n: Int, _ c: PgControl) {
        kernel.schedule(after: Self.localRequestNs, to: pgProc[n], .pg(.control(c)))
    }

    public func pgStart(_ n: Int, asStandby: Bool, upstream: Int?) {
        // pg_ctl start forks the postmaster.
        guard forkPgProcess(n) else { return }
        pgRequest(n, .start(asStandby: asStandby, upstream: Int16(upstream ?? -1)))
    }

    public func pgStop(_ n: Int, immediate: Bool) {
        // Nothing runs: pg_ctl stop answers at once that the server is not running.
        guard isUp(pgProc[n]) else { pgNotify(n, .stopped); return }
        pgRequest(n, .stop(immediate: immediate))
    }

    public func pgPromote(_ n: Int) { if isUp(pgProc[n]) { pgRequest(n, .promote) } }
    public func pgSetUpstream(_ n: Int, _ u: Int?) { pgRequest(n, .setUpstream(Int16(u ?? -1))) }
    /// Patroni's slot queries (`SlotsHandler`): local requests to a running server.
    public func pgSlot(_ n: Int, _ op: PgSlotOp) {
        guard isUp(pgProc[n]) else { return }
        switch op {
        case .create(let id): pgRequest(n, .createSlot(id))
        case .drop(let id): pgRequest(n, .dropSlot(id))
        case .advance(let id, let lsn): pgRequest(n, .advanceSlot(id, lsn: lsn))
        }
    }

    /// Patroni rewrites the file and reloads; the server reads it back when the reload arrives.
    public func pgSetSyncNames(_ n: Int, _ ssn: SyncStandbyNames) {
        configuredSyncNames[n] = ssn
        pgRequest(n, .reloadSyncNames)
    }

    public func pgConfiguredSyncNames(_ n: Int) -> SyncStandbyNames { configuredSyncNames[n] }

    /// pg_rewind is a process of its own on the host (started like pg_ctl start would fork one
    /// when no server process exists); it connects to its source itself.
    public func pgRewind(_ n: Int, from source: Int) {
        guard forkPgProcess(n) else { return }
        pgRequest(n, .rewind(from: Int16(source)))
    }

    /// pg_basebackup too is a process of its own (`Bootstrap.basebackup` runs it with no server
    /// process on the host): a clone after a lost disk or a crash does not wait for one.
    public func pgReclone(_ n: Int, from source: Int) {
        guard forkPgProcess(n) else { return }
        pgRequest(n, .reclone(from: Int16(source)))
    }

    /// A program of PostgreSQL's (pg_ctl start, pg_rewind, pg_basebackup) starts on the host:
    /// the instance's process exists from now on. False when the host is down.
    func forkPgProcess(_ n: Int) -> Bool {
        let p = pgProc[n]
        if kernel.status(of: p) == .down {
            guard hosts[dbHost[n]].up else { return false }
            kernel.start(p)
            fabric.drainAcceptQueue(p)
        }
        return true
    }

    public func leaderPgConnect(from n: Int, to leader: Int) -> ConnID {
        let c = fabric.newConnection(from: patroniProc[n], to: pgProc[leader])
        fabric.setResets(c, toA: .patroni(.leaderPgConn(c, .reset)), toB: nil)
        fabric.connect(c, onConnected: .patroni(.leaderPgConn(c, .connected)), onRefused: .patroni(.leaderPgConn(c, .refused)),
                       onTimedOut: .patroni(.leaderPgConn(c, .timedOut)))
        return c
    }

    public func leaderPgSend(_ c: ConnID, from n: Int, _ m: PgMessage) {
        fabric.send(c, from: patroniProc[n], .pg(.message(c, m)))
    }

    public func connClose(_ c: ConnID) { fabric.close(c) }

    public func pgUserSyncNames(_ n: Int) -> String { scenario.postgresql.synchronousStandbyNames }
    public func editedConfig(_ i: Int) -> PatroniConfig { editedConfigs[i] }
    public func editedTags(_ i: Int) -> PatroniConfig.Tags { editedTags[i] }

    public func restConnect(from node: Int, to peer: Int) -> ConnID {
        let c = fabric.newConnection(from: patroniProc[node], to: patroniProc[peer])
        fabric.setResets(c, toA: .patroni(.restConn(c, .reset)), toB: nil)
        fabric.connect(c, onConnected: .patroni(.restConn(c, .connected)), onRefused: .patroni(.restConn(c, .refused)),
                       onTimedOut: .patroni(.restConn(c, .timedOut)))
        return c
    }

    public func restSend(_ c: ConnID, from node: Int, _ r: RESTRequest) {
        fabric.send(c, from: patroniProc[node], .patroni(.rest(r)))
    }

    public func restClose(_ c: ConnID) { fabric.close(c) }

    public func restListen(_ node: Int, _ open: Bool) { fabric.setListening(patroniProc[node], open) }

    /// A REST answer on its connection: to a peer's Patroni, or to a health checker / scraper.
    public func restRespond(_ node: Int, _ r: RESTResponse) {
        let me = patroniProc[node]
        guard let peer = fabric.peer(r.conn, of: me) else { return }
        if procs[Int(peer)].service == .patroni {
            fabric.send(r.conn, from: me, .patroni(.restResponse(r)))
        } else {
            fabric.send(r.conn, from: me, .traffic(.checkAnswer(r.conn, status: r.status)))
        }
    }

    // The watchdog device on the node's host: Patroni's calls go to it as they do to a kernel
    // driver (an ioctl, no latency).
    public func watchdogActivate(_ node: Int, timeoutS: Int) -> Bool {
        guard scenario.patroni.watchdog.mode != .off else { return false }
        return watchdogs[dbHost[node]].activate(timeoutS: timeoutS, self)
    }

    public func watchdogKeepalive(_ node: Int) { watchdogs[dbHost[node]].keepalive(self) }
    public func watchdogSetTimeout(_ node: Int, timeoutS: Int) { watchdogs[dbHost[node]].setTimeout(timeoutS, self) }
    public func watchdogDisable(_ node: Int) { watchdogs[dbHost[node]].disable(self) }

    public func patroniExited(_ node: Int) {
        kernel.schedule(after: 0, to: Kernel<Ev>.world, .exited(patroniProc[node], crashed: false))
    }

    public func nodeName(_ node: Int) -> String { dbNames[node] }

    func pathOpen(_ a: Int, _ b: Int) -> Bool { fabric.net.pathOpen(a, b) }
}

// MARK: - Watchdog devices

extension Simulation: WatchdogEnv {
    public func watchdogTimer(host h: Int, after: Nanos) -> TimerToken {
        kernel.schedule(after: after, to: Kernel<Ev>.world, .watchdog(host: h))
    }

    public func watchdogCancel(_ t: TimerToken) { kernel.cancel(t) }

    /// The device reset the host: it goes down at once, and reboots (it answers again once its
    /// kernel is up, and starts its services).
    func watchdogReset(host h: Int) {
        crashHost(h)
        kernel.schedule(after: 10 * Time.s, to: Kernel<Ev>.world, .powerOn(h))
    }
}
