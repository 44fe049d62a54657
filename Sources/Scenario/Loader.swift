import SimCore

/// Turns scenario YAML into a validated `Scenario`, or every problem found.
public enum ScenarioLoader {
    static let topKeys = ["name", "description", "seed", "duration", "topology", "patroni", "etcd", "postgresql",
                          "haproxy", "keepalived", "pgbouncer", "envoy", "lb", "network", "workload", "noise", "faults", "expect", "cluster"]

    /// Parses the file's text into a tree (syntax errors only). A sweep parses once and builds
    /// many scenarios from the same tree with different overrides.
    public static func parse(text: String, file: String) -> Result<YNode, ScenarioErrors> {
        do {
            guard let root = try YNode.load(text) else {
                return .failure(ScenarioErrors(diagnostics: [Diagnostic(.error, file: file, line: 1, column: 1, path: "", message: "the file is empty; expected a scenario mapping with name, duration, topology, ...")]))
            }
            return .success(root)
        } catch {
            // `YNode.load` throws only `.syntax` (its typed throw says so).
            let (line, col, msg): (Int, Int, String)
            switch error { case .syntax(let l, let c, let m): (line, col, msg) = (l, c, m) }
            return .failure(ScenarioErrors(diagnostics: [Diagnostic(.error, file: file, line: line, column: col, path: "", message: "YAML syntax error: \(msg)")]))
        }
    }

    /// Loads a scenario from text, applying `--set` overrides.
    public static func load(text: String, file: String, overrides: [String] = [], files: FileSource = .disk) -> Result<Scenario, ScenarioErrors> {
        switch parse(text: text, file: file) {
        case .failure(let e): return .failure(e)
        case .success(let root): return build(root, file: file, overrides: overrides, files: files)
        }
    }

    /// Builds a scenario from a parsed tree with overrides applied.
    public static func build(_ tree: YNode, file: String, overrides: [String] = [], files: FileSource = .disk) -> Result<Scenario, ScenarioErrors> {
        var root = tree
        var diags: [Diagnostic] = []
        for raw in overrides {
            switch Override.parse(raw) {
            case .failure(let e):
                diags.append(Diagnostic(.error, file: file, line: 0, column: 0, path: "", message: e.message, override: raw))
            case .success(let o):
                if let msg = root.apply(o) {
                    diags.append(Diagnostic(.error, file: file, line: 0, column: 0, path: Override.pathString(o.path), message: msg, override: raw))
                }
            }
        }
        let r = Reader(file: file)
        r.diagnostics = diags
        var s = Scenario()
        s.file = file
        s.overrides = overrides
        if root.entries != nil { s.importNotes = expandCluster(&root, file: file, files: files, r) }
        if r.hasErrors { return .failure(ScenarioErrors(diagnostics: inFileOrder(r.diagnostics.filter { $0.severity == .error }))) }
        read(root, into: &s, r)
        let errors = r.diagnostics.filter { $0.severity == .error }
        if !errors.isEmpty { return .failure(ScenarioErrors(diagnostics: inFileOrder(errors))) }
        s.warnings = r.diagnostics.filter { $0.severity == .warning }
        return .success(s)
    }

    /// Problems as a reader meets them in the file: `--set` ones first, then each file's by
    /// line and column (the scenario's own, then the real files it names, in the order met).
    static func inFileOrder(_ ds: [Diagnostic]) -> [Diagnostic] {
        var files: [String] = []
        for d in ds where !files.contains(d.file) { files.append(d.file) }
        return ds.enumerated().sorted { a, b in
            let ka = (a.element.override == nil ? 1 : 0, files.firstIndex(of: a.element.file)!, a.element.line, a.element.column, a.offset)
            let kb = (b.element.override == nil ? 1 : 0, files.firstIndex(of: b.element.file)!, b.element.line, b.element.column, b.offset)
            return ka < kb
        }.map(\.element)
    }

    static func read(_ root: YNode, into s: inout Scenario, _ r: Reader) {
        guard let top = r.mapping(root, "", allowed: topKeys, required: ["name", "duration"], what: "a scenario mapping") else { return }
        r.field(top, "name", r.string) { s.name = $0 }
        r.field(top, "description", r.string) { s.description = $0 }
        r.field(top, "seed", r.uint64) { s.seed = $0 }
        r.field(top, "duration", { r.duration($0, $1, max: Scenario.maxDurationNs, allowZero: false) }) { s.durationNs = $0 }
        if let n = top["name"], let name = n.scalar, name.trimmingCharactersInSet().isEmpty { r.error(n, "name", "must not be empty") }

        s.topology = readTopology(top["topology"], r)
        if let n = top["etcd"] { readEtcd(n, "etcd", &s.etcd, r) }
        if let n = top["patroni"] { readPatroni(n, "patroni", &s.patroni, hosts: s.topology, r) }
        if let n = top["postgresql"] { readPostgres(n, "postgresql", &s.postgresql, r) }
        if let n = top["haproxy"] { readHAProxy(n, "haproxy", &s.haproxy, r) }
        if let n = top["keepalived"] { readKeepalived(n, "keepalived", &s.keepalived, r) }
        if let n = top["pgbouncer"] { readPgBouncer(n, "pgbouncer", &s.pgbouncer, r) }
        if let n = top["envoy"] { readEnvoy(n, "envoy", &s.envoy, r) }
        if let n = top["lb"] { readCloudLB(n, "lb", &s.cloudLB, r) }
        if let n = top["network"] { s.network = readNetwork(n, "network", s.topology, r) }
        if let n = top["workload"] { readWorkload(n, "workload", &s.workload, s.topology, r) }
        placeMonitor(&s, top, r)
        // Patroni applies its own timeout rules at start-up; so does simctl, with its warnings.
        for w in s.patroni.adjustTimeouts() {
            r.warning(top["patroni"] ?? root, "patroni", w)
        }
        if let n = top["noise"] { s.noise = readNoise(n, "noise", s, r) }
        if let n = top["faults"] { s.faults = readFaults(n, "faults", s, r) }
        if let n = top["expect"] { s.expectations = readExpectations(n, "expect", s, r) }
        checkTopologyNeeds(s, top, r)
    }

    // MARK: - Topology

    static let presets = ["etcd-colocated", "etcd-separate"]
    static let topologyKeys = ["preset", "db_nodes", "etcd_nodes", "haproxy_nodes", "keepalived", "pgbouncer", "front",
                               "hosts", "initial_primary", "clients"]

    static func readTopology(_ n: YNode?, _ r: Reader) -> Topology {
        var t = Topology()
        var preset = "etcd-colocated"
        var db = 3, etcdN = 3, haproxyN = 1, clientHosts = 1
        var keepalived = false, pgbouncer = false
        var explicit: [HostSpec]? = nil
        var initialPrimary: (String, YNode)? = nil
        if let n {
            if let name = n.scalar {
                if presets.contains(name) { preset = name } else {
                    var msg = "expected a preset (\(presets.joined(separator: ", "))) or a mapping, got \"\(name)\""
                    if let sug = Suggest.closest(name, in: presets) { msg += "; did you mean '\(sug)'?" }
                    r.error(n, "topology", msg)
                }
            } else if let f = r.mapping(n, "topology", allowed: topologyKeys) {
                r.field(f, "preset", { r.oneOf($0, $1, presets) }) { preset = $0 }
                r.field(f, "db_nodes", { r.int($0, $1, min: 1, max: 9) }) { db = Int($0) }
                r.field(f, "etcd_nodes", { r.int($0, $1, min: 1, max: 9) }) { etcdN = Int($0) }
                r.field(f, "haproxy_nodes", { r.int($0, $1, min: 0, max: 4) }) { haproxyN = Int($0) }
                r.field(f, "clients", { r.int($0, $1, min: 0, max: 9) }) { clientHosts = Int($0) }
                r.field(f, "keepalived", r.bool) { keepalived = $0 }
                r.field(f, "pgbouncer", r.bool) { pgbouncer = $0 }
                r.field(f, "front", { r.oneOf($0, $1, Front.allCases.map(\.rawValue)) }) { t.front = Front(rawValue: $0)! }
                if let hn = f["initial_primary"], let v = r.string(hn, f.path("initial_primary")) { initialPrimary = (v, hn) }
                if let hn = f["hosts"] { explicit = readHosts(hn, "topology.hosts", r) }
                if f.has("etcd_nodes") && preset == "etcd-colocated" && explicit == nil {
                    r.error(f["etcd_nodes"]!, "topology.etcd_nodes", "etcd-colocated runs one etcd member per DB node; use db_nodes, or preset etcd-separate")
                }
            }
        }
        if let hosts = explicit {
            t.preset = nil
            t.hosts = hosts
            if let fr = hosts.first(where: { $0.runs(.envoy) }) { _ = fr; t.front = .envoy }
            if hosts.contains(where: { $0.runs(.lb) }) { t.front = .lb }
            if !hosts.contains(where: { $0.runs(.haproxy) || $0.runs(.envoy) || $0.runs(.lb) }) { t.front = .none }
        } else {
            t.preset = preset
            var hosts: [HostSpec] = []
            if preset == "etcd-separate" {
                for i in 1...etcdN { hosts.append(HostSpec(name: "etcd\(i)", services: [.etcd])) }
                for i in 1...db { hosts.append(HostSpec(name: "db\(i)", services: [.patroni])) }
            } else {
                for i in 1...db { hosts.append(HostSpec(name: "db\(i)", services: [.etcd, .patroni])) }
            }
            let frontService: Service? = t.front == .haproxy ? .haproxy : t.front == .envoy ? .envoy : t.front == .lb ? .lb : nil
            if let fs = frontService {
                let count = fs == .lb ? 1 : max(haproxyN, keepalived ? 2 : 1)
                for i in 1...count {
                    var sv: [Service] = [fs]
                    if keepalived && fs == .haproxy { sv.append(.keepalived) }
                    if pgbouncer { sv.append(.pgbouncer) }
                    hosts.append(HostSpec(name: "\(fs == .lb ? "lb" : fs.rawValue)\(i)", services: sv))
                }
            }
            for i in 0..<clientHosts { hosts.append(HostSpec(name: "app\(i + 1)", services: [.clients])) }
            t.hosts = hosts
        }
        let dbs = t.dbHosts
        if let (name, node) = initialPrimary {
            if dbs.contains(name) { t.initialPrimary = name } else {
                r.error(node, "topology.initial_primary", "unknown DB host '\(name)'; DB hosts are \(dbs.joined(separator: ", "))")
            }
        }
        if t.initialPrimary.isEmpty { t.initialPrimary = dbs.first ?? "" }
        return t
    }

    static func readHosts(_ n: YNode, _ path: String, _ r: Reader) -> [HostSpec]? {
        guard let items = r.list(n, path, what: "hosts such as {name: db1, services: [etcd, patroni]}") else { return nil }
        var out: [HostSpec] = []
        for (i, item) in items.enumerated() {
            let p = Reader.join(path, i)
            guard let f = r.mapping(item, p, allowed: ["name", "services"], required: ["name", "services"]) else { continue }
            guard let nameNode = f["name"], let name = r.string(nameNode, f.path("name")) else { continue }
            if name.isEmpty || name.contains("/") || Role(rawValue: name) != nil {
                r.error(nameNode, f.path("name"), "'\(name)' cannot be a host name (it is empty, has a '/', or is a role name)")
                continue
            }
            if out.contains(where: { $0.name == name }) { r.error(nameNode, f.path("name"), "duplicate host name '\(name)'"); continue }
            var services: [Service] = []
            if let sn = f["services"], let list = r.list(sn, f.path("services"), what: "services") {
                for (j, s) in list.enumerated() {
                    if let v = r.oneOf(s, Reader.join(f.path("services"), j), Service.allCases.map(\.rawValue)) { services.append(Service(rawValue: v)!) }
                }
            }
            out.append(HostSpec(name: name, services: services))
        }
        return out
    }

    /// Scrapers run in a `monitor` process: on a host that lists the service, or else on the
    /// first application host.
    static func placeMonitor(_ s: inout Scenario, _ top: Reader.Fields, _ r: Reader) {
        guard !s.workload.monitor.isEmpty, !s.topology.hosts.contains(where: { $0.runs(.monitor) }) else { return }
        guard let i = s.topology.hosts.firstIndex(where: { $0.runs(.clients) }) else {
            r.error(top["workload"] ?? top.node, "workload.monitor", "scrapers need a host that runs clients or monitor")
            return
        }
        s.topology.hosts[i] = HostSpec(name: s.topology.hosts[i].name, services: s.topology.hosts[i].services + [.monitor])
    }

    /// Cross-section checks that need the whole scenario.
    static func checkTopologyNeeds(_ s: Scenario, _ top: Reader.Fields, _ r: Reader) {
        let node = top["topology"] ?? top.node
        if s.topology.hosts.isEmpty { return }
        if s.topology.etcdHosts.isEmpty { r.error(node, "topology", "no host runs etcd; Patroni needs an etcd cluster as its DCS") }
        if s.topology.dbHosts.isEmpty { r.error(node, "topology", "no host runs patroni (PostgreSQL)") }
        if s.topology.hosts.count > 64 { r.error(node, "topology", "at most 64 hosts are supported") }
    }

    // MARK: - Network

    static let latencyKeys = ["distribution", "value", "min", "max", "mean", "stddev", "median", "sigma", "floor"]

    /// `1ms` (constant) or `{distribution: lognormal, median: 0.5ms, sigma: 0.3, floor: 0.1ms}`.
    static func readLatency(_ n: YNode, _ path: String, _ r: Reader) -> Latency? {
        if n.scalar != nil {
            guard let v = r.duration(n, path) else { return nil }
            return Latency(.constant(v))
        }
        guard let f = r.mapping(n, path, allowed: latencyKeys, required: ["distribution"], what: "a latency (a duration, or a mapping with distribution)") else { return nil }
        guard let dn = f["distribution"], let d = r.oneOf(dn, f.path("distribution"), ["constant", "uniform", "normal", "lognormal"]) else { return nil }
        var floor: Nanos = 0
        r.field(f, "floor", { r.duration($0, $1) }) { floor = $0 }
        func need(_ k: String) -> Nanos? {
            guard let x = f[k] else { r.error(n, path, "a \(d) latency needs '\(k)'"); return nil }
            return r.duration(x, f.path(k))
        }
        let allowed: [String: [String]] = ["constant": ["value"], "uniform": ["min", "max"], "normal": ["mean", "stddev"], "lognormal": ["median", "sigma"]]
        for e in f.entries where !["distribution", "floor"].contains(e.key) && !allowed[d]!.contains(e.key) {
            r.error(YNode(.scalar(e.key, quoted: false), line: e.keyLine, column: e.keyColumn, override: e.value.override), f.path(e.key), "'\(e.key)' does not apply to a \(d) latency; it takes \(allowed[d]!.joined(separator: ", "))")
        }
        switch d {
        case "constant":
            guard let v = need("value") else { return nil }
            return Latency(.constant(v), floorNs: floor)
        case "uniform":
            guard let lo = need("min"), let hi = need("max") else { return nil }
            if hi < lo { r.error(f["max"]!, f.path("max"), "must not be below min"); return nil }
            return Latency(.uniform(lo: lo, hi: hi), floorNs: floor)
        case "normal":
            guard let m = need("mean"), let sd = need("stddev") else { return nil }
            return Latency(.normal(mean: m, stddev: sd), floorNs: floor)
        default:
            guard let m = need("median") else { return nil }
            var sigma = 0.3
            r.field(f, "sigma", { r.double($0, $1, min: 0, max: 5) }) { sigma = $0 }
            return Latency(.lognormal(median: m, sigma: sigma), floorNs: floor)
        }
    }

    static func readNetwork(_ n: YNode, _ path: String, _ topo: Topology, _ r: Reader) -> NetworkConfig {
        var c = NetworkConfig()
        guard let f = r.mapping(n, path, allowed: ["latency", "loss", "links"]) else { return c }
        r.field(f, "latency", { readLatency($0, $1, r) }) { c.latency = $0 }
        r.field(f, "loss", { r.double($0, $1, min: 0, max: 0.99) }) { c.loss = $0 }
        if let ln = f["links"], let items = r.list(ln, f.path("links"), what: "links such as {from: db1, to: db2, latency: 50ms}") {
            for (i, item) in items.enumerated() {
                let p = Reader.join(f.path("links"), i)
                guard let lf = r.mapping(item, p, allowed: ["from", "to", "latency", "loss", "both_ways"], required: ["from", "to"]) else { continue }
                var o = LinkOverride(from: "", to: "")
                for k in ["from", "to"] {
                    if let hn = lf[k], let h = r.string(hn, lf.path(k)) {
                        if topo.host(h) == nil { r.error(hn, lf.path(k), unknownHost(h, topo)) }
                        if k == "from" { o.from = h } else { o.to = h }
                    }
                }
                r.field(lf, "latency", { readLatency($0, $1, r) }) { o.latency = $0 }
                r.field(lf, "loss", { r.double($0, $1, min: 0, max: 0.99) }) { o.loss = $0 }
                r.field(lf, "both_ways", r.bool) { o.bothWays = $0 }
                if o.latency == nil && o.loss == nil { r.error(item, p, "a link override needs latency or loss") }
                c.links.append(o)
            }
        }
        return c
    }

    static func unknownHost(_ h: String, _ topo: Topology) -> String {
        var msg = "unknown host '\(h)'"
        if let sug = Suggest.closest(h, in: topo.hosts.map(\.name)) { msg += "; did you mean '\(sug)'?" } else {
            msg += "; hosts are \(topo.hosts.map(\.name).joined(separator: ", "))"
        }
        return msg
    }
}
