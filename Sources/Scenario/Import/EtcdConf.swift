import SimCore

/// One etcd member's configuration in any of the three forms etcd takes: a YAML config file
/// (`--config-file`, keys as the flags without dashes), an environment file (`ETCD_NAME=...`,
/// as systemd units load), or a command line (`--name node1 --heartbeat-interval=100`).
/// Keys and defaults as etcd's `embed.Config` / `etcdmain/config.go` define them.
struct EtcdFile {
    struct Value { var text: String; var line: Int; var column: Int; var key: String }

    var file: String
    var name: Value?
    var values: [String: Value] = [:]
    /// `initial-cluster`: every member's name and peer host.
    var initialCluster: [(name: String, host: String)] = []
    var version: String?

    /// Settings simctl models, and the scenario key each goes to.
    static let modelled = ["heartbeat-interval": "heartbeat_interval", "election-timeout": "election_timeout",
                           "pre-vote": "pre_vote", "strict-reconfig-check": "strict_reconfig_check",
                           "initial-election-tick-advance": "initial_election_tick_advance",
                           "snapshot-count": "snapshot_count", "experimental-snapshot-catchup-entries": "snapshot_catchup_entries",
                           "snapshot-catchup-entries": "snapshot_catchup_entries",
                           "experimental-initial-election-tick-advance": "initial_election_tick_advance"]
    /// Settings read for the topology.
    static let topology = ["name", "initial-cluster", "initial-advertise-peer-urls", "advertise-client-urls",
                           "listen-peer-urls", "listen-client-urls"]
    /// Settings that exist and do not change failover timing, with why.
    static let irrelevant: [(keys: [String], why: String)] = [
        (["data-dir", "wal-dir", "initial-cluster-state", "initial-cluster-token", "cluster-state", "discovery", "discovery-srv",
          "discovery-token", "discovery-endpoints"], "bootstrap and storage paths are used once, when the cluster is created"),
        (["log-level", "logger", "log-outputs", "enable-log-rotation", "log-rotation-config-json", "debug"], "logging does not change timing"),
        (["client-cert-auth", "trusted-ca-file", "cert-file", "key-file", "peer-client-cert-auth", "peer-trusted-ca-file",
          "peer-cert-file", "peer-key-file", "auto-tls", "peer-auto-tls", "cipher-suites", "tls-min-version", "tls-max-version",
          "client-transport-security", "peer-transport-security"], "TLS does not change timing"),
        (["auto-compaction-mode", "auto-compaction-retention", "quota-backend-bytes", "max-snapshots", "max-wals", "backend-batch-interval", "backend-batch-limit"],
         "MVCC compaction, the backend quota and how many snapshot and WAL files are kept do not change timing for Patroni's few keys"),
        (["max-request-bytes", "grpc-keepalive-min-time", "grpc-keepalive-interval", "grpc-keepalive-timeout", "max-txn-ops",
          "max-concurrent-streams"], "request limits are far above what Patroni sends"),
        (["listen-metrics-urls", "metrics", "enable-pprof", "enable-grpc-gateway"], "metrics and debugging endpoints"),
        (["enable-v2", "v2-deprecation"], "the v2 API (Patroni's `etcd:` client); simctl runs the etcd3 client"),
        (["experimental-initial-corrupt-check", "initial-corrupt-check", "experimental-corrupt-check-time",
          "experimental-compact-hash-check-enabled"], "data-corruption checks find no corruption in a simulated member"),
        (["experimental-enable-distributed-tracing", "experimental-watch-progress-notify-interval", "feature-gates",
          "experimental-enable-lease-checkpoint", "experimental-enable-lease-checkpoint-persist", "self-signed-cert-validity",
          "proxy", "socket-reuse-port", "socket-reuse-address", "force-new-cluster", "unsafe-no-fsync", "advertise-peer-urls"],
         "not modelled"),
    ]

    static func parse(_ cfg: ConfigFile, _ r: FileReader) -> EtcdFile {
        var f = EtcdFile(file: cfg.path)
        let lines = cfg.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let meaningful = lines.map { $0.trimmingCharactersInSet() }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        if meaningful.contains(where: { $0.hasPrefix("ETCD_") || $0.hasPrefix("export ETCD_") }) {
            f.readEnv(lines, r)
        } else if meaningful.first.map({ $0.hasPrefix("--") || $0.hasPrefix("etcd ") || $0.hasPrefix("ExecStart=") || $0.contains("/etcd ") }) == true {
            f.readFlags(lines, r)
        } else {
            f.readYAML(cfg.text, r)
        }
        f.interpret(r)
        return f
    }

    /// `ETCD_HEARTBEAT_INTERVAL="100"` → `heartbeat-interval`.
    mutating func readEnv(_ lines: [String], _ r: FileReader) {
        for (i, raw) in lines.enumerated() {
            var s = raw.trimmingCharactersInSet()
            if s.isEmpty || s.hasPrefix("#") { continue }
            if s.hasPrefix("export ") { s = String(s.dropFirst(7)) }
            let col = (raw.firstIndex(where: { $0 != " " && $0 != "\t" }).map { raw.distance(from: raw.startIndex, to: $0) } ?? 0) + 1
            guard let eq = s.firstIndex(of: "="), s.hasPrefix("ETCD_") else {
                r.error(i + 1, col, "", "expected NAME=value as in an etcd environment file (ETCD_NAME=\"node1\"), got \"\(s)\"")
                continue
            }
            let env = String(s[..<eq])
            var v = String(s[s.index(after: eq)...]).trimmingCharactersInSet()
            if v.count >= 2, let q = v.first, (q == "\"" || q == "'"), v.last == q { v = String(v.dropFirst().dropLast()) }
            let key = env.dropFirst(5).lowercased().replacingOccurrences("_", "-")
            values[key] = Value(text: v, line: i + 1, column: col + eq.utf16Offset(in: s) + 1, key: env)
        }
    }

    /// `etcd --name node1 --heartbeat-interval=100 \` (continued lines allowed).
    mutating func readFlags(_ lines: [String], _ r: FileReader) {
        var words: [(String, Int, Int)] = []
        for (i, raw) in lines.enumerated() {
            for t in HAProxyFile.tokens(raw, number: i + 1) where t.text != "\\" { words.append((t.text, t.line, t.column)) }
        }
        var i = 0
        while i < words.count {
            let (w, line, col) = words[i]
            guard w.hasPrefix("-") else { i += 1; continue }
            var flag = String(w.drop(while: { $0 == "-" }))
            var value: String
            if let eq = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            } else if i + 1 < words.count, !words[i + 1].0.hasPrefix("-") {
                value = words[i + 1].0
                i += 1
            } else {
                value = "true"   // a bare boolean flag: `--pre-vote`
            }
            values[flag] = Value(text: value, line: line, column: col, key: "--" + flag)
            i += 1
        }
    }

    mutating func readYAML(_ text: String, _ r: FileReader) {
        let root: YNode
        do {
            guard let n = try YNode.loadConfig(text) else { r.error(1, 1, "", "the file is empty; expected an etcd configuration"); return }
            root = n
        } catch {
            if case .syntax(let line, let col, let msg) = error { r.error(line, col, "", "YAML syntax error: \(msg)") }
            return
        }
        guard let es = root.entries else {
            r.error(root.line, root.column, "", "expected an etcd YAML configuration (name, initial-cluster, heartbeat-interval, ...), an ETCD_* environment file or etcd's command line")
            return
        }
        for e in es {
            guard let s = e.value.scalar else {
                if ["client-transport-security", "peer-transport-security", "log-rotation-config-json"].contains(e.key) {
                    values[e.key] = Value(text: "", line: e.keyLine, column: e.keyColumn, key: e.key)
                } else {
                    r.error(e.value.line, e.value.column, e.key, "expected a value, got \(e.value.shapeDescription)")
                }
                continue
            }
            values[e.key] = Value(text: s, line: e.value.line, column: e.value.column, key: e.key)
        }
    }

    static var known: [String] { modelled.keys.sorted() + topology + irrelevant.flatMap(\.keys) }

    mutating func interpret(_ r: FileReader) {
        if let n = values["name"] { name = n }
        if values["feature-gates"] != nil { version = "3.6" }
        if let ic = values["initial-cluster"] {
            for part in ic.text.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharactersInSet() }
                guard kv.count == 2, !kv[0].isEmpty else {
                    r.error(ic.line, ic.column, ic.key, "expected name=http://host:2380,... in initial-cluster, got \"\(part)\"")
                    continue
                }
                initialCluster.append((kv[0], Address.host(kv[1])))
            }
        }
        var grouped: [String: (line: Int, keys: [String])] = [:]
        for (k, v) in values.sorted(by: { ($0.value.line, $0.value.column, $0.key) < ($1.value.line, $1.value.column, $1.key) }) {
            if Self.modelled[k] != nil || Self.topology.contains(k) { continue }
            if let g = Self.irrelevant.first(where: { $0.keys.contains(k) }) {
                if k == "unsafe-no-fsync", ["true", "1"].contains(v.text.lowercased()) {
                    r.note(v.line, v.key, "fsync switched off: simctl still syncs the member's WAL (set etcd.fsync to 0 to model it)")
                    continue
                }
                grouped[g.why, default: (v.line, [])].keys.append(v.key)
            } else if let s = Suggest.closest(k, in: Self.known) {
                r.error(v.line, v.column, v.key, "unknown etcd setting '\(v.key)'; did you mean '\(s)'?")
            } else {
                r.note(v.line, v.key, "not an etcd setting simctl knows; not modelled")
            }
        }
        for (why, g) in grouped.sorted(by: { ($0.value.line, $0.key) < ($1.value.line, $1.key) }) {
            r.note(g.line, g.keys.joined(separator: ", "), why)
        }
    }

    /// The member's own peer host (`initial-advertise-peer-urls`), else from `initial-cluster`.
    var peerHost: String? {
        if let v = values["initial-advertise-peer-urls"]?.text.split(separator: ",").first {
            let h = Address.host(String(v))
            if !Address.isWildcard(h) { return h }
        }
        if let n = name?.text { return initialCluster.first { $0.name == n }?.host }
        return nil
    }

    /// Every host this member answers clients on.
    var clientHosts: [String] {
        var out: [String] = []
        for k in ["advertise-client-urls", "listen-client-urls"] {
            for part in (values[k]?.text ?? "").split(separator: ",") {
                let h = Address.host(String(part))
                if !h.isEmpty && !Address.isWildcard(h) && !out.contains(h) { out.append(h) }
            }
        }
        return out
    }
}
