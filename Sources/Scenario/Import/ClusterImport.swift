import SimCore
import Settings

/// The real files a cluster runs with, as `simctl import` or a scenario's `cluster:` section
/// names them.
public struct ImportInput: Sendable {
    public var patroni: [ConfigFile] = []
    public var haproxy: [ConfigFile] = []
    public var etcd: [ConfigFile] = []
    public var keepalived: [ConfigFile] = []
    public var pgbouncer: ConfigFile?
    public var lb: ConfigFile?
    /// With a single `patroni.yml` used as a template: how many DB nodes run it.
    public var nodes: Int?
    /// The etcd version when no file says it (`3.4`, `3.5`, `3.6`).
    public var etcdVersion: String?
    public init() {}
}

/// Turns real configuration files into the scenario language's sections. Topology follows
/// from addresses: an etcd member whose name or peer address is a Patroni node's is on that
/// node (seed 002); others get hosts of their own (seed 004).
public enum ClusterImport {
    static let writeEndpoints = ["/", "/primary", "/master", "/leader", "/read-write"]
    static let readEndpoints = ["/replica", "/read-only", "/async", "/asynchronous", "/sync", "/synchronous", "/read-only-sync", "/health"]

    public static func run(_ input: ImportInput) -> ImportedCluster {
        var out = ImportedCluster()
        var b = TreeBuilder()
        var readers: [FileReader] = []
        func reader(_ f: ConfigFile) -> FileReader { let r = FileReader(file: f.path); readers.append(r); out.sources.append(f.path); return r }

        // Patroni: one file per node, or one template.
        var members: [(name: String, file: PatroniFile, r: FileReader)] = []
        for f in input.patroni {
            let r = reader(f)
            if let p = PatroniFile.parse(f, r) { members.append((p.name ?? "", p, r)) }
        }
        guard !members.isEmpty else {
            if input.patroni.isEmpty {
                out.diagnostics.append(Diagnostic(.error, file: "", line: 0, column: 0, path: "patroni", message: "no patroni.yml given; import needs at least one (--patroni FILE)"))
            }
            return finish(&out, b, readers)
        }
        let haproxyFiles = input.haproxy.map { f in (f, HAProxyFile.parse(f, reader(f))) }
        let first = members[0]
        // A single file for several nodes: names from the HAProxy servers, else numbered.
        if members.count == 1 {
            let serverNames = haproxyFiles.first.flatMap { writeBackend($0.1)?.servers.map(\.name.text) } ?? []
            let count = input.nodes ?? (serverNames.count > 1 ? serverNames.count : 1)
            if count > 1 {
                let names = serverNames.count == count ? serverNames : numbered(first.name, count)
                first.r.note(first.file.nameLine, "name", "one patroni.yml used for \(count) nodes: \(names.joined(separator: ", "))")
                members = names.map { n in
                    var p = first.file
                    p.name = n
                    if serverNames.count == count, let s = writeBackend(haproxyFiles[0].1)?.servers.first(where: { $0.name.text == n }) {
                        p.address = Address.host(s.address)
                    }
                    return (n, p, first.r)
                }
            }
        }
        for i in members.indices where members[i].name.isEmpty {
            if members.count == 1 {
                members[i].name = "db1"
                members[i].r.warning(1, 1, "name", "no 'name': Patroni needs a member name (PATRONI_NAME); this node is called db1")
            } else {
                members[i].r.error(1, 1, "name", "no 'name': Patroni needs a member name for every node (PATRONI_NAME)")
            }
        }
        var seen: [String] = []
        for m in members {
            if seen.contains(m.name) && input.patroni.count > 1 {
                m.r.error(m.file.nameLine, 1, "name", "member name '\(m.name)' is used by another patroni.yml; every node needs its own")
            }
            seen.append(m.name)
            if m.name.contains("/") || Role(rawValue: m.name) != nil {
                m.r.error(m.file.nameLine, 1, "name", "'\(m.name)' cannot be a member name here (it has a '/' or is a role name such as primary)")
            }
        }
        readScopeAndDynamic(members.map { ($0.name, $0.file, $0.r) }, &b, &out)

        // etcd: members from initial-cluster, placed on DB hosts by name or address.
        let etcdFiles = input.etcd.map { f in (f, EtcdFile.parse(f, reader(f))) }
        var etcdMembers: [(name: String, address: String, host: String)] = []
        if let (_, e0) = etcdFiles.first {
            let r0 = readers.first { $0.file == etcdFiles[0].0.path }!
            if e0.initialCluster.isEmpty {
                if let n = e0.name {
                    etcdMembers = [(n.text, e0.peerHost ?? n.text, "")]
                } else {
                    r0.error(1, 1, "initial-cluster", "neither initial-cluster nor name: which members form the etcd cluster?")
                }
            } else {
                etcdMembers = e0.initialCluster.map { ($0.name, $0.host, "") }
            }
            for (f, e) in etcdFiles {
                let r = readers.first { $0.file == f.path }!
                if !e.initialCluster.isEmpty && e.initialCluster.map(\.name) != e0.initialCluster.map(\.name) {
                    let v = e.values["initial-cluster"]!
                    r.error(v.line, v.column, v.key, "initial-cluster differs from \(etcdFiles[0].0.path)'s; every member must list the same cluster")
                }
                if let n = e.name, !etcdMembers.contains(where: { $0.name == n.text }) {
                    r.error(n.line, n.column, n.key, "member '\(n.text)' is not in initial-cluster (\(etcdMembers.map(\.name).joined(separator: ", ")))")
                }
            }
            readEtcdSettings(etcdFiles, readers, &b, input.etcdVersion)
        } else {
            // No etcd file: the members Patroni points at.
            let hosts = first.file.etcdHosts.map(\.host)
            let oneMachine = members.count > 1 && Set(members.map { $0.file.address ?? "" }).count == 1
            if hosts.allSatisfy(Address.isLoopback) && oneMachine {
                etcdMembers = [("etcd1", "etcd1", "etcd1")]
                first.r.note(first.file.etcdHosts.first?.line ?? 1, "etcd.host", "every node runs on one machine (\(first.file.address ?? "")) with one local etcd: simctl gives each node a host of its own and the etcd member a host of its own")
            } else if hosts.allSatisfy(Address.isLoopback) {
                etcdMembers = members.map { ($0.name, $0.file.address ?? $0.name, $0.name) }
                first.r.note(first.file.etcdHosts.first?.line ?? 1, "etcd3.host", "no etcd configuration given: etcd runs on every DB node (Patroni points at the local member), with etcd's defaults")
            } else {
                for (i, h) in hosts.enumerated() where !etcdMembers.contains(where: { $0.address == h }) {
                    etcdMembers.append(("etcd\(i + 1)", h, ""))
                }
                first.r.note(first.file.etcdHosts.first?.line ?? 1, "etcd3.hosts", "no etcd configuration given: the members Patroni lists, with etcd's defaults")
            }
            if let v = input.etcdVersion { b.set(["etcd", "version"], YNode(.scalar(v, quoted: false))) }
        }
        for i in etcdMembers.indices where etcdMembers[i].host.isEmpty {
            let e = etcdMembers[i]
            if let m = members.first(where: { $0.name == e.name || ($0.file.address != nil && $0.file.address == e.address) }) {
                etcdMembers[i].host = m.name
            } else {
                etcdMembers[i].host = e.name
            }
        }
        readEtcdEndpoints(members.map { ($0.name, $0.file, $0.r) }, etcdMembers, &b)

        // Topology.
        var hosts: [(name: String, services: [String])] = []
        for m in members {
            var sv = ["patroni"]
            if etcdMembers.contains(where: { $0.host == m.name }) { sv.insert("etcd", at: 0) }
            hosts.append((m.name, sv))
        }
        for e in etcdMembers where !hosts.contains(where: { $0.name == e.host }) { hosts.append((e.host, ["etcd"])) }

        // The front: HAProxy hosts (with keepalived, PgBouncer), or a cloud load balancer.
        let keepalivedFiles = input.keepalived.map { f in (f, KeepalivedFile.parse(f, reader(f))) }
        var frontHosts: [String] = []
        if !haproxyFiles.isEmpty {
            readHAProxy(haproxyFiles, readers, members.map { ($0.name, $0.file) }, &b)
            let count = max(haproxyFiles.count, keepalivedFiles.count)
            if keepalivedFiles.count > haproxyFiles.count, let r = readers.first(where: { $0.file == haproxyFiles[0].0.path }) {
                r.note(1, "haproxy.cfg", "\(keepalivedFiles.count) keepalived nodes, \(haproxyFiles.count) haproxy.cfg: every HAProxy node runs this configuration")
            }
            frontHosts = (1...count).map { "haproxy\($0)" }
        } else if let lb = input.lb {
            CloudLBFile.parse(lb, reader(lb), into: &b)
            frontHosts = ["lb1"]
        }
        if !keepalivedFiles.isEmpty {
            if haproxyFiles.isEmpty {
                out.diagnostics.append(Diagnostic(.error, file: keepalivedFiles[0].0.path, line: 1, column: 1, path: "", message: "keepalived fronts HAProxy here; give the haproxy.cfg too (--haproxy)"))
            }
            readKeepalived(keepalivedFiles, readers, &b)
        }
        if let pgb = input.pgbouncer { readPgBouncer(pgb, reader(pgb), &b) }
        for h in frontHosts {
            var sv = [h.hasPrefix("lb") ? "lb" : "haproxy"]
            if !keepalivedFiles.isEmpty && !h.hasPrefix("lb") { sv.append("keepalived") }
            if input.pgbouncer != nil { sv.append("pgbouncer") }
            hosts.append((h, sv))
        }
        hosts.append(("app1", ["clients"]))
        let list = hosts.map { h in
            YNode(.mapping([YNode.Entry(key: "name", keyLine: 0, keyColumn: 0, value: YNode(.scalar(h.name, quoted: false))),
                            YNode.Entry(key: "services", keyLine: 0, keyColumn: 0,
                                        value: YNode(.sequence(h.services.map { YNode(.scalar($0, quoted: false)) })))]))
        }
        b.set(["topology", "hosts"], YNode(.sequence(list)))
        // The node that bootstraps the cluster (the first file) starts as its primary.
        b.set(["topology", "initial_primary"], YNode(.scalar(members[0].name, quoted: false)))
        checkUserSyncNames(b, members.map(\.name), readers)
        out.scope = out.scope.isEmpty ? (first.file.scope?.scalar ?? "") : out.scope
        return finish(&out, b, readers)
    }

    /// Reads the imported sections as a scenario would, so that a value out of range is
    /// reported in the real file's terms (`node1.yml:17:10: bootstrap.dcs.ttl: ...`).
    public static func validate(_ c: ImportedCluster) -> [Diagnostic] {
        let stub = YNode(.mapping([
            YNode.Entry(key: "name", keyLine: 0, keyColumn: 0, value: YNode(.scalar("imported", quoted: false))),
            YNode.Entry(key: "duration", keyLine: 0, keyColumn: 0, value: YNode(.scalar("10m", quoted: false))),
        ]))
        switch ScenarioLoader.build(ScenarioLoader.merge(stub, c.tree), file: "imported", files: .none) {
        case .success: return []
        case .failure(let e): return e.diagnostics
        }
    }

    static func finish(_ out: inout ImportedCluster, _ b: TreeBuilder, _ readers: [FileReader]) -> ImportedCluster {
        out.tree = b.root
        var notes: [ImportNote] = []
        for r in readers {
            out.diagnostics += r.diagnostics
            notes += r.notes
        }
        out.notes = ImportNote.collapse(notes)
        return out
    }

    static func numbered(_ name: String, _ count: Int) -> [String] {
        let digitsOff = String(name.reversed().drop(while: \.isNumber).reversed())
        let stem = digitsOff.isEmpty ? "db" : digitsOff
        return (1...count).map { "\(stem)\($0)" }
    }

    // MARK: - Patroni

    static func readScopeAndDynamic(_ members: [(String, PatroniFile, FileReader)], _ b: inout TreeBuilder, _ out: inout ImportedCluster) {
        let (_, p0, r0) = members[0]
        if let s = p0.scope { b.set(["patroni", "scope"], s); out.scope = s.scalar ?? "" } else {
            r0.error(1, 1, "scope", "no 'scope': Patroni needs the cluster's name (PATRONI_SCOPE)")
        }
        if let n = p0.namespace { b.set(["patroni", "namespace"], n) }
        for (_, p, r) in members.dropFirst() where p.file != p0.file {
            if p.scope?.scalar != p0.scope?.scalar {
                r.error(p.scope?.line ?? 1, p.scope?.column ?? 1, "scope", "scope '\(p.scope?.scalar ?? "")' differs from \(p0.file)'s '\(p0.scope?.scalar ?? "")': these nodes belong to different clusters")
            }
            if (p.namespace?.scalar ?? "/service/") != (p0.namespace?.scalar ?? "/service/") {
                r.error(p.namespace?.line ?? 1, p.namespace?.column ?? 1, "namespace", "namespace differs from \(p0.file)'s: these nodes would not see each other's keys")
            }
        }
        // Dynamic settings: the first node's bootstrap.dcs initialises the DCS; the others'
        // are never read (Patroni: "bootstrap.dcs ... will be written into /<namespace>/<scope>/config
        // ... once the cluster is initialised").
        for s in p0.dynamic { b.set(s.path, s.node) }
        for (_, p, r) in members.dropFirst() where p.file != p0.file {
            let differs = p.dynamic.filter { s in p0.dynamic.first(where: { $0.path == s.path })?.node.scalar != s.node.scalar }
            if let d = differs.first {
                r.note(d.node.line, d.node.origin?.key ?? "bootstrap.dcs", "differs from \(p0.file), but only the node that initialises the cluster writes bootstrap.dcs (\(p0.file) here)")
            }
        }
        // Local settings override the dynamic ones (`_build_effective_configuration`); simctl's
        // PostgreSQL settings are cluster-wide, so the initial primary's count.
        for s in p0.local { b.set(s.path, s.node) }
        for (_, p, r) in members.dropFirst() where p.file != p0.file {
            for s in p.local where p0.local.first(where: { $0.path == s.path })?.node.scalar != s.node.scalar {
                r.warning(s.node.line, s.node.column, s.node.origin?.key ?? "", "differs from \(p0.file); simctl runs every node with \(p0.file)'s value")
            }
        }
        // Watchdog: a per-node setting, cluster-wide in simctl.
        for s in p0.watchdog { b.set(s.path, s.node) }
        for (_, p, r) in members.dropFirst() where p.file != p0.file {
            for s in p.watchdog where p0.watchdog.first(where: { $0.path == s.path })?.node.scalar != s.node.scalar {
                r.warning(s.node.line, s.node.column, s.node.origin?.key ?? "watchdog", "differs from \(p0.file); simctl runs every node with \(p0.file)'s watchdog")
            }
        }
        for (name, p, _) in members {
            for t in p.tags { b.set(["patroni", "tags", name] + t.path, t.node) }
        }
    }

    /// `etcd3.host(s)` → the etcd members Patroni's client is configured with.
    static func readEtcdEndpoints(_ members: [(String, PatroniFile, FileReader)], _ etcd: [(name: String, address: String, host: String)], _ b: inout TreeBuilder) {
        for (name, p, r) in members {
            var chosen: [String] = []
            for h in p.etcdHosts {
                let match: String?
                if Address.isLoopback(h.host) {
                    // The local member; with every node on one machine, its one etcd.
                    match = etcd.first { $0.host == name }?.host ?? (etcd.count == 1 && etcd[0].host == "etcd1" ? "etcd1" : nil)
                    if match == nil { r.error(h.line, h.column, "etcd3.host", "points at \(h.host), but no etcd member runs on \(name)") }
                } else {
                    match = etcd.first { $0.address == h.host || $0.name == h.host || $0.host == h.host }?.host
                        ?? members.first { $0.1.address == h.host }.flatMap { m in etcd.first { $0.host == m.0 }?.host }
                    if match == nil {
                        r.warning(h.line, h.column, "etcd3.hosts", "'\(h.host)' is not an etcd member of initial-cluster (\(etcd.map(\.address).joined(separator: ", "))); ignored")
                    }
                }
                if let m = match, !chosen.contains(m) { chosen.append(m) }
            }
            let all = etcd.map(\.host)
            if !chosen.isEmpty && Set(chosen) != Set(all) {
                b.set(["patroni", "etcd_hosts", name], YNode(.sequence(chosen.map { r.value($0, line: p.etcdHosts[0].line, column: p.etcdHosts[0].column, key: "etcd3.hosts") })))
            }
        }
    }

    /// `synchronous_standby_names` set by hand with `synchronous_mode` off: Patroni passes it to
    /// PostgreSQL as it is (`disable_synchronous_replication` falls back to the user's value).
    /// Standbys connect with their member name as application_name; a list that names none of
    /// them makes every commit wait (syncrep.c) until the client cancels it.
    static func checkUserSyncNames(_ b: TreeBuilder, _ members: [String], _ readers: [FileReader]) {
        guard let n = b.get(["postgresql", "synchronous_standby_names"]), let text = n.scalar, !text.isEmpty,
              let o = n.origin, let r = readers.first(where: { $0.file == o.file }) else { return }
        let mode = b.get(["patroni", "synchronous_mode"])?.scalar?.lowercased() ?? "false"
        guard ["false", "off", "no"].contains(mode) else { return }
        let commit = b.get(["postgresql", "synchronous_commit"])?.scalar?.lowercased() ?? "on"
        guard !["off", "local", "false", "no", "0"].contains(commit) else { return }
        guard let parsed = SyncStandbyNames.parse(text) else {
            r.error(n.line, n.column, o.key, "'\(text)' is not a synchronous_standby_names list PostgreSQL accepts")
            return
        }
        if !parsed.isEmpty && !parsed.names.contains(where: { $0 == "*" || members.contains($0) }) {
            r.warning(n.line, n.column, o.key, "'\(text)' names no member (standbys connect as \(members.joined(separator: ", "))): with synchronous_commit \(commit) every commit waits for a standby that never comes, until the client cancels it. For synchronous replication managed by Patroni, set synchronous_mode: true in bootstrap.dcs")
        }
    }

    // MARK: - etcd

    static func readEtcdSettings(_ files: [(ConfigFile, EtcdFile)], _ readers: [FileReader], _ b: inout TreeBuilder, _ version: String?) {
        let (f0, e0) = files[0]
        let r0 = readers.first { $0.file == f0.path }!
        for (k, scenarioKey) in EtcdFile.modelled.sorted(by: { $0.key < $1.key }) {
            guard let v = e0.values[k] else { continue }
            if b.has(["etcd", scenarioKey]) { continue }
            b.set(["etcd", scenarioKey], r0.value(v.text, line: v.line, column: v.column, key: v.key))
        }
        if let v = version ?? e0.version { b.set(["etcd", "version"], YNode(.scalar(v, quoted: false))) }
        for (f, e) in files.dropFirst() {
            let r = readers.first { $0.file == f.path }!
            for k in EtcdFile.modelled.keys.sorted() where e.values[k]?.text != e0.values[k]?.text {
                let v = e.values[k]
                r.warning(v?.line ?? 1, v?.column ?? 1, v?.key ?? k, "differs from \(f0.path); simctl runs every member with \(f0.path)'s value")
            }
        }
        if files.count < max(1, e0.initialCluster.count) {
            r0.note(1, "initial-cluster", "\(e0.initialCluster.count) members, \(files.count) configuration file(s): the others run with this file's settings")
        }
    }

    // MARK: - HAProxy

    /// The Patroni node an HAProxy `server` line points at: by `postgresql.connect_address`
    /// (host and port: Patroni's sample runs every node on 127.0.0.1), else by name.
    static func member(of s: HAProxyFile.Server, _ members: [(String, PatroniFile)]) -> (String, PatroniFile)? {
        let host = Address.host(s.address), port = Address.port(s.address)
        return members.first { m in m.1.address == host && (m.1.pgPort == nil || port == nil || m.1.pgPort == port) }
            ?? members.first { $0.0 == s.name.text }
    }

    static func writeBackend(_ f: HAProxyFile) -> HAProxyFile.Proxy? {
        effective(f).first { p in p.checkPath.map { writeEndpoints.contains(base($0.text)) } ?? false }
    }

    static func base(_ path: String) -> String { String(path.split(separator: "?", maxSplits: 1).first ?? "") }

    /// Backends and listens with what they inherit from the `defaults` section before them.
    static func effective(_ f: HAProxyFile) -> [HAProxyFile.Proxy] {
        var defaults: HAProxyFile.Proxy? = nil
        var out: [HAProxyFile.Proxy] = []
        for p in f.proxies {
            if p.kind == "defaults" { defaults = p; continue }
            guard p.kind == "backend" || p.kind == "listen" else { continue }
            var e = p
            if let d = defaults {
                if e.checkPath == nil { e.checkPath = d.checkPath; e.checkMethod = d.checkMethod }
                if e.expectStatus == nil { e.expectStatus = d.expectStatus }
                e.defaultServer = d.defaultServer.merging(e.defaultServer) { $1 }
                e.timeouts = d.timeouts.merging(e.timeouts) { $1 }
                e.retries = e.retries ?? d.retries
                e.redispatch = e.redispatch ?? d.redispatch
                e.balance = e.balance ?? d.balance
                e.mode = e.mode ?? d.mode
            }
            for i in e.servers.indices { e.servers[i].options = e.defaultServer.merging(e.servers[i].options) { $1 } }
            out.append(e)
        }
        return out
    }

    static func readHAProxy(_ files: [(ConfigFile, HAProxyFile)], _ readers: [FileReader], _ members: [(String, PatroniFile)], _ b: inout TreeBuilder) {
        let (f0, h0) = files[0]
        let r = readers.first { $0.file == f0.path }!
        let proxies = effective(h0)
        var write: HAProxyFile.Proxy? = nil, read: HAProxyFile.Proxy? = nil
        for p in proxies {
            let isDB = p.servers.contains { member(of: $0, members) != nil }
            guard let path = p.checkPath else {
                if isDB {
                    r.error(p.name.line, p.name.column, "\(p.kind) \(p.name.text)", "no 'option httpchk': HAProxy would only check that PostgreSQL's port accepts connections and send writes to replicas too; check Patroni's REST API (option httpchk GET /primary)")
                } else {
                    r.note(p.name.line, "\(p.kind) \(p.name.text)", "no server of this backend is a Patroni node")
                }
                continue
            }
            let endpoint = base(path.text)
            if writeEndpoints.contains(endpoint) {
                if write == nil { write = p } else {
                    r.note(p.name.line, "\(p.kind) \(p.name.text)", "a second write backend; simctl routes writes through \(write!.name.text)")
                }
            } else if readEndpoints.contains(endpoint) {
                if read == nil { read = p } else {
                    r.note(p.name.line, "\(p.kind) \(p.name.text)", "a second read backend; simctl routes reads through \(read!.name.text)")
                }
            } else {
                r.error(path.line, path.column, "\(p.kind) \(p.name.text): option httpchk", "'\(path.text)' is not a Patroni REST endpoint (expected /primary, /master, /leader, /replica, /read-only, /async, /sync, /health, ...)")
            }
        }
        guard let w = write else {
            r.error(1, 1, "backend", "no backend checks a write endpoint (option httpchk GET /primary or /master): nothing routes writes to the primary")
            return
        }
        b.set(["haproxy", "write_check"], r.value(w.checkPath!.text, line: w.checkPath!.line, column: w.checkPath!.column, key: "\(w.kind) \(w.name.text): option httpchk"))
        if let rd = read {
            b.set(["haproxy", "read_check"], r.value(rd.checkPath!.text, line: rd.checkPath!.line, column: rd.checkPath!.column, key: "\(rd.kind) \(rd.name.text): option httpchk"))
            b.set(["haproxy", "read_frontend"], YNode(.scalar("true", quoted: false)))
        } else {
            b.set(["haproxy", "read_frontend"], YNode(.scalar("false", quoted: false)))
        }
        for p in [w] + (read.map { [$0] } ?? []) {
            let where_ = "\(p.kind) \(p.name.text)"
            if let m = p.checkMethod, !["GET", "OPTIONS", "HEAD"].contains(m.uppercased()) {
                r.error(p.checkPath!.line, p.checkPath!.column, where_, "'\(m)' checks: Patroni answers health checks to GET, HEAD and OPTIONS")
            }
            if let e = p.expectStatus, e.text != "200" {
                r.warning(e.line, e.column, where_ + ": http-check expect status", "Patroni answers 200 when the check passes and 503 when it does not; 'expect status \(e.text)' is read as 200")
            }
            if let m = p.mode, m.text == "http" {
                r.error(m.line, m.column, where_ + ": mode", "PostgreSQL's protocol needs 'mode tcp'")
            }
            for t in p.timeouts.keys.sorted() where !["connect", "check"].contains(t) {
                let v = p.timeouts[t]!
                r.note(v.line, where_ + ": timeout \(t)", "idle-connection timeouts; simctl's clients time out by query_timeout")
            }
            for s in p.servers {
                let sw = "\(where_): server \(s.name.text)"
                let m = member(of: s, members)
                if m == nil {
                    r.warning(s.name.line, s.name.column, sw, "'\(s.address)' is not a Patroni node's connect_address; simctl routes to the Patroni nodes")
                }
                if !s.flags.contains("check") && s.options["check"] == nil {
                    r.error(s.name.line, s.name.column, sw, "no 'check': HAProxy would send connections to this server whatever its role")
                }
                let restPort = m?.1.restPort ?? 8008
                if s.options["port"] == nil && s.options["addr"] == nil, let sp = Address.port(s.address), sp != restPort {
                    r.error(s.name.line, s.name.column, sw, "checks go to port \(sp) (no 'port'): PostgreSQL does not answer HTTP, so the check never passes; Patroni's REST API listens on \(restPort) ('check port \(restPort)')")
                } else if let po = s.options["port"]?.value, let pn = Int(po.text), m != nil, pn != restPort {
                    r.error(po.line, po.column, sw, "'check port \(pn)': \(m!.0)'s Patroni REST API listens on \(restPort) (restapi.connect_address); the check would never pass")
                }
                for k in ["backup", "disabled"] where s.flags.contains(k) {
                    r.warning(s.name.line, s.name.column, sw, "'\(k)' servers are not modelled; simctl treats it as a normal server")
                }
                for k in ["maxconn", "weight", "slowstart", "observe", "on-error", "error-limit", "maxqueue", "on-marked-up"] where s.options[k] != nil {
                    let o = s.options[k]!
                    r.note(o.name.line, where_ + ": server " + k, k == "maxconn" ? "connections beyond it queue in HAProxy; simctl's clients stay below it"
                           : k == "on-marked-up" ? "no backup servers to shut down sessions on" : "not modelled")
                }
            }
        }
        // Check timing: the write backend's first server decides RTO; differences are warned about.
        guard let s0 = w.servers.first else {
            r.error(w.name.line, w.name.column, "\(w.kind) \(w.name.text)", "no servers")
            return
        }
        let where0 = "\(w.kind) \(w.name.text): server \(s0.name.text)"
        for (opt, key) in [("inter", "inter"), ("fastinter", "fastinter"), ("downinter", "downinter"), ("fall", "fall"), ("rise", "rise")] {
            guard let o = s0.options[opt], let v = o.value else { continue }
            // Already checked where the option was read; here only converted.
            let text = opt.hasSuffix("inter") ? ((try? DurationText.parse(v.text, bareUnit: Time.ms)).map(DurationText.format) ?? v.text) : v.text
            b.set(["haproxy", key], r.value(text, line: v.line, column: v.column, key: "\(where0): \(opt)"))
        }
        if let o = s0.options["on-marked-down"], let v = o.value {
            if v.text == "shutdown-sessions" {
                b.set(["haproxy", "on_marked_down"], r.value(v.text, line: v.line, column: v.column, key: "\(where0): on-marked-down"))
            } else {
                r.error(v.line, v.column, where0, "'on-marked-down \(v.text)': expected shutdown-sessions")
            }
        }
        for p in [w] + (read.map { [$0] } ?? []) {
            for s in p.servers where s.name.text != s0.name.text || p.name.text != w.name.text {
                for opt in ["inter", "fastinter", "downinter", "fall", "rise", "on-marked-down"] where s.options[opt]?.value?.text != s0.options[opt]?.value?.text {
                    let o = s.options[opt]
                    r.warning(o?.name.line ?? s.name.line, o?.name.column ?? s.name.column, "\(p.kind) \(p.name.text): server \(s.name.text)",
                              "'\(opt)' differs from \(s0.name.text) in \(w.name.text); simctl checks every server with \(w.name.text)'s settings")
                }
            }
        }
        for (k, key) in [("connect", "timeout_connect"), ("check", "timeout_check")] {
            if let v = w.timeouts[k], let ns = try? DurationText.parse(v.text, bareUnit: Time.ms) {
                b.set(["haproxy", key], r.value(DurationText.format(ns), line: v.line, column: v.column, key: "\(w.kind) \(w.name.text): timeout \(k)"))
            }
        }
        if let v = w.retries { b.set(["haproxy", "retries"], r.value(v.text, line: v.line, column: v.column, key: "\(w.kind) \(w.name.text): retries")) }
        if let v = w.redispatch { b.set(["haproxy", "redispatch"], r.value("true", line: v.line, column: v.column, key: "\(w.kind) \(w.name.text): option redispatch")) }
        if let v = (read ?? w).balance {
            let p = read ?? w
            if ["roundrobin", "leastconn", "first"].contains(v.text) {
                b.set(["haproxy", "balance"], r.value(v.text, line: v.line, column: v.column, key: "\(p.kind) \(p.name.text): balance"))
            } else {
                r.note(v.line, "\(p.kind) \(p.name.text): balance \(v.text)", "modelled as roundrobin")
            }
        }
        if let v = h0.spreadChecks {
            b.set(["haproxy", "spread_checks"], r.value(v.text, line: v.line, column: v.column, key: "global: spread-checks"))
        }
        // Several HAProxy hosts run one configuration in simctl.
        for (f, h) in files.dropFirst() {
            let rr = readers.first { $0.file == f.path }!
            let a = writeBackend(h)?.servers.first?.options.mapValues { $0.value?.text ?? "" }
            let z = s0.options.mapValues { $0.value?.text ?? "" }
            if a != z {
                rr.warning(1, 1, "", "check settings differ from \(f0.path); simctl runs every HAProxy node with \(f0.path)'s")
            }
        }
    }

    // MARK: - keepalived, PgBouncer

    static func readKeepalived(_ files: [(ConfigFile, KeepalivedFile)], _ readers: [FileReader], _ b: inout TreeBuilder) {
        var priorities: [YNode] = []
        for (i, (f, k)) in files.enumerated() {
            let r = readers.first { $0.file == f.path }!
            let instances = k.blocks.filter { $0.keyword == "vrrp_instance" }
            guard let inst = instances.first else {
                r.error(1, 1, "vrrp_instance", "no vrrp_instance: keepalived holds no virtual IP")
                continue
            }
            if instances.count > 1 { r.note(instances[1].words[0].line, "vrrp_instance", "a second VRRP instance; simctl models the first (\(inst.arg(1)?.text ?? ""))") }
            var tracked: [String] = []
            for c in inst.children {
                let kw = c.keyword, v = c.arg(1)
                let key = "vrrp_instance \(inst.arg(1)?.text ?? ""): \(kw)"
                func set(_ name: String, _ value: HAProxyFile.Token?) {
                    guard let value else { r.error(c.words[0].line, c.words[0].column, key, "'\(kw)' needs a value"); return }
                    if i == 0 { b.set(["keepalived", name], r.value(value.text, line: value.line, column: value.column, key: key)) }
                }
                switch kw {
                case "priority":
                    if let v { priorities.append(r.value(v.text, line: v.line, column: v.column, key: key)) }
                case "advert_int": set("advert_int", v)
                case "nopreempt": if i == 0 { b.set(["keepalived", "nopreempt"], r.value("true", line: c.words[0].line, column: c.words[0].column, key: key)) }
                case "preempt_delay": set("preempt_delay", v)
                case "version": set("vrrp_version", v)
                case "track_script": tracked = c.children.compactMap { $0.words.first?.text }
                case "state":
                    r.note(c.words[0].line, key, "the starting state; VRRP elects by priority within a few advert_int")
                case "interface", "virtual_router_id", "authentication", "virtual_ipaddress", "unicast_src_ip", "unicast_peer",
                     "notify", "notify_master", "notify_backup", "notify_fault", "garp_master_delay", "dont_track_primary":
                    r.note(c.words[0].line, key, "addressing and notification do not change when the VIP moves")
                default:
                    r.note(c.words[0].line, key, "not modelled")
                }
            }
            for g in k.blocks where g.keyword == "global_defs" {
                for c in g.children where c.keyword == "vrrp_version" {
                    if i == 0, let v = c.arg(1) { b.set(["keepalived", "vrrp_version"], r.value(v.text, line: v.line, column: v.column, key: "global_defs: vrrp_version")) }
                }
            }
            for s in k.blocks where s.keyword == "vrrp_script" && tracked.contains(s.arg(1)?.text ?? "") {
                for c in s.children {
                    let key = "vrrp_script \(s.arg(1)?.text ?? ""): \(c.keyword)"
                    if ["interval", "fall", "rise", "weight"].contains(c.keyword), let v = c.arg(1) {
                        if i == 0 { b.set(["keepalived", "track_script", c.keyword], r.value(v.text, line: v.line, column: v.column, key: key)) }
                    } else if c.keyword == "script" {
                        r.note(c.words[0].line, key, "taken as a check that the local HAProxy process runs")
                    } else {
                        r.note(c.words[0].line, key, "not modelled")
                    }
                }
            }
        }
        if !priorities.isEmpty { b.set(["keepalived", "priorities"], YNode(.sequence(priorities))) }
    }

    static func readPgBouncer(_ f: ConfigFile, _ r: FileReader, _ b: inout TreeBuilder) {
        let p = PgBouncerFile.parse(f, r)
        let modelled = ["pool_mode", "server_login_retry", "server_connect_timeout", "query_wait_timeout", "server_check_delay", "server_lifetime"]
        var other: [String: (line: Int, keys: [String])] = [:]
        for e in p.entries {
            if e.section == "pgbouncer" && modelled.contains(e.key) {
                b.set(["pgbouncer", e.key], r.value(e.value, line: e.line, column: e.column, key: "[pgbouncer] \(e.key)"))
            } else if e.section == "pgbouncer", let s = Suggest.closest(e.key, in: modelled), s != e.key {
                r.error(e.line, 1, "[pgbouncer] \(e.key)", "unknown setting '\(e.key)'; did you mean '\(s)'?")
            } else {
                other[e.section, default: (e.line, [])].keys.append(e.key)
            }
        }
        for (sec, g) in other.sorted(by: { ($0.value.line, $0.key) < ($1.value.line, $1.key) }) {
            r.note(g.line, "[\(sec)] " + g.keys.joined(separator: ", "),
                   sec == "databases" ? "PgBouncer forwards to the HAProxy on its host" : "pool sizes, authentication and logging are not modelled")
        }
    }
}
