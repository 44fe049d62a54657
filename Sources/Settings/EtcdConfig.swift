import SimCore

/// etcd's settings that change failover timing, with etcd's own names and defaults
/// (etcd.md §7.1; `embed/config.go`).
public struct EtcdConfig: Sendable, Equatable {
    public enum Version: String, Sendable, CaseIterable { case v3_4 = "3.4", v3_5 = "3.5", v3_6 = "3.6" }

    /// `--heartbeat-interval` (100 ms): also the raft tick period.
    public var heartbeatIntervalNs: Nanos = 100 * Time.ms
    /// `--election-timeout` (1000 ms). etcd refuses to start unless it is at least 5× the
    /// heartbeat interval and at most 50 s.
    public var electionTimeoutNs: Nanos = 1000 * Time.ms
    /// Which etcd is modelled; decides `pre_vote`'s default and the lease-renewal leadership
    /// check (added in 3.4.31/3.5.13; this model assumes a current patch release).
    public var version: Version = .v3_5
    /// `--pre-vote`: off by default in 3.4, on in 3.5 and 3.6.
    public var preVote: Bool = true
    /// WAL fdatasync latency of each member's disk. The default is an SSD: median 1 ms with a
    /// long tail (etcd.md §7.2 suggests 0.5–2 ms with rare stalls).
    public var fsync = Latency(.lognormal(median: Time.ms, sigma: 0.5), floorNs: 200 * Time.us)
    /// `--initial-election-tick-advance` (true): a restarted member fast-forwards ET−2 ticks.
    public var initialElectionTickAdvance = true
    /// `--strict-reconfig-check` (true).
    public var strictReconfigCheck = true
    /// `--snapshot-count`: applied entries between snapshots, after which the raft log is
    /// compacted (100,000 in 3.4 and 3.5, 10,000 in 3.6; etcd.md §4.3).
    public var snapshotCount = 100_000
    /// `--experimental-snapshot-catchup-entries` (5,000): entries a leader keeps after
    /// compacting, for followers slightly behind; one further behind gets a snapshot.
    public var snapshotCatchUpEntries = 5_000

    public init() {}

    /// Raft's election timeout in ticks: `ElectionMs / TickMs` (integer division).
    public var electionTicks: Int { Int(electionTimeoutNs / heartbeatIntervalNs) }

    /// `ReqTimeout = 5 s + 2 × election-timeout` (7 s with defaults).
    public var requestTimeoutNs: Nanos { 5 * Time.s + 2 * electionTimeoutNs }

    /// The lessor's minimum TTL: ceil(((3 × ET) / 2) × tick) in whole seconds (2 s by default).
    public var minLeaseTTLSeconds: Int64 {
        let ticks = Int64((3 * electionTicks) / 2)
        let ns = ticks * heartbeatIntervalNs
        return (ns + Time.s - 1) / Time.s
    }

    /// Validation as etcd's `embed.Config.Validate` does it. nil when valid.
    public func validationError() -> String? {
        if heartbeatIntervalNs <= 0 { return "heartbeat_interval must be positive" }
        if electionTimeoutNs < 5 * heartbeatIntervalNs {
            return "election_timeout (\(DurationText.format(electionTimeoutNs))) should be at least 5 times heartbeat_interval (\(DurationText.format(heartbeatIntervalNs))), as etcd requires"
        }
        if electionTimeoutNs > 50 * Time.s { return "election_timeout must be at most 50s (etcd's limit)" }
        return nil
    }
}
