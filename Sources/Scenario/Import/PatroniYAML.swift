import SimCore

/// One node's `patroni.yml`, read as Patroni reads it (`patroni/config.py`: `Config`,
/// `_build_effective_configuration`; keys as in Patroni's YAML configuration settings).
struct PatroniFile {
    struct Setting {
        var path: [String]      // in the scenario language: ["patroni", "ttl"]
        var node: YNode         // the value, with its origin
    }
    var file: String
    var name: String?
    var nameLine = 1
    var scope: YNode?
    var namespace: YNode?
    /// The host part of `postgresql.connect_address`, else of `restapi.connect_address`.
    var address: String?
    /// `postgresql.connect_address`'s port: what HAProxy's `server` lines name.
    var pgPort: Int?
    /// `restapi.connect_address`'s port: where health checks go (Patroni's default 8008).
    var restPort: Int { restConnectPort ?? restListenPort ?? 8008 }
    var restConnectPort: Int?
    var restListenPort: Int?
    /// Where Patroni's etcd client starts (`etcd.host`/`hosts`/`url`/`proxy`): hosts as written.
    var etcdHosts: [(host: String, line: Int, column: Int)] = []
    /// `bootstrap.dcs`: the dynamic configuration the first node writes to the DCS.
    var dynamic: [Setting] = []
    /// Local settings that take precedence over the dynamic ones (`postgresql.parameters`,
    /// `postgresql.use_pg_rewind`, ...).
    var local: [Setting] = []
    /// `tags`, keyed by the tag's name.
    var tags: [Setting] = []
    var watchdog: [Setting] = []
    var hasDCSSection = false

    static let topKeys = ["scope", "namespace", "name", "restapi", "ctl", "etcd", "etcd3", "consul", "zookeeper", "exhibitor",
                          "kubernetes", "raft", "citus", "bootstrap", "postgresql", "watchdog", "tags", "log", "global",
                          "failsafe", "standby_cluster"]
    /// Dynamic settings, which Patroni takes from the DCS only (a top-level `ttl:` in
    /// patroni.yml is ignored: `_build_effective_configuration` keeps the dynamic value).
    static let dynamicKeys = ["ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "maximum_lag_on_syncnode",
                              "primary_start_timeout", "master_start_timeout", "primary_stop_timeout", "master_stop_timeout",
                              "synchronous_mode", "synchronous_mode_strict", "synchronous_node_count", "failsafe_mode",
                              "check_timeline", "member_slots_ttl", "postgresql", "standby_cluster", "slots",
                              "ignore_slots", "pause"]
    /// The dynamic keys simctl models, by their scenario name.
    static let modelledDynamic = ["ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "maximum_lag_on_syncnode",
                                  "primary_start_timeout", "master_start_timeout", "primary_stop_timeout", "master_stop_timeout",
                                  "synchronous_mode", "synchronous_mode_strict", "synchronous_node_count", "failsafe_mode",
                                  "check_timeline", "pause"]
    /// PostgreSQL parameters simctl models (the scenario's `postgresql:` keys).
    static let modelledParameters = ["max_connections", "synchronous_commit", "synchronous_standby_names", "wal_sender_timeout",
                                     "wal_receiver_timeout", "wal_receiver_status_interval", "wal_writer_delay",
                                     "wal_retrieve_retry_interval", "checkpoint_timeout", "max_wal_size",
                                     "checkpoint_completion_target", "wal_keep_size", "wal_log_hints"]
    /// `ConfigHandler.CMDLINE_OPTIONS`: set only through the dynamic configuration; a local
    /// value is discarded (`Config._process_postgresql_parameters(..., is_local=True)`).
    static let cmdlineOptions = ["listen_addresses", "port", "cluster_name", "wal_level", "hot_standby", "max_connections",
                                 "max_wal_senders", "wal_keep_segments", "wal_keep_size", "max_prepared_transactions",
                                 "max_locks_per_transaction", "track_commit_timestamp", "max_replication_slots",
                                 "max_worker_processes", "wal_log_hints"]
    static let tagKeys = ["nofailover", "failover_priority", "nosync", "noloadbalance", "sync_priority", "clonefrom",
                          "replicatefrom", "nostream"]

    static func parse(_ cfg: ConfigFile, _ r: FileReader) -> PatroniFile? {
        var p = PatroniFile(file: cfg.path)
        let root: YNode
        do {
            guard let n = try YNode.loadConfig(cfg.text) else {
                r.error(1, 1, "", "the file is empty; expected Patroni's YAML configuration (scope, name, restapi, etcd3, bootstrap, postgresql)")
                return nil
            }
            root = n
        } catch {
            guard case .syntax(let line, let col, let msg) = error else { return nil }
            r.error(line, col, "", "YAML syntax error: \(msg)")
            return nil
        }
        guard let top = root.configEntries else {
            r.error(root.line, root.column, "", "expected Patroni's YAML configuration (a mapping with scope, name, restapi, ...), got \(root.shapeDescription)")
            return nil
        }
        for e in top {
            let k = e.key, v = e.value
            switch k {
            case "scope": p.scope = tag(v, "scope", r)
            case "namespace": p.namespace = tag(v, "namespace", r)
            case "name":
                if let s = v.scalar { p.name = s; p.nameLine = v.line } else { r.error(v.line, v.column, "name", "expected the member's name, got \(v.shapeDescription)") }
            case "restapi": p.readRestAPI(v, r)
            case "etcd", "etcd3": p.readEtcd(v, k, r)
            case "consul", "zookeeper", "exhibitor", "kubernetes", "raft":
                r.error(e.keyLine, e.keyColumn, k, "simctl simulates etcd as Patroni's DCS; a \(k) DCS is not modelled (use an etcd3 section)")
            case "bootstrap": p.readBootstrap(v, r)
            case "postgresql": p.readPostgresql(v, r)
            case "watchdog": p.readWatchdog(v, r)
            case "tags": p.readTags(v, r)
            case "ctl": r.note(e.keyLine, k, "patronictl's own connection settings do not affect the cluster")
            case "log": r.note(e.keyLine, k, "logging does not affect failover timing")
            case "citus": r.error(e.keyLine, e.keyColumn, k, "Citus clusters are not modelled")
            case "standby_cluster":
                r.error(e.keyLine, e.keyColumn, k, "a standby cluster (replicating from another cluster) is not modelled")
            case _ where dynamicKeys.contains(k):
                r.warning(e.keyLine, e.keyColumn, k, "Patroni ignores a dynamic setting at the top of patroni.yml (it comes from the DCS); put it under bootstrap.dcs")
                r.note(e.keyLine, k, "ignored by Patroni here: dynamic settings live in the DCS (bootstrap.dcs, or patronictl edit-config)")
            default:
                if let s = Suggest.closest(k, in: topKeys + dynamicKeys) {
                    r.error(e.keyLine, e.keyColumn, k, "unknown key '\(k)'; did you mean '\(s)'?")
                } else {
                    r.note(e.keyLine, k, "not a Patroni setting; Patroni ignores it")
                }
            }
        }
        if p.etcdHosts.isEmpty && !top.contains(where: { ["consul", "zookeeper", "exhibitor", "kubernetes", "raft"].contains($0.key) }) {
            r.error(root.line, root.column, "etcd3", "no etcd3 (or etcd) section: Patroni needs a DCS (\"Can not find suitable configuration of distributed configuration store\")")
        }
        return p
    }

    static func tag(_ v: YNode, _ key: String, _ r: FileReader) -> YNode? {
        guard let s = v.scalar else { r.error(v.line, v.column, key, "expected a string, got \(v.shapeDescription)"); return nil }
        return r.value(s, line: v.line, column: v.column, key: key)
    }

    mutating func readRestAPI(_ n: YNode, _ r: FileReader) {
        guard let es = n.configEntries else { r.error(n.line, n.column, "restapi", "expected a mapping with listen and connect_address"); return }
        for e in es {
            let key = "restapi." + e.key
            switch e.key {
            case "connect_address":
                if let s = e.value.scalar {
                    if address == nil { address = Address.host(s) }
                    restConnectPort = Address.port(s)
                }
            case "listen":
                if let s = e.value.scalar { restListenPort = Address.port(s) }
            case "request_queue_size":
                local.append(.init(path: ["patroni", "restapi", "request_queue_size"], node: copy(e.value, key, r)))
            case "authentication", "certfile", "keyfile", "keyfile_password", "cafile", "ciphers", "verify_client", "allowlist",
                 "allowlist_include_members", "trusted_proxies", "use_ssl", "http_extra_headers", "https_extra_headers", "server_tokens":
                r.note(e.keyLine, key, "REST API security and headers do not change what the checks see")
            default:
                unknown(e, "restapi", ["connect_address", "listen", "request_queue_size", "authentication", "certfile", "keyfile"], r)
            }
        }
    }

    mutating func readEtcd(_ n: YNode, _ section: String, _ r: FileReader) {
        guard let es = n.configEntries else { r.error(n.line, n.column, section, "expected a mapping with host, hosts or url"); return }
        if section == "etcd" {
            r.note(n.line, "etcd", "Patroni's etcd (v2 API) client: etcd 3.4/3.5 serve it only with --enable-v2, 3.6 not at all; simctl runs Patroni's etcd3 client, whose leader key and TTL rules are the same")
        }
        hasDCSSection = true
        for e in es {
            let key = section + "." + e.key
            let v = e.value
            switch e.key {
            case "host":
                guard let s = v.scalar else { r.error(v.line, v.column, key, "expected host:port, got \(v.shapeDescription)"); continue }
                let parts = s.split(separator: ",").map { String($0).trimmingCharactersInSet() }
                if parts.count > 1 && parts.dropLast().contains(where: { $0.contains(":") }) {
                    // `split_host_port` takes `host1,host2:port`; with a port on every entry the
                    // first ones become part of a host name that does not resolve.
                    r.warning(v.line, v.column, key, "'host' takes one host:port (Patroni's split_host_port reads \"\(s)\" as a single host that does not resolve); a list belongs in 'hosts'. Imported as hosts")
                }
                for h in parts { etcdHosts.append((Address.host(h), v.line, v.column)) }
            case "hosts":
                if let s = v.scalar {
                    for h in s.split(separator: ",") { etcdHosts.append((Address.host(String(h)), v.line, v.column)) }
                } else if let items = v.items {
                    for i in items { if let s = i.scalar { etcdHosts.append((Address.host(s), i.line, i.column)) } }
                } else { r.error(v.line, v.column, key, "expected a list of host:port, got \(v.shapeDescription)") }
            case "url", "proxy":
                guard let s = v.scalar else { r.error(v.line, v.column, key, "expected a URL, got \(v.shapeDescription)"); continue }
                etcdHosts.append((Address.host(s), v.line, v.column))
                if e.key == "proxy" { r.note(e.keyLine, key, "an etcd proxy is taken as the etcd member it points at") }
            case "srv", "srv_suffix", "discovery_srv":
                r.error(e.keyLine, e.keyColumn, key, "DNS SRV discovery is not modelled; list the members in 'hosts'")
            case "protocol", "username", "password", "cacert", "cert", "key", "key_password", "verify", "version_prefix":
                r.note(e.keyLine, key, "transport security and credentials do not change etcd's timing")
            case "use_proxies": r.note(e.keyLine, key, "taken as the configured hosts")
            case "retry_timeout", "ttl":
                r.note(e.keyLine, key, "Patroni overrides it with the dynamic \(e.key)")
            default:
                unknown(e, section, ["host", "hosts", "url", "proxy", "protocol", "username", "password", "cacert"], r)
            }
        }
    }

    mutating func readBootstrap(_ n: YNode, _ r: FileReader) {
        guard let es = n.configEntries else { r.error(n.line, n.column, "bootstrap", "expected a mapping with dcs, initdb, ..."); return }
        for e in es {
            switch e.key {
            case "dcs": readDCS(e.value, r)
            case "initdb", "users", "post_bootstrap", "post_init", "method", "pg_hba":
                r.note(e.keyLine, "bootstrap." + e.key, "runs once when the cluster is created; the simulation starts from a running cluster")
            default:
                if let sug = Suggest.closest(e.key, in: ["dcs", "initdb", "users", "post_bootstrap", "method"]) {
                    r.error(e.keyLine, e.keyColumn, "bootstrap." + e.key, "unknown key '\(e.key)'; did you mean '\(sug)'?")
                } else {
                    r.note(e.keyLine, "bootstrap." + e.key, "a custom bootstrap method runs once when the cluster is created")
                }
            }
        }
    }

    mutating func readDCS(_ n: YNode, _ r: FileReader) {
        guard let es = n.configEntries else { r.error(n.line, n.column, "bootstrap.dcs", "expected a mapping with ttl, loop_wait, retry_timeout, ..."); return }
        for e in es {
            let key = "bootstrap.dcs." + e.key
            switch e.key {
            case _ where Self.modelledDynamic.contains(e.key):
                dynamic.append(.init(path: ["patroni", e.key], node: copy(e.value, key, r)))
            case "postgresql":
                guard let pes = e.value.configEntries else { r.error(e.value.line, e.value.column, key, "expected a mapping"); continue }
                for pe in pes {
                    let pk = key + "." + pe.key
                    switch pe.key {
                    case "parameters": readParameters(pe.value, pk, local: false, r)
                    case "use_pg_rewind", "remove_data_directory_on_rewind_failure", "remove_data_directory_on_diverged_timelines":
                        dynamic.append(.init(path: ["patroni", pe.key], node: copy(pe.value, pk, r)))
                    case "use_slots":
                        r.note(pe.keyLine, pk, "replication slots only keep WAL for a replica; simctl keeps it as wal_keep_size does")
                    case "pg_hba", "pg_ident":
                        r.note(pe.keyLine, pk, "access control does not affect failover timing")
                    case "recovery_conf":
                        r.note(pe.keyLine, pk, "recovery settings beyond streaming are not modelled")
                    default: unknown(pe, key, ["parameters", "use_pg_rewind", "use_slots", "pg_hba"], r)
                    }
                }
            case "member_slots_ttl", "slots", "ignore_slots":
                r.note(e.keyLine, key, "permanent and member slots do not change failover timing")
            case "standby_cluster":
                r.error(e.keyLine, e.keyColumn, key, "a standby cluster (replicating from another cluster) is not modelled")
            default:
                unknown(e, "bootstrap.dcs", Self.dynamicKeys, r)
            }
        }
    }

    mutating func readPostgresql(_ n: YNode, _ r: FileReader) {
        guard let es = n.configEntries else { r.error(n.line, n.column, "postgresql", "expected a mapping with listen, connect_address, data_dir, ..."); return }
        for e in es {
            let key = "postgresql." + e.key
            switch e.key {
            case "connect_address":
                if let s = e.value.scalar { address = Address.host(s); pgPort = Address.port(s) }
            case "parameters": readParameters(e.value, key, local: true, r)
            case "use_pg_rewind", "remove_data_directory_on_rewind_failure", "remove_data_directory_on_diverged_timelines":
                local.append(.init(path: ["patroni", e.key], node: copy(e.value, key, r)))
            case "use_slots":
                r.warning(e.keyLine, e.keyColumn, key, "Patroni ignores use_slots in the local configuration (slots are enabled or disabled for the whole cluster in bootstrap.dcs)")
            case "listen", "data_dir", "bin_dir", "config_dir", "pgpass", "bin_name", "unix_socket_directories", "use_unix_socket",
                 "use_unix_socket_repl", "custom_conf", "config_base_name":
                r.note(e.keyLine, key, "paths and sockets do not affect failover timing")
            case "authentication", "superuser", "replication", "rewind":
                r.note(e.keyLine, key, "credentials do not affect failover timing")
            case "pg_hba", "pg_ident":
                r.note(e.keyLine, key, "access control does not affect failover timing")
            case "callbacks":
                if let ces = e.value.configEntries {
                    for c in ces {
                        r.note(c.keyLine, key + "." + c.key, "a callback script runs beside the HA loop (Patroni's CallbackExecutor does not wait for it); simctl does not run scripts: describe what it does with patroni.callbacks: {\(c.key): {duration: 2s, exit_code: 0}} in the scenario")
                    }
                }
            case "pre_promote":
                r.note(e.keyLine, key, "simctl does not run the script; describe what it does with patroni.pre_promote: {duration: 2s, exit_code: 0} in the scenario")
            case "create_replica_methods", "basebackup", "pgbackrest", "wal_e", "recovery_conf", "before_stop":
                r.note(e.keyLine, key, "replica creation and hook commands are not modelled")
            case "pg_ctl_timeout":
                r.note(e.keyLine, key, "pg_ctl's wait timeout; simctl's PostgreSQL starts within postgresql.startup")
            default:
                unknown(e, "postgresql", ["listen", "connect_address", "data_dir", "parameters", "use_pg_rewind", "authentication", "callbacks"], r)
            }
        }
    }

    /// PostgreSQL parameters: the ones simctl models go to its `postgresql:` section; the
    /// rest are listed together in one note.
    mutating func readParameters(_ n: YNode, _ key: String, local isLocal: Bool, _ r: FileReader) {
        guard let es = n.configEntries else { r.error(n.line, n.column, key, "expected a mapping of PostgreSQL parameters"); return }
        var other: [String] = []
        for e in es {
            let name = e.key.lowercased()
            let pk = key + "." + e.key
            if isLocal && Self.cmdlineOptions.contains(name) {
                r.warning(e.keyLine, e.keyColumn, pk, "Patroni discards \(name) from the local configuration; it is set only through the dynamic configuration (bootstrap.dcs.postgresql.parameters)")
                continue
            }
            if Self.modelledParameters.contains(name) {
                let s = Setting(path: ["postgresql", name], node: copy(e.value, pk, r))
                if isLocal { local.append(s) } else { dynamic.append(s) }
            } else {
                other.append(e.key)
            }
        }
        if !other.isEmpty {
            r.note(n.line, key, "\(other.joined(separator: ", ")): memory, logging, archiving and planner settings do not change failover timing")
        }
    }

    mutating func readWatchdog(_ n: YNode, _ r: FileReader) {
        if let s = n.scalar {
            watchdog.append(.init(path: ["patroni", "watchdog", "mode"], node: r.value(s, line: n.line, column: n.column, key: "watchdog")))
            return
        }
        guard let es = n.configEntries else { r.error(n.line, n.column, "watchdog", "expected a mapping with mode, device, safety_margin"); return }
        for e in es {
            let key = "watchdog." + e.key
            switch e.key {
            case "mode":
                // YAML reads `mode: off` as false.
                var v = copy(e.value, key, r)
                if let s = v.scalar, ["false", "no"].contains(s.lowercased()) { v.kind = .scalar("off", quoted: false) }
                watchdog.append(.init(path: ["patroni", "watchdog", "mode"], node: v))
            case "safety_margin": watchdog.append(.init(path: ["patroni", "watchdog", "safety_margin"], node: copy(e.value, key, r)))
            case "device":
                // A device path means the device exists on that node.
                watchdog.append(.init(path: ["patroni", "watchdog", "device"], node: r.value("true", line: e.value.line, column: e.value.column, key: key)))
            case "driver": r.note(e.keyLine, key, "the Linux softdog/hardware driver is modelled as one device")
            default: unknown(e, "watchdog", ["mode", "device", "safety_margin", "driver"], r)
            }
        }
    }

    mutating func readTags(_ n: YNode, _ r: FileReader) {
        guard let es = n.configEntries else { r.error(n.line, n.column, "tags", "expected a mapping such as {nofailover: false}"); return }
        for e in es {
            let key = "tags." + e.key
            switch e.key {
            case "nofailover", "failover_priority", "nosync", "noloadbalance", "sync_priority", "replicatefrom", "nostream":
                tags.append(.init(path: [e.key], node: copy(e.value, key, r)))
            case "clonefrom":
                r.note(e.keyLine, key, "clone sources are not modelled: a reinit clones from the leader")
            default:
                if let s = Suggest.closest(e.key, in: Self.tagKeys) {
                    r.error(e.keyLine, e.keyColumn, key, "unknown tag '\(e.key)'; did you mean '\(s)'?")
                } else {
                    r.note(e.keyLine, key, "a custom tag; Patroni only publishes it")
                }
            }
        }
    }

    /// A key Patroni does not know in a section it does: a likely typo is an error (a
    /// misspelt `loop_wiat` would silently run with the default), anything else a note.
    func unknown(_ e: YNode.Entry, _ section: String, _ known: [String], _ r: FileReader) {
        let key = section + "." + e.key
        if let s = Suggest.closest(e.key, in: known + Self.dynamicKeys) {
            r.error(e.keyLine, e.keyColumn, key, "unknown key '\(e.key)'; did you mean '\(s)'?")
        } else {
            r.note(e.keyLine, key, "not a Patroni setting; Patroni ignores it")
        }
    }

    /// The file's value, remembering where it came from (recursively for mappings and lists).
    func copy(_ n: YNode, _ key: String, _ r: FileReader) -> YNode {
        var c = n
        c.origin = .init(file: r.file, key: key)
        switch c.kind {
        case .scalar: break
        case .mapping(var es):
            for i in es.indices { es[i].value = copy(es[i].value, key + "." + es[i].key, r) }
            c.kind = .mapping(es)
        case .sequence(var items):
            for i in items.indices { items[i] = copy(items[i], key + "[\(i)]", r) }
            c.kind = .sequence(items)
        }
        return c
    }
}
