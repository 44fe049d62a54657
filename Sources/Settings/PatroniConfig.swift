import SimCore

/// Patroni 4 settings with Patroni's names and defaults (`config.py` `__DEFAULT_CONFIG`,
/// `global_config.py`, docs/dynamic_configuration.rst; patroni.md §1.4).
public struct PatroniConfig: Sendable, Equatable {
    public enum SynchronousMode: String, Sendable, CaseIterable { case off, on, quorum }
    public enum WatchdogMode: String, Sendable, CaseIterable { case off, automatic, required }

    public struct Watchdog: Sendable, Equatable {
        public var mode: WatchdogMode = .automatic
        /// Seconds; -1 means ttl // 2 (patroni.md §5).
        public var safetyMargin: Int = 5
        /// Whether the host has a usable watchdog device (`/dev/watchdog`, e.g. softdog). With
        /// `automatic` and no device Patroni runs without one; with `required` it never takes
        /// the lock. Not a Patroni key: it describes the machine.
        public var device: Bool? = nil
        /// `device: [db1, db2]`: only these hosts have one (a replica without one cannot take
        /// over under `required`).
        public var deviceHosts: [String]? = nil
        public init() {}
        public var hasDevice: Bool { device ?? (mode == .required) }
        public func hasDevice(on host: String) -> Bool { deviceHosts.map { $0.contains(host) } ?? hasDevice }
    }

    /// Patroni's member tags (`tags:` in patroni.yml), as written (nil: not set), and what they
    /// mean as `patroni/tags.py` derives it: a boolean tag that is set wins over its priority
    /// tag; unset, a priority ≤ 0 means the same as the boolean; a true boolean makes the
    /// priority 0, and an unset priority is 1.
    public struct Tags: Sendable, Equatable {
        public var nofailoverTag: Bool? = nil
        public var failoverPriorityTag: Int? = nil
        public var nosyncTag: Bool? = nil
        public var syncPriorityTag: Int? = nil
        public var noloadbalance = false
        /// `replicatefrom`: the member (host name) this one streams from instead of the
        /// leader (cascading replication), while that member's key exists.
        public var replicatefrom: String? = nil
        /// `nostream` (Patroni 4.1): no WAL streaming; the member only restores from the
        /// archive, and no slot is kept for it.
        public var nostream = false
        public init() {}

        /// `Tags.nofailover` (`_bool_tag`).
        public var nofailover: Bool { nofailoverTag ?? ((failoverPriorityTag ?? 1) <= 0) }
        /// `Tags.failover_priority` (`_priority_tag`).
        public var failoverPriority: Int { nofailoverTag == true ? 0 : (failoverPriorityTag ?? 1) }
        /// `Tags.nosync`: never a synchronous standby.
        public var nosync: Bool { nosyncTag ?? ((syncPriorityTag ?? 1) <= 0) }
        /// `Tags.sync_priority`: higher is preferred as synchronous standby.
        public var syncPriority: Int { nosyncTag == true ? 0 : (syncPriorityTag ?? 1) }
    }

    public var ttl = 30
    public var loopWait = 10
    public var retryTimeout = 10
    public var maximumLagOnFailover: Int64 = 1_048_576
    /// -1 disables it.
    public var maximumLagOnSyncnode: Int64 = -1
    public var primaryStartTimeout = 300
    public var primaryStopTimeout = 0
    public var synchronousMode: SynchronousMode = .off
    public var synchronousModeStrict = false
    public var synchronousNodeCount = 1
    public var failsafeMode = false
    public var checkTimeline = false
    public var usePgRewind = false
    public var removeDataDirectoryOnRewindFailure = false
    public var removeDataDirectoryOnDivergedTimelines = false
    /// `pause` in the dynamic configuration: maintenance mode from the start.
    public var pause = false
    /// Master-only (PR #3453), off by default.
    public var primaryRaceBackoff = 0
    public var watchdog = Watchdog()
    /// `postgresql.pre_promote`: the fencing script run after the leader lock is taken and
    /// before `pg_ctl promote`, as what it does: how long it takes and how it exits (nil: none).
    public var prePromote: PrePromote? = nil
    /// `use_slots` (true): a physical slot on every member for every other member.
    public var useSlots = true
    /// `member_slots_ttl` (1800 s, Patroni 4): how long the leader keeps the slot of a member
    /// whose key is gone.
    public var memberSlotsTtl = 1800
    /// `slots`: permanent slots (a CDC consumer, a backup tool), kept on every member; only
    /// their consumer, which simctl does not run, would advance them.
    public var permanentSlots: [String] = []
    public struct PrePromote: Sendable, Equatable {
        public var durationNs: Nanos = 0
        public var exitCode = 0
        /// The hosts whose patroni.yml has it (nil: every member).
        public var hosts: [String]? = nil
        public init() {}
        public func applies(to host: String) -> Bool { hosts.map { $0.contains(host) } ?? true }
    }
    /// `postgresql.callbacks`: the scripts Patroni runs on start, stop, restart, reload and role
    /// change, as what they do: how long each runs and how it exits.
    public var callbacks: [Callback] = []
    public struct Callback: Sendable, Equatable {
        public enum Action: String, Sendable, CaseIterable {
            case onStart = "on_start", onStop = "on_stop", onRestart = "on_restart", onReload = "on_reload", onRoleChange = "on_role_change"
        }
        public var action: Action
        public var command = "/etc/patroni/callback.sh"
        public var durationNs: Nanos = 0
        public var exitCode = 0
        /// The hosts whose patroni.yml has it (nil: every member).
        public var hosts: [String]? = nil
        public init(action: Action) { self.action = action }
        public func applies(to host: String) -> Bool { hosts.map { $0.contains(host) } ?? true }
    }
    public func callback(_ a: Callback.Action, host: String) -> Callback? {
        callbacks.first { $0.action == a && $0.applies(to: host) }
    }
    /// `restapi.request_queue_size`: the REST server's listen backlog (socketserver's
    /// `request_queue_size`, which Patroni sets from this key, default 5).
    public var requestQueueSize = 5
    /// Tags by member (host) name.
    public var tags: [String: Tags] = [:]
    /// `scope` and `namespace` (local settings): the cluster's keys live under
    /// `/<namespace>/<scope>/`.
    public var scope = "batman"
    public var namespace = "/service/"
    /// The etcd members each node's etcd3 client is configured with (`etcd3.host`/`hosts`),
    /// by member name; a node not listed is configured with every member.
    public var etcdHosts: [String: [String]] = [:]

    public init() {}

    /// `AbstractDCS.__init__`: `re.sub('/+', '/', '/'.join(['', namespace, scope]))`, plus the
    /// trailing `/` every key adds.
    public var keyPrefix: String {
        var out = ""
        for ch in "/" + namespace + "/" + scope where !(ch == "/" && out.hasSuffix("/")) { out.append(ch) }
        return out + "/"
    }

    public var ttlNs: Nanos { Nanos(ttl) * Time.s }
    public var loopWaitNs: Nanos { Nanos(loopWait) * Time.s }
    public var retryTimeoutNs: Nanos { Nanos(retryTimeout) * Time.s }

    public func tags(for member: String) -> Tags { tags[member] ?? Tags() }

    /// Watchdog timeout: ttl − safety_margin, or ttl // 2 with safety_margin −1.
    public var watchdogTimeoutS: Int { watchdog.safetyMargin == -1 ? ttl / 2 : ttl - watchdog.safetyMargin }

    /// Applies Patroni's own rules (`Config._validate_and_adjust_timeouts`): each of loop_wait,
    /// retry_timeout and ttl is raised to its minimum (1, 3, 20), then the rule
    /// `loop_wait + 2*retry_timeout <= ttl` is enforced by lowering loop_wait, or, if
    /// loop_wait=1 still breaks it, setting loop_wait=1 and retry_timeout=(ttl-1)//2.
    /// Returns the warnings Patroni itself logs, in its words.
    public mutating func adjustTimeouts() -> [String] {
        var warnings: [String] = []
        func raise(_ name: String, _ v: inout Int, _ min: Int) {
            if v < min {
                warnings.append("\(name)=\(v) can't be smaller than \(min), adjusting...")
                v = min
            }
        }
        raise("loop_wait", &loopWait, 1)
        raise("retry_timeout", &retryTimeout, 3)
        raise("ttl", &ttl, 20)
        if 1 + 2 * retryTimeout > ttl {
            let newRetry = (ttl - 1) / 2
            warnings.append("Violated the rule \"loop_wait + 2*retry_timeout <= ttl\", where ttl=\(ttl). Adjusting loop_wait from \(loopWait) to 1 and retry_timeout from \(retryTimeout) to \(newRetry)")
            loopWait = 1
            retryTimeout = newRetry
        } else if loopWait + 2 * retryTimeout > ttl {
            let newLoop = ttl - 2 * retryTimeout
            warnings.append("Violated the rule \"loop_wait + 2*retry_timeout <= ttl\", where ttl=\(ttl) and retry_timeout=\(retryTimeout). Adjusting loop_wait from \(loopWait) to \(newLoop)")
            loopWait = newLoop
        }
        return warnings
    }
}
