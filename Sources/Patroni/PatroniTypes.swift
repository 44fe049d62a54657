import SimCore
import Settings
import Recording
import Etcd
import Postgres

/// Patroni's replication-slot statements (a member's slot by node id; a permanent one by
/// -1 - its index).
public enum PgSlotOp: Sendable, Equatable {
    case create(Int16)
    case drop(Int16)
    case advance(Int16, lsn: Int64)
}

/// A request to a Patroni REST API, on the connection the caller opened (the answer goes back
/// on it).
public struct RESTRequest: Sendable {
    public enum Kind: Sendable, Equatable {
        case get(RESTPath, lag: Int64?)
        /// POST /failsafe from the leader (while it cannot reach the DCS).
        case failsafe(leader: Int)
        /// POST /switchover or /failover (patronictl).
        case switchover(leader: Int?, candidate: Int?)
        case failover(candidate: Int)
    }
    public var conn: ConnID
    public var id: UInt32
    public var kind: Kind
    public init(conn: ConnID, id: UInt32, kind: Kind) {
        self.conn = conn
        self.id = id
        self.kind = kind
    }
}

/// What GET /patroni tells a peer during the leader race (the fields `_MemberStatus` reads).
public struct MemberStatus: Sendable, Equatable {
    public var inRecovery: Bool
    public var walPosition: Int64
    public var timeline: Int
    public var nofailover: Bool
    public var failoverPriority: Int
    public var watchdogFailed: Bool
}

public struct RESTResponse: Sendable {
    public var conn: ConnID
    public var id: UInt32
    public var status: Int16
    public var member: MemberStatus?
    /// The LSN header of a failsafe answer.
    public var lsn: Int64
    public init(conn: ConnID, id: UInt32, status: Int16, member: MemberStatus? = nil, lsn: Int64 = 0) {
        self.conn = conn
        self.id = id
        self.status = status
        self.member = member
        self.lsn = lsn
    }
}

public enum PatroniTimer: Sendable, Equatable {
    /// The HA loop's nap (or wait on the DCS event) ended.
    case loop
    /// get_cluster waited retry_timeout for the cache.
    case cacheWait
    /// A `time.sleep` inside the cycle ended.
    case sleep
    /// A `time.sleep` inside an async job ended.
    case jobSleep
    /// A REST call's (race poll, failsafe POST) connect timeout ran out.
    case rest(UInt32)
    /// A REST call's read timeout ran out.
    case restRead(UInt32)
    /// Patroni's graceful shutdown waited for the primary to drop this sync standby
    /// (`while_not_sync_standby` polls every 2 s).
    case shutdownPoll
    case cacheRebuild
    case client(EtcdClientTimer)
    /// The promote job's wait for "in production" (`_wait_promote`) ran out.
    case jobTimeout
    /// The rewind check's connection to the leader's PostgreSQL hit libpq's connect_timeout.
    case leaderPgTimeout
    /// A callback script exited (`reload`: the on_reload executor's, else the callback
    /// executor's); the sequence number tells a killed script's timer from its successor's.
    case callbackExited(reload: Bool, seq: UInt32)
}

/// Inputs of a Patroni process.
public enum PatroniInput: Sendable {
    case timer(PatroniTimer)
    case etcd(EtcdResponse)
    /// A connection to an etcd member connected, was refused, timed out or was reset.
    case etcdConn(ConnID, ConnEvent)
    case pg(PgNotification)
    /// The local PostgreSQL answered query `id` (the body is taken with `PatroniEnv.takePgAnswer`,
    /// so that events stay small).
    case pgAnswer(UInt32)
    /// The connection to the leader's PostgreSQL (the rewind check) connected, was refused,
    /// timed out or was reset.
    case leaderPgConn(ConnID, ConnEvent)
    /// The leader's PostgreSQL answered the rewind check.
    case leaderPgReply(ConnID, inRecovery: Bool, end: WalPosition)
    case rest(RESTRequest)
    case restResponse(RESTResponse)
    /// A connection this Patroni opened to a peer's REST API connected, was refused, timed
    /// out or was reset.
    case restConn(ConnID, ConnEvent)
    /// SIGTERM (`systemctl stop patroni`): the graceful shutdown.
    case terminate
    /// The operator (patronictl) acts: pause/resume, edit_config, restart, reinit, switchover...
    case operatorAction(OperatorAction)
}

public enum OperatorAction: Sendable {
    case setPause(Bool)
    /// `patronictl edit-config`: the edited configuration is `env.editedConfig(i)` (kept out of
    /// the event so events stay small and trivially copyable).
    case editConfig(Int)
    /// The member's local configuration reloaded with new tags: `env.editedTags(i)`.
    case reloadTags(Int)
    case restartPostgres
    case reinit
    case switchover(leader: Int?, candidate: Int?)
    case failover(candidate: Int)
}

/// What a Patroni node needs from the world.
public protocol PatroniEnv: EtcdClientEnv {
    var recorder: Recorder { get }
    /// A timer; its token cancels it while pending (and must be forgotten once it fired).
    @discardableResult func patroniTimer(_ node: Int, after: Nanos, _ t: PatroniTimer) -> TimerToken
    func patroniCancel(_ t: TimerToken)
    /// Sends one of Patroni's queries to the local PostgreSQL; the answer arrives as
    /// `.pgAnswer(id)`: after a local round trip from a running server, when a frozen one
    /// resumes, and at once from the files when no server runs (the connection is refused,
    /// and pg_controldata and postmaster.pid are all there is).
    func pgQuery(_ node: Int, id: UInt32)
    func takePgAnswer(_ node: Int, id: UInt32) -> PgView?
    /// What Patroni reads on its host without asking the server: postmaster.pid and whether
    /// the process lives, pg_controldata (checkpoint, state, timeline), recovery configuration.
    func pgLocalState(_ node: Int) -> PgView
    func pgStart(_ node: Int, asStandby: Bool, upstream: Int?)
    func pgStop(_ node: Int, immediate: Bool)
    func pgPromote(_ node: Int)
    func pgSetUpstream(_ node: Int, _ upstream: Int?)
    func pgSetSyncNames(_ node: Int, _ ssn: SyncStandbyNames)
    /// Creates, drops or advances a replication slot on the local server.
    func pgSlot(_ node: Int, _ op: PgSlotOp)
    /// Starts pg_rewind from `source`; it answers `.rewound` or `.rewindSourceUnreachable`.
    func pgRewind(_ node: Int, from source: Int)
    func pgReclone(_ node: Int, from source: Int)
    /// Opens a connection from this Patroni to another node's PostgreSQL (the rewind check's
    /// replication connection); the outcome comes back as `leaderPgConn`, the answer to a
    /// `timelineRequest` as `leaderPgReply`.
    func leaderPgConnect(from node: Int, to leader: Int) -> ConnID
    func leaderPgSend(_ c: ConnID, from node: Int, _ m: PgMessage)
    func connClose(_ c: ConnID)
    /// The cluster's timeline histories (what `TIMELINE_HISTORY` returns, and the history files
    /// in pg_wal).
    var walHistory: WalHistory { get }
    /// `synchronous_standby_names` as the user configured it (used when synchronous mode is off).
    func pgUserSyncNames(_ node: Int) -> String
    func editedConfig(_ i: Int) -> PatroniConfig
    func editedTags(_ i: Int) -> PatroniConfig.Tags
    /// Opens a connection to another node's REST API; the outcome comes back as `restConn`.
    func restConnect(from node: Int, to peer: Int) -> ConnID
    func restSend(_ c: ConnID, from node: Int, _ r: RESTRequest)
    func restClose(_ c: ConnID)
    /// Opens or closes the REST API's listening port (a closed one refuses connections).
    func restListen(_ node: Int, _ open: Bool)
    /// Answers a request on its connection (a peer's Patroni, a health check, a scraper).
    func restRespond(_ node: Int, _ r: RESTResponse)
    /// The host's watchdog device: arm with a timeout (false: no usable device), ping, disarm.
    func watchdogActivate(_ node: Int, timeoutS: Int) -> Bool
    func watchdogKeepalive(_ node: Int)
    func watchdogSetTimeout(_ node: Int, timeoutS: Int)
    func watchdogDisable(_ node: Int)
    func patroniExited(_ node: Int)
    func nodeName(_ node: Int) -> String
}
