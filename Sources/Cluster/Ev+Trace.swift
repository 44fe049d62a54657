import SimCore
import SimNet
import Etcd
import Postgres
import Patroni
import Traffic
import Recording

/// `--trace-filter host=db1,component=patroni,event=patroni.timer`: which events a trace keeps.
/// Values of one key are alternatives (`host=db1,host=db2`); different keys must all match;
/// `event` matches a prefix of the dotted event name.
public struct TraceFilter: Sendable, Equatable {
    public var hosts: [String] = []
    public var components: [String] = []
    public var events: [String] = []

    public static let keys = ["host", "component", "event"]

    public struct ParseError: Error, CustomStringConvertible { public var description: String }

    public init() {}

    public static func parse(_ text: String) throws(ParseError) -> TraceFilter {
        var f = TraceFilter()
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ParseError(description: "--trace-filter \(text): '\(item)' is not key=value (keys: \(keys.joined(separator: ", ")))")
            }
            switch parts[0] {
            case "host": f.hosts.append(parts[1])
            case "component": f.components.append(parts[1])
            case "event": f.events.append(parts[1])
            default: throw ParseError(description: "--trace-filter \(text): unknown key '\(parts[0])' (keys: \(keys.joined(separator: ", ")))")
            }
        }
        return f
    }

    func matches(host: String, component: String) -> Bool {
        (hosts.isEmpty || hosts.contains(host)) && (components.isEmpty || components.contains(component))
    }
    func matches(event: String) -> Bool { events.isEmpty || events.contains { event.hasPrefix($0) } }
}

/// One JSON object on one line, appended as UTF-8 bytes straight to the trace's buffer (no
/// intermediate strings or `JSON` values: a trace writes one per event).
struct TraceLine {
    var b: [UInt8]
    var first = true

    init(buffer: [UInt8]) {
        b = buffer
        b.append(UInt8(ascii: "{"))
    }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { b.append(contentsOf: $0) }
    }
    mutating func key(_ k: StaticString) {
        if !first { b.append(UInt8(ascii: ",")) }
        first = false
        b.append(UInt8(ascii: "\""))
        raw(k)
        b.append(UInt8(ascii: "\""))
        b.append(UInt8(ascii: ":"))
    }
    mutating func digits<T: BinaryInteger>(_ v: T) {
        var x = Int64(v)
        if x < 0 { b.append(UInt8(ascii: "-")); x = -x }
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { p in
            repeat {
                p[n] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                n += 1
            } while x > 0
            for k in stride(from: n - 1, through: 0, by: -1) { b.append(p[k]) }
        }
    }
    mutating func int<T: BinaryInteger>(_ k: StaticString, _ v: T) {
        key(k)
        digits(v)
    }
    mutating func str(_ k: StaticString, _ v: String) {
        key(k)
        b.append(UInt8(ascii: "\""))
        for c in v.utf8 {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): b.append(UInt8(ascii: "\\")); b.append(c)
            case UInt8(ascii: "\n"): b.append(UInt8(ascii: "\\")); b.append(UInt8(ascii: "n"))
            default: b.append(c)
            }
        }
        b.append(UInt8(ascii: "\""))
    }
    mutating func str(_ k: StaticString, _ v: StaticString) {
        key(k)
        b.append(UInt8(ascii: "\""))
        raw(v)
        b.append(UInt8(ascii: "\""))
    }
    mutating func bool(_ k: StaticString, _ v: Bool) {
        key(k)
        if v { raw("true") } else { raw("false") }
    }
    mutating func seconds(_ k: StaticString, _ ns: Nanos) {
        key(k)
        if ns < 0 { b.append(UInt8(ascii: "-")) }
        let a = ns < 0 ? -ns : ns
        digits(a / Time.s)
        b.append(UInt8(ascii: "."))
        var frac = a % Time.s, div: Int64 = 100_000_000
        for _ in 0..<9 {
            b.append(UInt8(ascii: "0") + UInt8(frac / div))
            frac %= div
            div /= 10
        }
    }
    mutating func conn(_ c: ConnID) {
        key("conn")
        b.append(UInt8(ascii: "\""))
        digits(c.slot)
        b.append(UInt8(ascii: "."))
        digits(c.gen)
        b.append(UInt8(ascii: "\""))
    }
    mutating func lsn(_ k: StaticString, _ v: Int64) { str(k, LSN.format(v)) }
    mutating func connEvent(_ e: ConnEvent) {
        switch e {
        case .connected: str("conn_event", "connected" as StaticString)
        case .refused: str("conn_event", "refused" as StaticString)
        case .timedOut: str("conn_event", "timed_out" as StaticString)
        case .reset: str("conn_event", "reset" as StaticString)
        }
    }
    mutating func end() -> [UInt8] {
        b.append(UInt8(ascii: "}"))
        b.append(UInt8(ascii: "\n"))
        return b
    }
}

extension Simulation {
    /// Appends the trace line of one processed event to `buffer` (time, host, component, the
    /// dotted event name and the event's own fields), unless the filter drops it.
    public func appendTraceLine(_ t: Nanos, target: UInt32, _ e: Ev, filter: TraceFilter?, to buffer: inout [UInt8]) {
        let host: String, component: String
        if target == Kernel<Ev>.world {
            host = ""
            component = "world"
        } else {
            host = hosts[self.host(of: target)].name
            component = procs[Int(target)].service.rawValue
        }
        if let f = filter, !f.matches(host: host, component: component) { return }
        if let f = filter, !f.events.isEmpty, !f.matches(event: e.kindName) { return }
        var l = TraceLine(buffer: buffer)
        buffer = []
        l.seconds("t_s", t)
        l.str("host", host)
        l.str("component", component)
        let (prefix, name) = e.kindParts
        l.key("event")
        l.b.append(UInt8(ascii: "\""))
        l.raw(prefix)
        l.b.append(contentsOf: name.utf8)
        l.b.append(UInt8(ascii: "\""))
        e.traceFields(&l)
        buffer = l.end()
    }

    /// One trace line as text (for tests and small uses).
    public func traceLine(_ t: Nanos, target: UInt32, _ e: Ev, filter: TraceFilter? = nil) -> String? {
        var b: [UInt8] = []
        appendTraceLine(t, target: target, e, filter: filter, to: &b)
        return b.isEmpty ? nil : String(decoding: b.dropLast(), as: UTF8.self)
    }
}

extension Ev {
    /// The event's fields for a trace (its associated values, by name).
    func traceFields(_ l: inout TraceLine) {
        switch self {
        case .fault(let i), .faultUndo(let i): l.int("fault", i)
        case .boot(let h), .powerOn(let h): l.int("host_index", h)
        case .noise(let k): l.int("stream", k)
        case .noiseEnd(let k): l.int("slot", k)
        case .watchdog(let h): l.int("host_index", h)
        case .exited(let p, let c): l.int("process", p); l.bool("crashed", c)
        case .delayedStart(let p): l.int("process", p)
        case .etcdctlAnswer(let r, let res): l.int("req", r); l.str("result", res.traceName)
        case .net(let t): l.conn(t.conn); l.int("arg", t.arg)
        case .etcdStream(let f, let t, let c, let ev): l.int("from", f); l.int("to", t); l.conn(c); l.connEvent(ev)
        case .etcd(let i):
            switch i {
            case .peer(let m):
                l.int("from", m.from); l.int("to", m.to); l.int("term", m.term); l.int("index", m.index)
                if m.reject { l.bool("reject", true) }
            case .timer(let t): if case .requestTimeout(let r) = t { l.int("req", r) } else if case .retry(let r) = t { l.int("req", r) }
            case .request(let r): l.int("req", r.client.req); l.conn(r.client.conn)
            }
        case .pg(let i):
            switch i {
            case .timer(let t): t.traceFields(&l)
            case .message(let c, let m): l.conn(c); m.traceFields(&l)
            case .conn(let c, let ev): l.conn(c); l.connEvent(ev)
            case .control(let c):
                switch c {
                case .start(let s, let u): l.bool("standby", s); if u >= 0 { l.int("upstream", Int(u)) }
                case .stop(let i): l.bool("immediate", i)
                case .setUpstream(let u): if u >= 0 { l.int("upstream", Int(u)) }
                case .rewind(let f), .reclone(let f): l.int("from", Int(f))
                case .query(let id): l.int("query", id)
                case .replayPause(let p): l.bool("pause", p)
                case .createSlot(let id), .dropSlot(let id): l.int("slot", Int(id))
                case .advanceSlot(let id, let lsn): l.int("slot", Int(id)); l.lsn("lsn", lsn)
                case .promote, .reloadSyncNames: break
                }
            }
        case .pgTool(let n, let t): l.int("node", n); t.traceFields(&l)
        case .patroni(let i):
            switch i {
            case .timer(let t): t.traceFields(&l)
            case .etcd(let r): l.int("req", r.req); l.int("member", r.member); l.int("revision", r.revision); l.int("raft_term", r.raftTerm)
            case .etcdConn(let c, let ev), .restConn(let c, let ev): l.conn(c); l.connEvent(ev)
            case .pg: break
            case .pgAnswer(let id): l.int("query", id)
            case .leaderPgConn(let c, let ev): l.conn(c); l.connEvent(ev)
            case .leaderPgReply(let c, let r, let p): l.conn(c); l.bool("in_recovery", r); l.lsn("lsn", p.lsn)
            case .rest(let r): l.conn(r.conn); l.int("id", r.id)
            case .restResponse(let r): l.int("id", r.id); l.int("status", r.status)
            case .operatorAction, .terminate: break
            }
        case .traffic(let t):
            switch t {
            case .timer(let x): x.traceFields(&l)
            case .server(let c, let m), .client(let c, let m): l.conn(c); m.traceFields(&l)
            case .checkAnswer(let c, let s): l.conn(c); l.int("status", s)
            case .conn(let c, let ev): l.conn(c); l.connEvent(ev)
            case .advert(let f, let p): l.int("from", f); l.int("priority", p)
            }
        }
    }

    /// A short, stable name of the event's kind (`patroni.timer.loop`, `etcd.peer.app`), for
    /// traces and for messages about a run that stalled.
    var kindName: String {
        let (a, b) = kindParts
        return a.description + b
    }

    /// The name in two parts, a constant prefix and the innermost case's name, so that a trace
    /// writes it without building a string per event (and without reflection).
    var kindParts: (StaticString, String) {
        switch self {
        case .fault: return ("world.fault", "")
        case .faultUndo: return ("world.fault_undo", "")
        case .boot: return ("world.boot", "")
        case .noise: return ("world.noise", "")
        case .noiseEnd: return ("world.noise_end", "")
        case .watchdog: return ("world.watchdog", "")
        case .exited: return ("world.exited", "")
        case .powerOn: return ("world.power_on", "")
        case .delayedStart: return ("world.delayed_start", "")
        case .etcdctlAnswer: return ("world.etcdctl_answer", "")
        case .net(let t): return ("world.net.", EnumNames.net[Int(t.kind.rawValue)])
        case .etcdStream: return ("world.etcd_stream", "")
        case .etcd(let i):
            switch i {
            case .peer(let m): return ("etcd.peer.", EnumNames.raft[Int(m.type.rawValue)])
            case .timer(let t): return ("etcd.timer.", t.traceName)
            case .request(let r): return ("etcd.request.", r.op.traceName)
            }
        case .pg(let i):
            switch i {
            case .timer(let t): return ("postgres.timer.", t.traceName)
            case .message(_, let m): return ("postgres.message.", m.traceName)
            case .conn(_, let e): return ("postgres.conn.", EnumNames.conn[Int(e.rawValue)])
            case .control(let c): return ("postgres.control.", c.traceName)
            }
        case .pgTool(_, let t): return ("postgres.tool.", t.traceName)
        case .patroni(let i):
            switch i {
            case .timer(.client(let c)): return ("patroni.timer.client.", c.traceName)
            case .timer(let t): return ("patroni.timer.", t.traceName)
            case .etcd(let r): return ("patroni.etcd_response.", r.result.traceName)
            case .etcdConn(_, let e): return ("patroni.etcd_conn.", EnumNames.conn[Int(e.rawValue)])
            case .pg(let n): return ("patroni.pg.", n.traceName)
            case .pgAnswer: return ("patroni.pg_answer", "")
            case .leaderPgConn(_, let e): return ("patroni.leader_pg_conn.", EnumNames.conn[Int(e.rawValue)])
            case .leaderPgReply: return ("patroni.leader_pg_reply", "")
            case .rest: return ("patroni.rest_request", "")
            case .restResponse: return ("patroni.rest_response", "")
            case .restConn(_, let e): return ("patroni.rest_conn.", EnumNames.conn[Int(e.rawValue)])
            case .terminate: return ("patroni.terminate", "")
            case .operatorAction(let a): return ("patroni.operator.", a.traceName)
            }
        case .traffic(let t):
            switch t {
            case .timer(let x): return ("traffic.timer.", x.traceName)
            case .server(_, let m): return ("traffic.server.", m.traceName)
            case .client(_, let m): return ("traffic.client.", m.traceName)
            case .checkAnswer: return ("traffic.check_answer", "")
            case .conn(_, let e): return ("traffic.conn.", EnumNames.conn[Int(e.rawValue)])
            case .advert: return ("traffic.advert", "")
            }
        }
    }
}

extension EtcdTimer {
    var traceName: String {
        switch self {
        case .tick: "tick"
        case .lessorScan: "lessor_scan"
        case .fsyncDone: "fsync_done"
        case .requestTimeout: "request_timeout"
        case .retry: "retry"
        case .adjustTicks: "adjust_ticks"
        case .stopNow: "stop_now"
        case .removedShutdown: "removed_shutdown"
        }
    }
}

extension EtcdRequest.Op {
    var traceName: String {
        switch self {
        case .range: "range"
        case .put: "put"
        case .delete: "delete"
        case .txn: "txn"
        case .leaseGrant: "lease_grant"
        case .leaseKeepAlive: "lease_keepalive"
        case .leaseRevoke: "lease_revoke"
        case .watch: "watch"
        case .memberRemove: "member_remove"
        case .memberAdd: "member_add"
        case .memberList: "member_list"
        }
    }
}

extension EtcdResponse.Result {
    var traceName: String {
        switch self {
        case .ok: "ok"
        case .range: "range"
        case .txn: "txn"
        case .leaseGranted: "lease_granted"
        case .keepAlive: "keepalive"
        case .watchCreated: "watch_created"
        case .watchEvent: "watch_event"
        case .members: "members"
        case .error: "error"
        }
    }
}

extension EtcdClientTimer {
    var traceName: String {
        switch self {
        case .connectTimeout: "connect_timeout"
        case .readTimeout: "read_timeout"
        case .retrySleep: "retry_sleep"
        case .keepalive: "keepalive"
        }
    }
}

extension PgTimer {
    var traceName: String {
        switch self {
        case .startupDone: "startup_done"
        case .stopDone: "stop_done"
        case .promoteDone: "promote_done"
        case .rewindDone: "rewind_done"
        case .recloneDone: "reclone_done"
        case .execDone: "exec_done"
        case .walFlushDone: "wal_flush_done"
        case .walWriter: "wal_writer"
        case .checkpoint: "checkpoint"
        case .standbyFlushDone: "standby_flush_done"
        case .applyReached: "apply_reached"
        case .senderCheck: "sender_check"
        case .receiverCheck: "receiver_check"
        case .statusInterval: "status_interval"
        case .reconnect: "reconnect"
        case .senderSend: "sender_send"
        case .backupTimeout: "backup_timeout"
        case .backupRetry: "backup_retry"
        case .startFailed: "start_failed"
        case .archiveDone: "archive_done"
        case .archiveTimeout: "archive_timeout"
        case .restorePoll: "restore_poll"
        case .restoreDone: "restore_done"
        case .answerQuery: "answer_query"
        }
    }

    func traceFields(_ l: inout TraceLine) {
        switch self {
        case .walFlushDone(let g), .standbyFlushDone(let g):
            l.int("gen", g)
        case .execDone(let s): l.int("session", s)
        case .answerQuery(let id, let c): l.int("query", id); l.bool("cancelled", c)
        case .applyReached(let lsn): l.lsn("lsn", lsn)
        case .senderCheck(let e), .receiverCheck(let e), .statusInterval(let e), .reconnect(let e), .senderSend(let e): l.int("epoch", e)
        case .walWriter, .checkpoint, .startupDone, .stopDone, .promoteDone, .rewindDone, .recloneDone, .backupTimeout, .backupRetry, .startFailed,
             .archiveDone, .archiveTimeout, .restorePoll, .restoreDone: break
        }
    }
}

extension PgMessage {
    var traceName: String {
        switch self {
        case .startup: "startup"
        case .ready: "ready"
        case .query: "query"
        case .cancel: "cancel"
        case .result: "result"
        case .closed: "closed"
        case .replStart: "repl_start"
        case .replAccepted: "repl_accepted"
        case .replRefused: "repl_refused"
        case .walData: "wal_data"
        case .keepalive: "keepalive"
        case .standbyReply: "standby_reply"
        case .replBroken: "repl_broken"
        case .backupEndRequest: "backup_end_request"
        case .backupEndReply: "backup_end_reply"
        case .timelineRequest: "timeline_request"
        case .timelineReply: "timeline_reply"
        }
    }

    func traceFields(_ l: inout TraceLine) {
        switch self {
        case .startup(let s), .ready(let s), .cancel(let s): l.int("session", s)
        case .query(let s, let id, let bytes, let w): l.int("session", s); l.int("write_id", id); l.int("bytes", bytes); l.bool("write", w)
        case .result(let s, let id, let st, let at, _):
            l.int("session", s); l.int("write_id", id); l.str("status", EnumNames.query[Int(st.rawValue)])
            if at != .none { l.lsn("lsn", at.lsn) }
        case .closed(let s, let r): l.int("session", s); l.str("reason", EnumNames.close[Int(r.rawValue)])
        case .replStart(let e, let sb, let at): l.int("epoch", e); l.int("standby", sb); l.lsn("lsn", at.lsn)
        case .replAccepted(let e, _, let tl): l.int("epoch", e); l.int("timeline", tl)
        case .replRefused(let e, let r): l.int("epoch", e); l.str("reason", EnumNames.refusal[Int(r.rawValue)])
        case .walData(let e, let a, let b, _, let tl): l.int("epoch", e); l.lsn("start", a); l.lsn("end", b); l.int("timeline", tl)
        case .keepalive(let e, let end, let rr): l.int("epoch", e); l.lsn("end", end); l.bool("reply_requested", rr)
        case .standbyReply(let e, let w, let f, let a, _): l.int("epoch", e); l.lsn("write", w); l.lsn("flush", f); l.lsn("apply", a)
        case .replBroken(let e): l.int("epoch", e)
        case .backupEndRequest(let r): l.int("requester", r)
        case .backupEndReply(let p): l.lsn("lsn", p.lsn)
        case .timelineRequest: break
        case .timelineReply(let r, let p): l.bool("in_recovery", r); l.lsn("lsn", p.lsn)
        }
    }
}

extension PgNotification {
    var traceName: String {
        switch self {
        case .started: "started"
        case .stopped: "stopped"
        case .promoted: "promoted"
        case .crashed: "crashed"
        default: "other"
        }
    }
}

extension PatroniTimer {
    var traceName: String {
        switch self {
        case .loop: "loop"
        case .cacheWait: "cache_wait"
        case .sleep: "sleep"
        case .rest: "rest"
        case .restRead: "rest_read"
        case .shutdownPoll: "shutdown_poll"
        case .cacheRebuild: "cache_rebuild"
        case .client(let c): "client." + c.traceName
        case .jobSleep: "job_sleep"
        case .leaderPgTimeout: "leader_pg_timeout"
        case .jobTimeout: "job_timeout"
        case .callbackExited: "callback_exited"
        }
    }

    func traceFields(_ l: inout TraceLine) {
        switch self {
        case .loop, .cacheWait, .sleep, .jobSleep, .shutdownPoll, .jobTimeout, .leaderPgTimeout: break
        case .rest(let id), .restRead(let id): l.int("id", id)
        case .cacheRebuild: break
        case .callbackExited(let reload, let seq): l.bool("reload", reload); l.int("seq", Int(seq))
        case .client(let c):
            switch c {
            case .connectTimeout(let r), .readTimeout(let r): l.int("req", r)
            case .retrySleep(let t): l.int("call", t)
            case .keepalive(let r, let f): l.int("req", r); l.int("failures", f)
            }
        }
    }
}

extension OperatorAction {
    var traceName: String {
        switch self {
        case .setPause: "set_pause"
        case .editConfig: "edit_config"
        case .reloadTags: "reload_tags"
        case .restartPostgres: "restart_postgres"
        case .reinit: "reinit"
        case .switchover: "switchover"
        case .failover: "failover"
        }
    }
}

extension TrafficTimer {
    var traceName: String {
        switch self {
        case .check: "check"
        case .checkTimeout: "check_timeout"
        case .checkReadTimeout: "check_read_timeout"
        case .connectTimeout: "connect_timeout"
        case .retryConnect: "retry_connect"
        case .clientDue: "client_due"
        case .queryTimeout: "query_timeout"
        case .readDue: "read_due"
        case .advertTick: "advert_tick"
        case .masterDown: "master_down"
        case .trackScript: "track_script"
        case .loginRetry: "login_retry"
        case .scrape: "scrape"
        case .scrapeTimeout: "scrape_timeout"
        }
    }

    func traceFields(_ l: inout TraceLine) {
        switch self {
        case .check(let b, let s): l.int("backend", b); l.int("server", s)
        case .checkTimeout(let id), .checkReadTimeout(let id), .connectTimeout(let id): l.int("id", id)
        case .retryConnect(let s): l.int("session", s)
        case .clientDue(let c), .readDue(let c): l.int("client", c)
        case .queryTimeout(let c, let id): l.int("client", c); l.int("id", id)
        case .scrape(let t): l.int("target", t)
        case .scrapeTimeout(let t): l.int("target", t)
        case .advertTick, .masterDown, .trackScript, .loginRetry: break
        }
    }
}

/// The names of small raw-valued enums, described once (describing a value per event would
/// cost reflection on every line).
enum EnumNames {
    static func table<T: RawRepresentable>(_ make: (UInt8) -> T?) -> [String] where T.RawValue == UInt8 {
        (0...255).map { make(UInt8($0)).map { String(describing: $0) } ?? "?" }
    }
    static let raft = table(RaftMsgType.init(rawValue:))
    static let conn = table(ConnEvent.init(rawValue:))
    static let net = table(NetTimer.Kind.init(rawValue:))
    static let query = table(QueryStatus.init(rawValue:))
    static let close = table(CloseReason.init(rawValue:))
    static let refusal = table(ReplRefusal.init(rawValue:))
}
