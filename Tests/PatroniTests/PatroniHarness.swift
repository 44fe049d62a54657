import Settings
import SimCore
import Recording
import Etcd
import Postgres
@testable import Patroni

/// One Patroni node alone, its world faked: inputs go in with the clock, and every effect it
/// asks for (a PostgreSQL request, a connection, a timer, a REST answer, the watchdog) comes
/// out as a value the test can assert on.
final class PatroniHarness: PatroniEnv {
    enum Effect: Equatable {
        case pgStart(standby: Bool, upstream: Int?)
        case pgStop(immediate: Bool)
        case pgPromote
        case pgSetUpstream(Int?)
        case etcdConnect(member: Int)
        case restListen(Bool)
        case watchdogArmed(Int)
        case watchdogDisarmed
        case watchdogTimeout(Int)
    }

    var now: Nanos = 0
    let recorder = Recorder()
    var effects: [Effect] = []
    /// Pending inputs in time order (a stable queue: time, then arrival).
    var pending: [(t: Nanos, seq: Int, input: PatroniInput)] = []
    var seq = 0
    /// What PostgreSQL answers Patroni's queries with.
    var pg: PgView
    /// While true, every connection to an etcd member is refused.
    var etcdDown = true
    var nextConn: UInt32 = 1
    let names: [String]
    var node: PatroniNode!

    init(members: [String] = ["db1", "db2", "db3"], config: PatroniConfig = PatroniConfig(), primary: Bool) {
        names = members
        pg = PgView(reachable: true, running: true, starting: false, stopping: false, hasData: true, inRecovery: !primary, promoting: false,
                    timeline: 1, lastOperation: 1 << 20, received: primary ? 0 : 1 << 20, replayed: primary ? 0 : 1 << 20,
                    streamingFrom: primary ? nil : 0, upstream: primary ? nil : 0, controlInProduction: primary, cleanShutdown: false,
                    position: WalPosition(fork: 0, lsn: 1 << 20), replication: [], syncNames: .none)
        let shared = EtcdShared(config: EtcdConfig(), names: members, recorder: recorder)
        let keys = ClusterKeys(keys: shared.keys, prefix: config.keyPrefix, members: members)
        let values = PatroniValues(names: members)
        let client = EtcdClient(proc: 0, members: Array(members.indices), retryTimeoutNs: config.retryTimeoutNs, ttlSeconds: config.ttl, rng: Rng(seed: 1))
        let dcs = PatroniDCS(client: client, shared: shared, keys: keys, values: values, me: 0, config: config)
        node = PatroniNode(node: 0, name: members[0], members: Array(members.indices), config: config, dcs: dcs, values: values, rng: Rng(seed: 2))
    }

    @discardableResult
    func schedule(after: Nanos, _ i: PatroniInput) -> TimerToken {
        seq += 1
        pending.append((now + max(0, after), seq, i))
        return TimerToken(seq: UInt64(seq))
    }

    /// Timers cancelled by the node (a cancelled one is dropped unprocessed, as the kernel does).
    var cancelledTimers = 0
    func cancel(_ t: TimerToken) {
        guard let i = pending.firstIndex(where: { UInt64($0.seq) == t.seq }) else { return }
        pending.remove(at: i)
        cancelledTimers += 1
    }

    /// Feeds the node its inputs in time order until `t`.
    func run(until t: Nanos) {
        while let k = pending.indices.min(by: { (pending[$0].t, pending[$0].seq) < (pending[$1].t, pending[$1].seq) }), pending[k].t <= t {
            let e = pending.remove(at: k)
            now = e.t
            node.handle(e.input, self)
        }
        now = t
    }

    /// The entries Patroni recorded of one kind (demote, promote_started, ...).
    func logged(_ kind: String) -> [TimelineEntry] { recorder.timeline.filter { $0.kind == kind } }

    // MARK: - PatroniEnv

    func patroniTimer(_ node: Int, after: Nanos, _ t: PatroniTimer) -> TimerToken { schedule(after: after, .timer(t)) }
    func patroniCancel(_ t: TimerToken) { cancel(t) }
    /// While true, PostgreSQL is frozen: queries wait in `heldQueries` until `thaw()`.
    var pgFrozen = false
    var heldQueries: [UInt32] = []
    var queries = 0
    var responses: [RESTResponse] = []
    /// PostgreSQL answers a query after a local round trip (400 µs), with `pg`.
    func pgQuery(_ node: Int, id: UInt32) {
        queries += 1
        if pgFrozen { heldQueries.append(id) } else { schedule(after: 400 * Time.us, .pgAnswer(id)) }
    }
    func thaw() {
        pgFrozen = false
        for id in heldQueries { schedule(after: 400 * Time.us, .pgAnswer(id)) }
        heldQueries.removeAll()
    }
    func takePgAnswer(_ node: Int, id: UInt32) -> PgView? { pg }
    func pgLocalState(_ node: Int) -> PgView { pg }
    /// PostgreSQL comes up a second later, in recovery when asked to start as a standby.
    func pgStart(_ node: Int, asStandby: Bool, upstream: Int?) {
        effects.append(.pgStart(standby: asStandby, upstream: upstream))
        pg.starting = true
        schedule(after: 1 * Time.s, .pg(.started(ok: true)))
        pg.running = true
        pg.starting = false
        pg.inRecovery = asStandby
        pg.controlInProduction = !asStandby
    }
    /// PostgreSQL stops a fraction of a second later and says so.
    func pgStop(_ node: Int, immediate: Bool) {
        effects.append(.pgStop(immediate: immediate))
        schedule(after: 100 * Time.ms, .pg(.stopped))
        pg.running = false
    }
    func pgPromote(_ node: Int) { effects.append(.pgPromote) }
    func pgSetUpstream(_ node: Int, _ upstream: Int?) { effects.append(.pgSetUpstream(upstream)) }
    func pgSetSyncNames(_ node: Int, _ ssn: SyncStandbyNames) {}
    /// Patroni's slot statements, in order.
    var slotOps: [PgSlotOp] = []
    func pgSlot(_ node: Int, _ op: PgSlotOp) { slotOps.append(op) }
    func pgRewind(_ node: Int, from source: Int) { schedule(after: 1 * Time.ms, .pg(.rewindSourceUnreachable)) }
    func pgReclone(_ node: Int, from source: Int) {}
    /// The leader's PostgreSQL refuses the rewind check's connection.
    func leaderPgConnect(from node: Int, to leader: Int) -> ConnID {
        let c = newConn()
        schedule(after: 1 * Time.ms, .leaderPgConn(c, .refused))
        return c
    }
    func leaderPgSend(_ c: ConnID, from node: Int, _ m: PgMessage) {}
    func connClose(_ c: ConnID) {}
    let walHistory = WalHistory()
    func pgUserSyncNames(_ node: Int) -> String { "" }
    func editedConfig(_ i: Int) -> PatroniConfig { PatroniConfig() }
    func editedTags(_ i: Int) -> PatroniConfig.Tags { PatroniConfig.Tags() }
    func restConnect(from node: Int, to peer: Int) -> ConnID {
        let c = newConn()
        schedule(after: 1 * Time.ms, .restConn(c, .refused))
        return c
    }
    func restSend(_ c: ConnID, from node: Int, _ r: RESTRequest) {}
    func restClose(_ c: ConnID) {}
    func restListen(_ node: Int, _ open: Bool) { effects.append(.restListen(open)) }
    func restRespond(_ node: Int, _ r: RESTResponse) { responses.append(r) }
    func watchdogActivate(_ node: Int, timeoutS: Int) -> Bool { effects.append(.watchdogArmed(timeoutS)); return true }
    func watchdogKeepalive(_ node: Int) {}
    func watchdogSetTimeout(_ node: Int, timeoutS: Int) { effects.append(.watchdogTimeout(timeoutS)) }
    func watchdogDisable(_ node: Int) { effects.append(.watchdogDisarmed) }
    func patroniExited(_ node: Int) {}
    func nodeName(_ node: Int) -> String { names[node] }

    // MARK: - EtcdClientEnv

    func newConn() -> ConnID {
        nextConn += 1
        return ConnID(slot: nextConn, gen: 1)
    }
    func etcdConnect(from proc: UInt32, toMember slot: Int) -> ConnID {
        effects.append(.etcdConnect(member: slot))
        let c = newConn()
        // A refused connection comes back after a round trip on the LAN.
        if etcdDown { schedule(after: 500 * Time.us, .etcdConn(c, .refused)) }
        return c
    }
    func etcdSend(_ c: ConnID, from proc: UInt32, _ r: EtcdRequest) {}
    func etcdClose(_ c: ConnID) {}
    func etcdProbe(_ c: ConnID, from proc: UInt32) -> Bool { !etcdDown }
    func etcdClientTimer(_ proc: UInt32, after: Nanos, _ t: EtcdClientTimer) { schedule(after: after, .timer(.client(t))) }
}
