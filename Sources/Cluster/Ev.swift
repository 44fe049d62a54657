import SimCore
import SimNet
import Etcd
import Postgres
import Patroni
import Traffic

/// Every event in a simulation: the world's own, and each model's inputs.
public enum Ev {
    /// Fault `i` of the scenario fires.
    case fault(Int)
    /// Fault `i`'s `for:` ran out.
    case faultUndo(Int)
    /// Noise stream `k`'s next event arrives (`NoiseRuntime.taggedStream`: an episode's own).
    case noise(UInt32)
    /// The noise event in slot `k` ends.
    case noiseEnd(UInt32)
    /// Host `h` finished booting: start its services.
    case boot(Int)
    /// The watchdog on host `h` expires (its last ping's timer; a newer ping cancelled older ones).
    case watchdog(host: Int)
    /// A process ended itself (graceful exit or panic), applied outside its own handler.
    case exited(UInt32, crashed: Bool)
    /// A host powers on (after a watchdog reset).
    case powerOn(Int)
    /// A process's model starts later than its process (Patroni's start phase, an etcd member
    /// re-added by the operator).
    case delayedStart(UInt32)
    /// An etcd member answered the operator's `etcdctl` (admin request `req`).
    case etcdctlAnswer(req: UInt32, EtcdResponse.Result)
    /// The network's own timer (SYN and data retransmissions, give-ups).
    case net(NetTimer)
    /// A rafthttp stream between two etcd members connected, failed or was reset.
    case etcdStream(from: UInt8, to: UInt8, ConnID, ConnEvent)
    case etcd(EtcdInput)
    case pg(PgInput)
    /// A PostgreSQL tool's timer (pg_rewind, pg_basebackup): it runs whether or not the
    /// postmaster does.
    case pgTool(node: Int, PgTimer)
    case patroni(PatroniInput)
    case traffic(TrafficInput)

    /// A 64-bit summary for the trace hash: the case, then its most telling fields.
    var traceKey: UInt64 {
        switch self {
        case .fault(let i): return 1 << 56 | UInt64(i)
        case .faultUndo(let i): return 2 << 56 | UInt64(i)
        case .boot(let h): return 3 << 56 | UInt64(h)
        case .noise(let k): return 21 << 56 | UInt64(k)
        case .noiseEnd(let k): return 22 << 56 | UInt64(k)
        case .watchdog(let h): return 4 << 56 | UInt64(h) << 32
        case .exited(let p, let c): return 5 << 56 | UInt64(p) | (c ? 1 << 40 : 0)
        case .powerOn(let h): return 14 << 56 | UInt64(h)
        case .delayedStart(let p): return 15 << 56 | UInt64(p)
        case .etcdctlAnswer(let r, _): return 16 << 56 | UInt64(r)
        case .net(let t): return 17 << 56 | UInt64(t.conn.slot) << 16 | UInt64(t.kind.rawValue) << 8 | UInt64(t.arg)
        case .etcdStream(let f, let t, let c, let e): return 18 << 56 | UInt64(f) << 40 | UInt64(t) << 32 | UInt64(c.slot) << 8 | UInt64(e.rawValue)
        case .etcd(let i):
            switch i {
            case .peer(let m): return 6 << 56 | UInt64(m.type.rawValue) << 48 | (m.term & 0xFFFF) << 32 | UInt64(truncatingIfNeeded: m.index)
            case .timer(let t): return 7 << 56 | UInt64(truncatingIfNeeded: t.code)
            case .request(let r): return 8 << 56 | UInt64(r.client.req)
            }
        case .pg(let i):
            switch i {
            case .timer(let t): return 9 << 56 | UInt64(truncatingIfNeeded: t.code)
            case .message(let c, let m): return 10 << 56 | m.traceCode ^ UInt64(c.slot) << 40
            case .conn(let c, let e): return 19 << 56 | UInt64(c.slot) << 8 | UInt64(e.rawValue)
            case .control(let c): return 20 << 56 | c.traceCode
            }
        case .pgTool(let n, let t): return 11 << 56 | UInt64(n) << 40 | UInt64(truncatingIfNeeded: t.code)
        case .patroni(let i): return 12 << 56 | i.code
        case .traffic(let t): return 13 << 56 | t.code
        }
    }
}

extension EtcdTimer {
    var code: Int {
        switch self {
        case .tick: return 1
        case .lessorScan: return 2
        case .fsyncDone: return 3
        case .requestTimeout(let x): return 4 | Int(x) << 8
        case .retry(let x): return 5 | Int(x) << 8
        case .adjustTicks(let a): return 6 | a << 8
        case .stopNow: return 7
        case .removedShutdown: return 8
        }
    }
}

extension PgTimer {
    var code: Int {
        switch self {
        case .startupDone: return 1
        case .stopDone: return 2
        case .promoteDone: return 3
        case .rewindDone: return 4
        case .recloneDone: return 5
        case .execDone(let s): return 6 | Int(s) << 8
        case .walFlushDone(let g): return 7 | Int(g) << 8
        case .walWriter: return 8
        case .checkpoint: return 9
        case .standbyFlushDone: return 10
        case .applyReached(let l): return 11 | Int(truncatingIfNeeded: l) << 8
        case .senderCheck(let e): return 12 | Int(e) << 8
        case .receiverCheck(let e): return 13 | Int(e) << 8
        case .statusInterval(let e): return 14 | Int(e) << 8
        case .reconnect: return 15
        case .backupTimeout: return 16
        case .backupRetry: return 18
        case .senderSend(let e): return 19 | Int(e) << 8
        case .startFailed: return 20
        case .archiveDone: return 21
        case .archiveTimeout: return 22
        case .restorePoll: return 23
        case .restoreDone: return 24
        case .answerQuery(let id, let c): return 25 | (c ? 1 << 5 : 0) | Int(id) << 8
        }
    }
}

extension PatroniInput {
    var code: UInt64 {
        switch self {
        case .timer: return 1
        case .etcd(let r): return 2 | UInt64(r.req) << 8
        case .etcdConn(let c, let e): return 3 | UInt64(c.slot) << 8 | UInt64(e.rawValue) << 40
        case .pg: return 4
        case .pgAnswer(let id): return 10 | UInt64(id) << 8
        case .leaderPgConn(let c, let e): return 11 | UInt64(c.slot) << 8 | UInt64(e.rawValue) << 40
        case .leaderPgReply(let c, let r, let p): return 12 | UInt64(c.slot) << 8 | (r ? 1 << 40 : 0) ^ UInt64(truncatingIfNeeded: p.lsn) << 41
        case .rest(let r): return 5 | UInt64(r.id) << 8
        case .restResponse(let r): return 6 | UInt64(r.id) << 8 | UInt64(UInt16(bitPattern: r.status)) << 40
        case .restConn(let c, let e): return 7 | UInt64(c.slot) << 8 | UInt64(e.rawValue) << 40
        case .operatorAction: return 8
        case .terminate: return 9
        }
    }
}

extension Simulation {
    func dispatch(_ e: Event<Ev>) {
        switch e.payload {
        case .fault(let i): applyFault(i, undoing: false)
        case .faultUndo(let i): applyFault(i, undoing: true)
        case .boot(let h): boot(h)
        case .noise(let k): noiseArrives(k)
        case .noiseEnd(let k): noiseEnds(k)
        case .watchdog(let h): if watchdogs[h].expired(self) { watchdogReset(host: h) }
        case .exited(let p, let crashed): if crashed { killProcess(p) } else { processExited(p) }
        case .powerOn(let h): powerOn(h)
        case .delayedStart(let p): delayedStart(p)
        case .etcdctlAnswer(let r, let result): etcdctlAnswered(r, result)
        case .net(let t): fabric.handle(t)
        case .etcdStream(let f, let t, let c, let ev): etcdStreamEvent(from: Int(f), to: Int(t), c, ev)
        case .etcd(let i):
            let m = procs[Int(e.target)].model
            etcd[m].handle(i, self)
            checkInvariants(etcd[m].invariantViolations, e)
        case .pg(let i):
            let n = procs[Int(e.target)].model
            pg[n].handle(i, self)
            syncListening(n)
            checkInvariants(pg[n].invariantViolations, e)
        case .pgTool(let n, let t):
            pg[n].handle(.timer(t), self)
            syncListening(n)
            checkInvariants(pg[n].invariantViolations, e)
        case .patroni(let i):
            let m = procs[Int(e.target)].model
            patroni[m].handle(i, self)
            checkInvariants(patroni[m].invariantViolations, e)
        case .traffic(let t): traffic(e.target, t)
        }
    }

    /// Each model's invariants (`+Invariants.swift` beside its type), after every input it
    /// handled: in debug builds and tests only (release runs rely on the recorded checks).
    @inline(__always)
    func checkInvariants(_ violations: @autoclosure () -> [String], _ e: Event<Ev>) {
        #if DEBUG
        let v = violations()
        if !v.isEmpty {
            fatalError("invariant violated: \(procName(e.target)) at \(DurationText.seconds3(e.time))s after \(e.payload.kindName): \(v.joined(separator: "; "))")
        }
        #endif
    }
}

/// Sizes of the event payloads, for `simctl bench`: copying events is the kernel's main cost,
/// so they should stay small and trivially copyable (no reference-counted fields).
public enum EventLayout {
    public static var report: [(String, Int, Bool)] {
        [("Ev", MemoryLayout<Ev>.size, _isPOD(Ev.self)),
         ("EtcdInput", MemoryLayout<EtcdInput>.size, _isPOD(EtcdInput.self)),
         ("PgInput", MemoryLayout<PgInput>.size, _isPOD(PgInput.self)),
         ("PatroniInput", MemoryLayout<PatroniInput>.size, _isPOD(PatroniInput.self)),
         ("TrafficInput", MemoryLayout<TrafficInput>.size, _isPOD(TrafficInput.self)),
         ("EtcdResponse", MemoryLayout<EtcdResponse>.size, _isPOD(EtcdResponse.self)),
         ("RESTResponse", MemoryLayout<RESTResponse>.size, _isPOD(RESTResponse.self)),
         ("RESTRequest", MemoryLayout<RESTRequest>.size, _isPOD(RESTRequest.self)),
         ("RaftMessage", MemoryLayout<RaftMessage>.size, _isPOD(RaftMessage.self)),
         ("EtcdRequest", MemoryLayout<EtcdRequest>.size, _isPOD(EtcdRequest.self)),
         ("WatchEvent", MemoryLayout<WatchEvent>.size, _isPOD(WatchEvent.self)),
         ("PatroniTimer", MemoryLayout<PatroniTimer>.size, _isPOD(PatroniTimer.self))]
    }
}

