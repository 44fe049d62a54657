import SimCore
import Settings

extension ScenarioLoader {
    // MARK: - etcd

    static let etcdKeys = ["heartbeat_interval", "election_timeout", "pre_vote", "version", "fsync",
                           "initial_election_tick_advance", "strict_reconfig_check", "snapshot_count", "snapshot_catchup_entries"]

    static func readEtcd(_ n: YNode, _ path: String, _ c: inout EtcdConfig, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: etcdKeys) else { return }
        // etcd's flags are in milliseconds: `--heartbeat-interval=100`.
        // Both flags are whole milliseconds: the resolution of etcd's tick.
        r.field(f, "heartbeat_interval", { r.duration($0, $1, bareUnit: Time.ms, min: Time.ms, allowZero: false) }) { c.heartbeatIntervalNs = $0 }
        r.field(f, "election_timeout", { r.duration($0, $1, bareUnit: Time.ms, min: Time.ms, allowZero: false) }) { c.electionTimeoutNs = $0 }
        r.field(f, "version", { r.oneOf($0, $1, EtcdConfig.Version.allCases.map(\.rawValue)) }) {
            c.version = EtcdConfig.Version(rawValue: $0)!
            c.preVote = c.version != .v3_4   // 3.4 shipped with --pre-vote=false
            c.snapshotCount = c.version == .v3_6 ? 10_000 : 100_000
        }
        r.field(f, "pre_vote", r.bool) { c.preVote = $0 }
        r.field(f, "fsync", { readLatency($0, $1, r) }) { c.fsync = $0 }
        r.field(f, "initial_election_tick_advance", r.bool) { c.initialElectionTickAdvance = $0 }
        r.field(f, "strict_reconfig_check", r.bool) { c.strictReconfigCheck = $0 }
        r.field(f, "snapshot_count", { r.int($0, $1, min: 1, max: 100_000_000) }) { c.snapshotCount = Int($0) }
        r.field(f, "snapshot_catchup_entries", { r.int($0, $1, min: 1, max: 100_000_000) }) { c.snapshotCatchUpEntries = Int($0) }
        if let msg = c.validationError() { r.error(f["election_timeout"] ?? n, f.path("election_timeout"), msg) }
    }

    // MARK: - Patroni

    static let patroniKeys = ["ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "maximum_lag_on_syncnode",
                              "primary_start_timeout", "master_start_timeout", "primary_stop_timeout", "master_stop_timeout",
                              "synchronous_mode", "synchronous_mode_strict", "synchronous_node_count", "failsafe_mode",
                              "check_timeline", "use_pg_rewind", "remove_data_directory_on_rewind_failure",
                              "remove_data_directory_on_diverged_timelines", "pause", "primary_race_backoff", "watchdog", "tags", "restapi",
                              "scope", "namespace", "etcd_hosts", "pre_promote", "callbacks", "use_slots", "member_slots_ttl", "slots"]
    static let tagKeys = ["nofailover", "failover_priority", "nosync", "noloadbalance", "sync_priority", "replicatefrom", "nostream"]

    /// Whole seconds as Patroni reads them (`int(value)`); a unit is allowed (`30s`, `1m`).
    static func seconds(_ r: Reader) -> (YNode, String) -> Int? {
        { n, p in
            guard let s = n.scalar else { _ = r.duration(n, p, bareUnit: Time.s); return nil }
            if s.trimmingCharactersInSet().hasPrefix("-") {
                r.error(n, p, "must not be negative, got \"\(s)\"")
                return nil
            }
            guard let v = r.duration(n, p, bareUnit: Time.s) else { return nil }
            if v % Time.s != 0 { r.error(n, p, "Patroni takes whole seconds, got \"\(s)\""); return nil }
            return Int(v / Time.s)
        }
    }

    /// One member's tags (`nofailover`, `failover_priority`, ...) onto `t`; false when they are
    /// not a mapping.
    static func readTags(_ n: YNode, _ p: String, _ t: inout PatroniConfig.Tags, dbHosts: [String], _ r: Reader) -> Bool {
        guard let g = r.mapping(n, p, allowed: tagKeys) else { return false }
        r.field(g, "nofailover", r.bool) { t.nofailoverTag = $0 }
        r.field(g, "failover_priority", { r.int($0, $1, min: 0, max: 1_000_000) }) { t.failoverPriorityTag = Int($0) }
        r.field(g, "nosync", r.bool) { t.nosyncTag = $0 }
        r.field(g, "noloadbalance", r.bool) { t.noloadbalance = $0 }
        r.field(g, "nostream", r.bool) { t.nostream = $0 }
        r.field(g, "sync_priority", { r.int($0, $1, min: 0, max: 1_000_000) }) { t.syncPriorityTag = Int($0) }
        // `replicatefrom`: a member's name; its own name means the leader (`_get_node_to_follow`).
        if let x = g["replicatefrom"] {
            if x.scalar == "null" || x.scalar == "~" || x.scalar == "" { t.replicatefrom = nil }
            else if let h = r.oneOf(x, g.path("replicatefrom"), dbHosts) { t.replicatefrom = h }
        }
        return true
    }

    static func readPatroni(_ n: YNode, _ path: String, _ c: inout PatroniConfig, hosts: Topology, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: patroniKeys) else { return }
        readPatroniFields(f, &c, hosts: hosts, r)
    }

    static func readPatroniFields(_ f: Reader.Fields, _ c: inout PatroniConfig, hosts: Topology, _ r: Reader) {
        let sec = seconds(r)
        r.field(f, "ttl", sec) { c.ttl = $0 }
        r.field(f, "loop_wait", sec) { c.loopWait = $0 }
        r.field(f, "retry_timeout", sec) { c.retryTimeout = $0 }
        r.field(f, "maximum_lag_on_failover", { r.bytes($0, $1) }) { c.maximumLagOnFailover = $0 }
        r.field(f, "maximum_lag_on_syncnode", { r.bytes($0, $1, allowMinusOne: true) }) { c.maximumLagOnSyncnode = $0 }
        r.field(f, "master_start_timeout", sec) { c.primaryStartTimeout = $0 }
        r.field(f, "primary_start_timeout", sec) { c.primaryStartTimeout = $0 }
        r.field(f, "master_stop_timeout", sec) { c.primaryStopTimeout = $0 }
        r.field(f, "primary_stop_timeout", sec) { c.primaryStopTimeout = $0 }
        if let sn = f["synchronous_mode"] {
            if let s = sn.scalar, s.lowercased() == "quorum" { c.synchronousMode = .quorum } else if let b = r.bool(sn, f.path("synchronous_mode")) {
                c.synchronousMode = b ? .on : .off
            }
        }
        r.field(f, "synchronous_mode_strict", r.bool) { c.synchronousModeStrict = $0 }
        r.field(f, "synchronous_node_count", { r.int($0, $1, min: 1, max: 8) }) { c.synchronousNodeCount = Int($0) }
        r.field(f, "failsafe_mode", r.bool) { c.failsafeMode = $0 }
        r.field(f, "check_timeline", r.bool) { c.checkTimeline = $0 }
        r.field(f, "use_slots", r.bool) { c.useSlots = $0 }
        r.field(f, "member_slots_ttl", sec) { c.memberSlotsTtl = $0 }
        if let sn = f["slots"] {
            // `slots: {debezium: {type: logical, database: app, plugin: pgoutput}}`. A logical
            // slot retains WAL exactly as a physical one does while nobody consumes it.
            if let entries = sn.entries {
                c.permanentSlots = []
                for e in entries {
                    let p = Reader.join(f.path("slots"), e.key)
                    let valid = !e.key.isEmpty && e.key.count <= 63 && e.key.allSatisfy { $0.isLowercase && $0.isASCII || $0.isNumber && $0.isASCII || $0 == "_" }
                    if !valid {
                        r.error(YNode(.scalar(e.key, quoted: false), line: e.keyLine, column: e.keyColumn), p,
                                "a replication slot name is 1 to 63 lower-case letters, digits and underscores")
                        continue
                    }
                    if let g = r.mapping(e.value, p, allowed: ["type", "database", "plugin", "failover"], required: ["type"], what: "{type: physical}") {
                        if let tn = g["type"], r.oneOf(tn, g.path("type"), ["physical", "logical"]) != nil { c.permanentSlots.append(e.key) }
                    }
                }
                if c.permanentSlots.count > 16 { r.error(sn, f.path("slots"), "at most 16 permanent slots are modelled, got \(c.permanentSlots.count)") }
            } else {
                r.error(sn, f.path("slots"), "expected permanent slots by name, such as {debezium: {type: logical}}, got \(sn.shapeDescription)")
            }
        }
        r.field(f, "use_pg_rewind", r.bool) { c.usePgRewind = $0 }
        r.field(f, "remove_data_directory_on_rewind_failure", r.bool) { c.removeDataDirectoryOnRewindFailure = $0 }
        r.field(f, "remove_data_directory_on_diverged_timelines", r.bool) { c.removeDataDirectoryOnDivergedTimelines = $0 }
        r.field(f, "pause", r.bool) { c.pause = $0 }
        r.field(f, "primary_race_backoff", sec) { c.primaryRaceBackoff = $0 }
        if let wn = f["watchdog"] {
            let wp = f.path("watchdog")
            if let s = wn.scalar {
                // `watchdog: off` / `watchdog: required` shorthand for the mode.
                if let m = r.oneOf(wn, wp, PatroniConfig.WatchdogMode.allCases.map(\.rawValue)) { c.watchdog.mode = .init(rawValue: m)! }
                _ = s
            } else if let wf = r.mapping(wn, wp, allowed: ["mode", "safety_margin", "device"]) {
                r.field(wf, "mode", { n, p in
                    // YAML reads a bare `off` as false; accept it as the mode "off".
                    if let s = n.scalar, ["false", "no"].contains(s.lowercased()) { return "off" }
                    return r.oneOf(n, p, PatroniConfig.WatchdogMode.allCases.map(\.rawValue))
                }) { c.watchdog.mode = .init(rawValue: $0)! }
                r.field(wf, "safety_margin", { r.int($0, $1, min: -1, max: 3600) }) { c.watchdog.safetyMargin = Int($0) }
                if let dn = wf["device"] {
                    if dn.scalar != nil {
                        r.field(wf, "device", r.bool) { c.watchdog.device = $0 }
                    } else if let items = r.list(dn, wf.path("device"), what: "DB host names (or true or false)") {
                        var hs: [String] = []
                        for (k, item) in items.enumerated() {
                            if let h = r.oneOf(item, wf.path("device") + "[\(k)]", hosts.dbHosts) { hs.append(h) }
                        }
                        c.watchdog.deviceHosts = hs
                    }
                }
            }
        }
        if let pn = f["pre_promote"], let pf = r.mapping(pn, f.path("pre_promote"), allowed: ["duration", "exit_code", "hosts"]) {
            var pp = PatroniConfig.PrePromote()
            r.field(pf, "duration", { r.duration($0, $1) }) { pp.durationNs = $0 }
            r.field(pf, "exit_code", { r.int($0, $1, min: 0, max: 255) }) { pp.exitCode = Int($0) }
            if let hn = pf["hosts"], let items = r.list(hn, pf.path("hosts"), what: "DB host names") {
                pp.hosts = items.enumerated().compactMap { k, item in r.oneOf(item, pf.path("hosts") + "[\(k)]", hosts.dbHosts) }
            }
            c.prePromote = pp
        }
        if let cn = f["callbacks"], let cf = r.mapping(cn, f.path("callbacks"), allowed: PatroniConfig.Callback.Action.allCases.map(\.rawValue),
                                                        what: "callbacks by event, such as {on_role_change: {duration: 2s, exit_code: 0}}") {
            c.callbacks = []
            for e in cf.entries {
                guard let a = PatroniConfig.Callback.Action(rawValue: e.key),
                      let g = r.mapping(e.value, cf.path(e.key), allowed: ["command", "duration", "exit_code", "hosts"], what: "{duration: 2s, exit_code: 0}") else { continue }
                var cb = PatroniConfig.Callback(action: a)
                r.field(g, "command", r.string) { cb.command = $0 }
                r.field(g, "duration", { r.duration($0, $1) }) { cb.durationNs = $0 }
                r.field(g, "exit_code", { r.int($0, $1, min: 0, max: 255) }) { cb.exitCode = Int($0) }
                if let hn = g["hosts"], let items = r.list(hn, g.path("hosts"), what: "DB host names") {
                    cb.hosts = items.enumerated().compactMap { k, item in r.oneOf(item, g.path("hosts") + "[\(k)]", hosts.dbHosts) }
                }
                c.callbacks.append(cb)
            }
        }
        if let an = f["restapi"], let af = r.mapping(an, f.path("restapi"), allowed: ["request_queue_size"]) {
            // The REST server's listen backlog (`RestApiServer.request_queue_size`, default 5).
            r.field(af, "request_queue_size", { r.int($0, $1, min: 0, max: 65535) }) { c.requestQueueSize = Int($0) }
        }
        r.field(f, "scope", r.string) { v in
            if v.isEmpty || v.contains("/") { r.error(f["scope"]!, f.path("scope"), "a scope is the cluster's name: not empty, no '/'") } else { c.scope = v }
        }
        r.field(f, "namespace", r.string) { c.namespace = $0 }
        if let en = f["etcd_hosts"], let ef = r.mapping(en, f.path("etcd_hosts"), allowed: hosts.dbHosts, what: "a mapping of DB host names to the etcd hosts their Patroni is configured with") {
            for e in ef.entries where hosts.dbHosts.contains(e.key) {
                let p = ef.path(e.key)
                guard let items = r.list(e.value, p, what: "etcd host names") else { continue }
                var list: [String] = []
                for (i, item) in items.enumerated() {
                    guard let h = r.string(item, Reader.join(p, i)) else { continue }
                    if hosts.etcdHosts.contains(h) { list.append(h) } else {
                        r.error(item, Reader.join(p, i), hosts.host(h) == nil ? unknownHost(h, hosts) : "'\(h)' runs no etcd member")
                    }
                }
                if !list.isEmpty { c.etcdHosts[e.key] = list }
            }
        }
        if let tn = f["tags"], let tf = r.mapping(tn, f.path("tags"), allowed: hosts.dbHosts, what: "a mapping of DB host names to tags") {
            for e in tf.entries where hosts.dbHosts.contains(e.key) {
                let p = tf.path(e.key)
                var t = c.tags(for: e.key)
                if readTags(e.value, p, &t, dbHosts: hosts.dbHosts, r) { c.tags[e.key] = t }
            }
        }
    }

    // MARK: - PostgreSQL

    static let pgKeys = ["max_connections", "synchronous_commit", "synchronous_standby_names", "wal_sender_timeout", "wal_receiver_timeout",
                         "wal_receiver_status_interval", "wal_writer_delay", "wal_retrieve_retry_interval", "checkpoint_timeout",
                         "max_wal_size", "checkpoint_completion_target", "wal_keep_size", "wal_log_hints",
                         "commit_cpu", "wal_fsync", "replay_rate", "bandwidth", "data_size", "startup", "promote",
                         "shutdown_checkpoint", "replay_delay", "max_slot_wal_keep_size", "max_replication_slots", "wal_disk",
                         "archive_mode", "archive_timeout", "restore_command", "archive_command_time", "restore_time"]

    /// A size whose bare number counts in the GUC's unit (`max_wal_size = 1024` is MB).
    static func sizeIn(_ unit: Int64, _ r: Reader) -> (YNode, String) -> Int64? {
        { n, p in
            if let s = n.scalar, let v = Int64(s.trimmingCharactersInSet()) {
                if v < 0 { r.error(n, p, "must not be negative, got \(v)"); return nil }
                return v * unit
            }
            return r.bytes(n, p)
        }
    }

    static func readPostgres(_ n: YNode, _ path: String, _ c: inout PgConfig, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: pgKeys) else { return }
        r.field(f, "synchronous_commit", { n, p in
            if let s = n.scalar, ["true", "yes", "1"].contains(s.lowercased()) { return "on" }
            if let s = n.scalar, ["false", "no", "0"].contains(s.lowercased()) { return "off" }
            return r.oneOf(n, p, SyncCommit.allCases.map(\.rawValue))
        }) { c.synchronousCommit = SyncCommit(rawValue: $0)! }
        r.field(f, "synchronous_standby_names", r.string) { c.synchronousStandbyNames = $0 }
        r.field(f, "max_connections", { r.int($0, $1, min: 1, max: 262_143) }) { c.maxConnections = Int($0) }
        // GUC units: wal_sender_timeout, wal_receiver_timeout, wal_writer_delay and
        // wal_retrieve_retry_interval are in ms; wal_receiver_status_interval and
        // checkpoint_timeout in s.
        r.field(f, "wal_sender_timeout", { r.duration($0, $1, bareUnit: Time.ms) }) { c.walSenderTimeoutNs = $0 }
        r.field(f, "wal_receiver_timeout", { r.duration($0, $1, bareUnit: Time.ms) }) { c.walReceiverTimeoutNs = $0 }
        r.field(f, "wal_receiver_status_interval", { r.duration($0, $1, bareUnit: Time.s) }) { c.walReceiverStatusIntervalNs = $0 }
        r.field(f, "wal_writer_delay", { r.duration($0, $1, bareUnit: Time.ms, min: Time.ms) }) { c.walWriterDelayNs = $0 }
        r.field(f, "wal_retrieve_retry_interval", { r.duration($0, $1, bareUnit: Time.ms, min: Time.ms) }) { c.walRetrieveRetryIntervalNs = $0 }
        r.field(f, "checkpoint_timeout", { r.duration($0, $1, bareUnit: Time.s, min: 30 * Time.s) }) { c.checkpointTimeoutNs = $0 }
        r.field(f, "max_wal_size", sizeIn(1 << 20, r)) { c.maxWalSizeBytes = $0 }
        r.field(f, "checkpoint_completion_target", { r.double($0, $1, min: 0, max: 1) }) { c.checkpointCompletionTarget = $0 }
        r.field(f, "wal_keep_size", sizeIn(1 << 20, r)) { c.walKeepSizeBytes = $0 }
        if let x = f["max_slot_wal_keep_size"] {
            if x.scalar?.trimmingCharactersInSet() == "-1" { c.maxSlotWalKeepSizeBytes = -1 }
            else if let v = sizeIn(1 << 20, r)(x, f.path("max_slot_wal_keep_size")) { c.maxSlotWalKeepSizeBytes = v }
        }
        r.field(f, "max_replication_slots", { r.int($0, $1, min: 0, max: 262_143) }) { c.maxReplicationSlots = Int($0) }
        if let x = f["archive_mode"] {
            // PostgreSQL's values: on, off (and always, which also archives on standbys: not modelled).
            if x.scalar == "always" { r.error(x, f.path("archive_mode"), "archive_mode = always (archiving on standbys) is not modelled; use on") }
            else if let b = r.bool(x, f.path("archive_mode")) { c.archiveMode = b }
        }
        r.field(f, "archive_timeout", { r.duration($0, $1, bareUnit: Time.s) }) { c.archiveTimeoutNs = $0 }
        r.field(f, "restore_command", r.string) { c.restoreCommand = !$0.trimmingCharactersInSet().isEmpty }
        r.field(f, "archive_command_time", { r.duration($0, $1) }) { c.archiveCommandNs = $0 }
        r.field(f, "restore_time", { r.duration($0, $1) }) { c.restoreNs = max(Time.ms, $0) }
        r.field(f, "wal_disk", { r.bytes($0, $1) }) { v in
            if v < Int64(64 << 20) { r.error(f["wal_disk"]!, f.path("wal_disk"), "pg_wal needs room for a few 16 MB segments; got \(v) bytes (at least 64MB)") } else { c.walDiskBytes = v }
        }
        r.field(f, "wal_log_hints", r.bool) { c.walLogHints = $0 }
        r.field(f, "commit_cpu", { r.duration($0, $1) }) { c.commitCpuNs = $0 }
        r.field(f, "wal_fsync", { readLatency($0, $1, r) }) { c.walFsync = $0 }
        r.field(f, "replay_rate", { r.byteRate($0, $1) }) { c.replayRateBytesPerS = $0 }
        r.field(f, "bandwidth", { r.byteRate($0, $1) }) { c.bandwidthBytesPerS = $0 }
        r.field(f, "data_size", { r.bytes($0, $1) }) { c.dataSizeBytes = $0 }
        r.field(f, "startup", { r.duration($0, $1) }) { c.startupNs = $0 }
        r.field(f, "promote", { r.duration($0, $1) }) { c.promoteNs = $0 }
        r.field(f, "shutdown_checkpoint", { r.duration($0, $1) }) { c.shutdownCheckpointNs = $0 }
        r.field(f, "replay_delay", { r.duration($0, $1) }) { c.replayDelayNs = $0 }
    }

    // MARK: - Traffic

    static let haproxyKeys = ["inter", "fastinter", "downinter", "fall", "rise", "timeout_check", "timeout_connect", "retries",
                              "redispatch", "spread_checks", "on_marked_down", "balance", "write_check", "read_check", "read_frontend"]
    static let patroniEndpoints = ["/", "/primary", "/master", "/leader", "/read-write", "/replica", "/read-only", "/health",
                                   "/sync", "/synchronous", "/async", "/asynchronous", "/read-only-sync", "/liveness", "/readiness"]

    static func endpoint(_ r: Reader) -> (YNode, String) -> String? {
        { n, p in
            guard let s = r.string(n, p) else { return nil }
            let base = String(s.split(separator: "?", maxSplits: 1).first ?? "")
            if patroniEndpoints.contains(base) { return s }
            r.error(n, p, "expected a Patroni REST endpoint such as /primary or /replica?lag=1MB, got \"\(s)\"")
            return nil
        }
    }

    static func readHAProxy(_ n: YNode, _ path: String, _ c: inout HAProxyConfig, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: haproxyKeys) else { return }
        // HAProxy's time unit for bare numbers is the millisecond, and its clock's resolution.
        let ms = { (n: YNode, p: String) in r.duration(n, p, bareUnit: Time.ms, min: Time.ms, allowZero: false) }
        r.field(f, "inter", ms) { c.interNs = $0 }
        r.field(f, "fastinter", ms) { c.fastinterNs = $0 }
        r.field(f, "downinter", ms) { c.downinterNs = $0 }
        r.field(f, "fall", { r.int($0, $1, min: 1, max: 1000) }) { c.fall = Int($0) }
        r.field(f, "rise", { r.int($0, $1, min: 1, max: 1000) }) { c.rise = Int($0) }
        r.field(f, "timeout_check", ms) { c.timeoutCheckNs = $0 }
        r.field(f, "timeout_connect", ms) { c.timeoutConnectNs = $0 }
        r.field(f, "retries", { r.int($0, $1, min: 0, max: 100) }) { c.retries = Int($0) }
        r.field(f, "redispatch", r.bool) { c.redispatch = $0 }
        r.field(f, "spread_checks", { r.int($0, $1, min: 0, max: 50) }) { c.spreadChecksPercent = Int($0) }
        r.field(f, "on_marked_down", { r.oneOf($0, $1, HAProxyConfig.OnMarkedDown.allCases.map(\.rawValue)) }) { c.onMarkedDown = .init(rawValue: $0)! }
        r.field(f, "balance", { r.oneOf($0, $1, HAProxyConfig.Balance.allCases.map(\.rawValue)) }) { c.balance = .init(rawValue: $0)! }
        r.field(f, "write_check", endpoint(r)) { c.writeCheck = $0 }
        r.field(f, "read_check", endpoint(r)) { c.readCheck = $0 }
        r.field(f, "read_frontend", r.bool) { c.readFrontend = $0 }
    }

    static func readKeepalived(_ n: YNode, _ path: String, _ c: inout KeepalivedConfig, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: ["advert_int", "priority", "priorities", "vrrp_version", "track_script", "nopreempt", "preempt_delay"]) else { return }
        // VRRPv3 counts advert_int in centiseconds; keepalived's timers are no finer.
        r.field(f, "advert_int", { r.duration($0, $1, bareUnit: Time.s, min: 10 * Time.ms, allowZero: false) }) { c.advertIntNs = $0 }
        r.field(f, "priority", { r.int($0, $1, min: 1, max: 255) }) { c.priority = Int($0) }
        r.field(f, "vrrp_version", { r.int($0, $1, min: 2, max: 3) }) { c.vrrpVersion = Int($0) }
        if let pn = f["priorities"], let items = r.list(pn, f.path("priorities"), what: "priorities (1–255), one per keepalived node") {
            c.priorities = items.enumerated().compactMap { i, n in r.int(n, Reader.join(f.path("priorities"), i), min: 1, max: 255).map(Int.init) }
        }
        r.field(f, "nopreempt", r.bool) { c.nopreempt = $0 }
        r.field(f, "preempt_delay", { r.duration($0, $1, bareUnit: Time.s) }) { c.preemptDelayNs = $0 }
        if let tn = f["track_script"], let tf = r.mapping(tn, f.path("track_script"), allowed: ["interval", "fall", "rise", "weight"]) {
            r.field(tf, "interval", { r.duration($0, $1, bareUnit: Time.s, min: 10 * Time.ms, allowZero: false) }) { c.trackInterval = $0 }
            r.field(tf, "fall", { r.int($0, $1, min: 1, max: 100) }) { c.trackFall = Int($0) }
            r.field(tf, "rise", { r.int($0, $1, min: 1, max: 100) }) { c.trackRise = Int($0) }
            r.field(tf, "weight", { r.int($0, $1, min: -253, max: 253) }) { c.trackWeight = Int($0) }
        }
    }

    static func readPgBouncer(_ n: YNode, _ path: String, _ c: inout PgBouncerConfig, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: ["pool_mode", "server_login_retry", "server_connect_timeout", "query_wait_timeout",
                                                  "server_check_delay", "server_lifetime"]) else { return }
        let sec = { (n: YNode, p: String) in r.duration(n, p, bareUnit: Time.s) }
        r.field(f, "pool_mode", { r.oneOf($0, $1, ["session", "transaction"]) }) { c.poolMode = .init(rawValue: $0)! }
        r.field(f, "server_login_retry", sec) { c.serverLoginRetryNs = $0 }
        r.field(f, "server_connect_timeout", sec) { c.serverConnectTimeoutNs = $0 }
        r.field(f, "query_wait_timeout", sec) { c.queryWaitTimeoutNs = $0 }
        r.field(f, "server_check_delay", sec) { c.serverCheckDelayNs = $0 }
        r.field(f, "server_lifetime", sec) { c.serverLifetimeNs = $0 }
    }

    static func readEnvoy(_ n: YNode, _ path: String, _ c: inout EnvoyConfig, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: ["interval", "timeout", "unhealthy_threshold", "healthy_threshold", "panic_threshold",
                                                  "close_connections_on_host_health_failure", "connect_timeout"]) else { return }
        // Envoy's durations: milliseconds at the finest.
        r.field(f, "interval", { r.duration($0, $1, min: Time.ms, allowZero: false) }) { c.intervalNs = $0 }
        r.field(f, "timeout", { r.duration($0, $1, min: Time.ms, allowZero: false) }) { c.timeoutNs = $0 }
        r.field(f, "connect_timeout", { r.duration($0, $1, min: Time.ms, allowZero: false) }) { c.connectTimeoutNs = $0 }
        r.field(f, "unhealthy_threshold", { r.int($0, $1, min: 1, max: 100) }) { c.unhealthyThreshold = Int($0) }
        r.field(f, "healthy_threshold", { r.int($0, $1, min: 1, max: 100) }) { c.healthyThreshold = Int($0) }
        r.field(f, "panic_threshold", { r.double($0, $1, min: 0, max: 100) }) { c.panicThresholdPercent = $0 }
        r.field(f, "close_connections_on_host_health_failure", r.bool) { c.closeConnectionsOnHostHealthFailure = $0 }
    }

    static func readCloudLB(_ n: YNode, _ path: String, _ c: inout CloudLBConfig, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: ["check_interval", "check_timeout", "healthy_threshold", "unhealthy_threshold", "check_path"]) else { return }
        // Cloud APIs take whole seconds.
        let sec = { (n: YNode, p: String) in r.duration(n, p, bareUnit: Time.s, min: Time.s, allowZero: false) }
        r.field(f, "check_interval", sec) { c.checkIntervalNs = $0 }
        r.field(f, "check_timeout", sec) { c.checkTimeoutNs = $0 }
        r.field(f, "healthy_threshold", { r.int($0, $1, min: 1, max: 30) }) { c.healthyThreshold = Int($0) }
        r.field(f, "unhealthy_threshold", { r.int($0, $1, min: 1, max: 30) }) { c.unhealthyThreshold = Int($0) }
        r.field(f, "check_path", endpoint(r)) { c.checkPath = $0 }
        if c.checkTimeoutNs >= c.checkIntervalNs {
            r.error(f["check_timeout"] ?? n, f.path("check_timeout"), "must be less than check_interval (as the cloud API requires)")
        }
    }

    static let workloadKeys = ["clients", "rate", "write_size", "read_rate", "read_clients", "connect_timeout",
                               "reconnect_backoff", "reconnect_backoff_max", "query_timeout", "direct", "monitor"]

    static let maxClients = 10_000

    static func readWorkload(_ n: YNode, _ path: String, _ c: inout WorkloadConfig, _ topo: Topology, _ r: Reader) {
        guard let f = r.mapping(n, path, allowed: workloadKeys) else { return }
        r.field(f, "clients", { r.int($0, $1, min: 0, max: 10_000) }) { c.clients = Int($0) }
        r.field(f, "rate", { r.rate($0, $1) }) { c.rate = $0 }
        r.field(f, "write_size", { r.bytes($0, $1) }) { c.writeBytes = max(1, $0) }
        r.field(f, "read_rate", { r.rate($0, $1) }) { c.readRate = $0 }
        r.field(f, "read_clients", { r.int($0, $1, min: 0, max: 10_000) }) { c.readClients = Int($0) }
        if let cn = f["connect_timeout"], let v = r.duration(cn, f.path("connect_timeout"), bareUnit: Time.s) {
            // libpq: "It is not recommended to use a timeout of less than 2 seconds"; values
            // under 2 are raised to 2 (fe-connect.c).
            if v > 0 && v < 2 * Time.s {
                r.warning(cn, f.path("connect_timeout"), "libpq raises a connect_timeout under 2s to 2s")
                c.connectTimeoutNs = 2 * Time.s
            } else {
                c.connectTimeoutNs = v == 0 ? 75 * Time.s : v   // 0: no limit; the kernel's SYN retries give up after ~75 s
            }
        }
        r.field(f, "reconnect_backoff", { r.duration($0, $1) }) { c.reconnectBackoffNs = $0 }
        r.field(f, "reconnect_backoff_max", { r.duration($0, $1) }) { c.reconnectBackoffMaxNs = $0 }
        r.field(f, "query_timeout", { r.duration($0, $1, allowZero: false) }) { c.queryTimeoutNs = $0 }
        if let dn = f["direct"], let items = r.list(dn, f.path("direct"), what: "entries such as {host: db1, clients: 1}") {
            for (i, item) in items.enumerated() {
                let p = Reader.join(f.path("direct"), i)
                guard let df = r.mapping(item, p, allowed: ["host", "clients"], required: ["host"]) else { continue }
                var host = "", count = 1
                if let hn = df["host"], let h = r.string(hn, df.path("host")) {
                    if !topo.dbHosts.contains(h) {
                        r.error(hn, df.path("host"), topo.host(h) == nil ? unknownHost(h, topo) : "'\(h)' runs no PostgreSQL")
                    }
                    host = h
                }
                r.field(df, "clients", { r.int($0, $1, min: 1, max: 10_000) }) { count = Int($0) }
                c.direct.append((host, count))
            }
        }
        if let mn = f["monitor"], let items = r.list(mn, f.path("monitor"), what: "scrape jobs such as {endpoint: /metrics, interval: 15s, hosts: all}") {
            for (i, item) in items.enumerated() {
                let p = Reader.join(f.path("monitor"), i)
                guard let mf = r.mapping(item, p, allowed: ["endpoint", "interval", "timeout", "hosts"]) else { continue }
                var m = MonitorConfig()
                r.field(mf, "endpoint", { n, p in
                    guard let s = r.string(n, p) else { return nil }
                    if RESTPath.parse(s) == nil {
                        r.error(n, p, "expected a Patroni REST endpoint such as /metrics, /patroni or /health, got \"\(s)\"")
                        return nil
                    }
                    return s
                }) { m.endpoint = $0 }
                r.field(mf, "interval", { r.duration($0, $1, min: Time.s) }) { m.intervalNs = $0 }
                r.field(mf, "timeout", { r.duration($0, $1, min: 10 * Time.ms) }) { m.timeoutNs = $0 }
                if let hn = mf["hosts"] {
                    if hn.scalar == "all" { m.hosts = [] } else if let hs = r.list(hn, mf.path("hosts"), what: "DB host names, or all") {
                        for (j, h) in hs.enumerated() {
                            guard let name = r.string(h, Reader.join(mf.path("hosts"), j)) else { continue }
                            if topo.dbHosts.contains(name) { m.hosts.append(name) } else {
                                r.error(h, Reader.join(mf.path("hosts"), j), topo.host(name) == nil ? unknownHost(name, topo) : "'\(name)' runs no Patroni")
                            }
                        }
                    }
                }
                c.monitor.append(m)
            }
        }
        if c.rate > 0 && c.clients == 0 && c.direct.isEmpty { r.error(f["rate"] ?? n, f.path("rate"), "a write rate needs at least one client") }
        // Every growing table has a limit: each client is a connection and a model.
        let total = c.clients + (c.readRate > 0 ? c.readClients : 0) + c.direct.reduce(0) { $0 + $1.clients }
        if total > Self.maxClients {
            r.error(n, path, "\(total) clients in all (clients, read_clients and direct): at most \(Self.maxClients)")
        }
    }
}
