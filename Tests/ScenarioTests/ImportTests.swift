import Testing
import SimCore
import Patroni
import Traffic
@testable import Scenario

/// A file of Examples/ (the real-world configurations of the seed documents).
func example(_ path: String) -> ConfigFile {
    let full = "Examples/" + path
    guard let text = FileSource.disk.read(full) else { fatalError("test fixture \(full) is missing") }
    return ConfigFile(path: path, text: text)
}

func seed002() -> ImportInput {
    var i = ImportInput()
    i.patroni = ["seed002/node1.yml", "seed002/node2.yml", "seed002/node3.yml"].map(example)
    i.etcd = ["seed002/etcd-node1.conf", "seed002/etcd-node2.conf", "seed002/etcd-node3.conf"].map(example)
    i.haproxy = [example("seed002/haproxy.cfg")]
    return i
}

/// The imported cluster as a scenario (what `simctl import` writes, loaded back).
func imported(_ input: ImportInput, sourceLocation: SourceLocation = #_sourceLocation) throws -> (ImportedCluster, Scenario) {
    let c = ClusterImport.run(input)
    #expect(c.errors.isEmpty, "\(c.errors.map(\.description))", sourceLocation: sourceLocation)
    #expect(ClusterImport.validate(c).isEmpty, sourceLocation: sourceLocation)
    let text = ScenarioWriter.scenario(c)
    switch ScenarioLoader.load(text: text, file: "imported.yml", files: .none) {
    case .success(let s): return (c, s)
    case .failure(let e):
        Issue.record("the written scenario does not load: \(e)\n\(text)", sourceLocation: sourceLocation)
        throw e
    }
}

/// Every message of an import of files given as text.
func importErrors(patroni: [String] = [], haproxy: String? = nil, etcd: [String] = [], keepalived: [String] = []) -> [String] {
    var i = ImportInput()
    i.patroni = patroni.enumerated().map { ConfigFile(path: "node\($0.offset + 1).yml", text: $0.element) }
    i.haproxy = haproxy.map { [ConfigFile(path: "haproxy.cfg", text: $0)] } ?? []
    i.etcd = etcd.enumerated().map { ConfigFile(path: "etcd\($0.offset + 1).conf", text: $0.element) }
    i.keepalived = keepalived.enumerated().map { ConfigFile(path: "keepalived\($0.offset + 1).conf", text: $0.element) }
    let c = ClusterImport.run(i)
    let errors = c.errors.isEmpty ? ClusterImport.validate(c) : c.errors
    return errors.map(\.description)
}

let minimalPatroni = """
scope: demo
name: node1
restapi: { connect_address: 10.0.0.1:8008 }
etcd3: { hosts: [10.0.0.1:2379] }
postgresql: { connect_address: 10.0.0.1:5432 }
bootstrap:
  dcs: { ttl: 30, loop_wait: 10 }
"""

@Suite("Importing real configuration files")
struct ImportTests {
    @Test("seed 002: three patroni.yml, three ETCD_* files and haproxy.cfg give etcd co-located on the DB nodes and every real value")
    func seed002Values() throws {
        let (c, s) = try imported(seed002())
        #expect(s.topology.dbHosts == ["node1", "node2", "node3"])
        #expect(s.topology.etcdHosts == ["node1", "node2", "node3"])
        #expect(s.topology.hosts.map(\.name) == ["node1", "node2", "node3", "haproxy1", "app1"])
        #expect(s.topology.initialPrimary == "node1")
        #expect(s.patroni.scope == "postgres-ha" && s.patroni.namespace == "/db/")
        #expect(s.patroni.keyPrefix == "/db/postgres-ha/")
        #expect(s.patroni.ttl == 30 && s.patroni.loopWait == 10 && s.patroni.retryTimeout == 10)
        #expect(s.patroni.maximumLagOnFailover == 1_048_576 && s.patroni.usePgRewind)
        // `etcd: {host: 127.0.0.1:2379}`: each node's client starts from its local member.
        #expect(s.patroni.etcdHosts == ["node1": ["node1"], "node2": ["node2"], "node3": ["node3"]])
        #expect(s.haproxy.interNs == 3 * Time.s && s.haproxy.fall == 3 && s.haproxy.rise == 2)
        #expect(s.haproxy.onMarkedDown == .shutdownSessions)
        #expect(s.haproxy.writeCheck == "/master" && s.haproxy.readCheck == "/replica" && s.haproxy.readFrontend)
        #expect(s.haproxy.timeoutConnectNs == 10 * Time.s)
        #expect(c.scope == "postgres-ha")
        // Nothing silently dropped: pg_hba-like settings are listed with why.
        #expect(c.notes.contains { $0.key == "bootstrap.initdb" && $0.alsoIn == ["seed002/node2.yml", "seed002/node3.yml"] })
        #expect(c.notes.contains { $0.key.hasPrefix("bootstrap.dcs.postgresql.parameters") && $0.why.contains("archiv") })
        #expect(c.notes.contains { $0.key.contains("maxconn") })
        #expect(c.notes.contains { $0.key.contains("ETCD_DATA_DIR") })
    }

    @Test("seed 004: one template patroni.yml, a separate etcd cluster from one etcd.conf.yml, a NodeBalancer check")
    func seed004Values() throws {
        var i = ImportInput()
        i.patroni = [example("seed004/patroni.yml")]
        i.etcd = [example("seed004/etcd.conf.yml")]
        i.lb = example("seed004/nodebalancer.yml")
        i.nodes = 3
        let (c, s) = try imported(i)
        #expect(s.topology.dbHosts == ["db1", "db2", "db3"])
        #expect(s.topology.etcdHosts == ["etcd-node-1", "etcd-node-2", "etcd-node-3"])
        #expect(s.topology.front == .lb)
        #expect(s.cloudLB.checkIntervalNs == 5 * Time.s && s.cloudLB.checkTimeoutNs == 2 * Time.s)
        #expect(s.cloudLB.healthyThreshold == 2 && s.cloudLB.unhealthyThreshold == 3 && s.cloudLB.checkPath == "/primary")
        #expect(s.patroni.scope == "shopify-pg-cluster")
        #expect(s.postgresql.synchronousStandbyNames == "1")
        let warnings = c.diagnostics.filter { $0.severity == .warning }.map(\.description)
        // A comma list in `host`, local CMDLINE_OPTIONS, a dynamic key at the top, and a
        // synchronous_standby_names that names no member: each said where it is.
        #expect(warnings.contains { $0.hasPrefix("seed004/patroni.yml:10:9: warning: etcd.host:") && $0.contains("split_host_port") })
        #expect(warnings.contains { $0.contains("postgresql.parameters.max_connections") && $0.contains("discards") })
        #expect(warnings.contains { $0.contains("retry_timeout") && $0.contains("ignores a dynamic setting") })
        #expect(warnings.contains { $0.contains("synchronous_standby_names") && $0.contains("names no member") })
        #expect(c.notes.contains { $0.key == "replication" && $0.why.contains("Patroni ignores it") })
        #expect(c.notes.contains { $0.key == "postgresql.callbacks.on_role_change" })
        #expect(c.notes.contains { $0.key == "postgresql.pg_hba" && $0.why.contains("access control") })
    }

    @Test("seed 001: a keepalived pair over two HAProxy nodes, a required watchdog, etcd3 on each node")
    func seed001Values() throws {
        var i = ImportInput()
        i.patroni = ["seed001/node1.yml", "seed001/node2.yml", "seed001/node3.yml"].map(example)
        i.etcd = ["seed001/etcd1.conf.yaml", "seed001/etcd2.conf.yaml", "seed001/etcd3.conf.yaml"].map(example)
        i.haproxy = [example("seed001/haproxy.cfg")]
        i.keepalived = ["seed001/keepalived1.conf", "seed001/keepalived2.conf"].map(example)
        let (_, s) = try imported(i)
        #expect(s.topology.hosts.filter { $0.runs(.keepalived) }.map(\.name) == ["haproxy1", "haproxy2"])
        #expect(s.keepalived.priorities == [110, 100] && s.keepalived.trackWeight == -11)
        #expect(s.keepalived.trackInterval == 3 * Time.s && s.keepalived.trackFall == 3 && s.keepalived.trackRise == 2)
        #expect(s.patroni.watchdog.mode == .required && s.patroni.watchdog.hasDevice && s.patroni.watchdog.safetyMargin == 5)
        #expect(s.patroni.namespace == "/percona/" && s.patroni.scope == "cluster_1")
        #expect(s.haproxy.timeoutCheckNs == 5 * Time.s && s.haproxy.retries == 2 && s.haproxy.writeCheck == "/primary")
        #expect(s.postgresql.walKeepSizeBytes == 128 << 20 && s.postgresql.maxWalSizeBytes == 10 << 30)
    }

    @Test("Patroni's own samples: two nodes on 127.0.0.1 told apart by port, one local etcd, `option httpchk` is OPTIONS /")
    func patroniSample() throws {
        var i = ImportInput()
        i.patroni = ["patroni-sample/postgres0.yml", "patroni-sample/postgres1.yml"].map(example)
        i.haproxy = [example("patroni-sample/haproxy.cfg")]
        let (c, s) = try imported(i)
        #expect(s.topology.dbHosts == ["postgresql0", "postgresql1"])
        #expect(s.topology.etcdHosts == ["etcd1"])
        #expect(s.haproxy.writeCheck == "/" && !s.haproxy.readFrontend)
        #expect(s.patroni.scope == "batman" && s.patroni.keyPrefix == "/service/batman/")
        // `check port 8009` is postgresql1's REST port: no complaint.
        #expect(c.diagnostics.filter { $0.severity == .error }.isEmpty)
        #expect(c.notes.contains { $0.key == "listen stats" })
    }

    @Test("a mistyped value is reported in the real file's terms, with its line and column")
    func errorsInRealTerms() {
        let cfg = example("seed002/haproxy.cfg").text
        let bad = cfg.replacingText("default-server inter 3s fall 3", with: "default-server inter 3x fall 3")
        let e = importErrors(patroni: [minimalPatroni], haproxy: bad)
        #expect(e.contains("haproxy.cfg:23:26: backend pg_primary: 'inter 3x': expected a time such as 3s (a bare number is milliseconds)"))
        #expect(importErrors(patroni: [minimalPatroni.replacingText("loop_wait", with: "loop_wiat")])
            == ["node1.yml:7:19: bootstrap.dcs.loop_wiat: unknown key 'loop_wiat'; did you mean 'loop_wait'?"])
        #expect(importErrors(patroni: [minimalPatroni.replacingText("ttl: 30", with: "ttl: thirty")])
            == ["node1.yml:7:15: bootstrap.dcs.ttl: expected a duration such as 30 (seconds) or 30s, got \"thirty\""])
        #expect(importErrors(patroni: [minimalPatroni.replacingText("scope: demo\n", with: "")]).contains { $0.contains("no 'scope'") })
        #expect(importErrors(patroni: [minimalPatroni.replacingText("etcd3: { hosts: [10.0.0.1:2379] }\n", with: "")]).contains { $0.contains("Can not find suitable configuration of distributed configuration store") })
        #expect(importErrors(patroni: [minimalPatroni + "\nconsul: { host: x }\n"]).contains { $0.contains("a consul DCS is not modelled") })
        #expect(importErrors(patroni: ["scope: [unclosed"]).first?.contains("node1.yml:2:1: YAML syntax error") == true)
    }

    @Test("HAProxy mistakes that would break routing are refused: no check, checks on PostgreSQL's port, no httpchk, a wrong REST port")
    func haproxyRouting() {
        let head = "defaults\n  mode tcp\nbackend rw\n  option httpchk GET /primary\n"
        #expect(importErrors(patroni: [minimalPatroni], haproxy: head + "  server node1 10.0.0.1:5432 port 8008\n")
            .contains { $0.contains("no 'check'") })
        #expect(importErrors(patroni: [minimalPatroni], haproxy: head + "  server node1 10.0.0.1:5432 check\n")
            .contains { $0.contains("checks go to port 5432") })
        #expect(importErrors(patroni: [minimalPatroni], haproxy: head + "  server node1 10.0.0.1:5432 check port 8009\n")
            .contains { $0.contains("'check port 8009'") })
        #expect(importErrors(patroni: [minimalPatroni], haproxy: "backend rw\n  server node1 10.0.0.1:5432 check port 8008\n")
            .contains { $0.contains("no 'option httpchk'") })
        #expect(importErrors(patroni: [minimalPatroni], haproxy: "backend rw\n  option httpchk GET /prim\n  server node1 10.0.0.1:5432 check port 8008\n")
            .contains { $0.contains("'/prim' is not a Patroni REST endpoint") })
        #expect(importErrors(patroni: [minimalPatroni], haproxy: "  server x 1:1\n").contains { $0.contains("outside a section") })
    }

    @Test("the newer http-check send syntax, HAProxy time units, and inherited defaults")
    func haproxyGrammar() throws {
        let cfg = """
        defaults
            timeout connect 2500   # a bare number is milliseconds
            default-server inter 1500ms fastinter 500 downinter 5s fall 2 rise 1
        backend pg_rw
            option httpchk
            http-check send meth GET uri /leader ver HTTP/1.1
            http-check expect status 200
            server "node1" 10.0.0.1:5432 check port 8008
        """
        var i = ImportInput()
        i.patroni = [ConfigFile(path: "node1.yml", text: minimalPatroni)]
        i.haproxy = [ConfigFile(path: "haproxy.cfg", text: cfg)]
        let (_, s) = try imported(i)
        #expect(s.haproxy.writeCheck == "/leader")
        #expect(s.haproxy.interNs == 1500 * Time.ms && s.haproxy.fastinter == 500 * Time.ms && s.haproxy.downinter == 5 * Time.s)
        #expect(s.haproxy.fall == 2 && s.haproxy.rise == 1 && s.haproxy.timeoutConnectNs == 2500 * Time.ms)
    }

    @Test("etcd's three forms read alike: YAML, ETCD_* environment and command-line flags")
    func etcdForms() throws {
        let yaml = "name: node1\nheartbeat-interval: 200\nelection-timeout: 2000\npre-vote: false\ninitial-cluster: node1=http://10.0.0.1:2380\n"
        let env = "ETCD_NAME=\"node1\"\nETCD_HEARTBEAT_INTERVAL=\"200\"\nETCD_ELECTION_TIMEOUT=2000\nETCD_PRE_VOTE=false\nETCD_INITIAL_CLUSTER=node1=http://10.0.0.1:2380\n"
        let flags = "/usr/bin/etcd --name node1 --heartbeat-interval=200 \\\n  --election-timeout 2000 --pre-vote=false \\\n  --initial-cluster node1=http://10.0.0.1:2380\n"
        for text in [yaml, env, flags] {
            var i = ImportInput()
            i.patroni = [ConfigFile(path: "node1.yml", text: minimalPatroni)]
            i.etcd = [ConfigFile(path: "etcd.conf", text: text)]
            let (_, s) = try imported(i)
            #expect(s.etcd.heartbeatIntervalNs == 200 * Time.ms && s.etcd.electionTimeoutNs == 2 * Time.s && !s.etcd.preVote, "\(text)")
            #expect(s.topology.hosts.first { $0.name == "node1" }?.runs(.etcd) == true, "\(text)")
        }
        // Snapshot sizing is modelled (log compaction, snapshots for a member far behind).
        var snap = ImportInput()
        snap.patroni = [ConfigFile(path: "node1.yml", text: minimalPatroni)]
        snap.etcd = [ConfigFile(path: "etcd.conf", text: "name: node1\nsnapshot-count: 20000\nexperimental-snapshot-catchup-entries: 800\ninitial-cluster: node1=http://10.0.0.1:2380\n")]
        let (_, ss) = try imported(snap)
        #expect(ss.etcd.snapshotCount == 20_000 && ss.etcd.snapshotCatchUpEntries == 800)
        #expect(importErrors(patroni: [minimalPatroni], etcd: ["ETCD_NAME=node1\nETCD_HEARTBEAT_INTERVL=100\n"])
            .contains { $0.contains("ETCD_HEARTBEAT_INTERVL") && $0.contains("did you mean 'heartbeat-interval'") })
        #expect(importErrors(patroni: [minimalPatroni], etcd: ["name: node1\nheartbeat-interval: fast\n"])
            .contains { $0.hasPrefix("etcd1.conf:2:21: heartbeat-interval:") })
    }

    @Test("keepalived syntax errors and a missing vrrp_instance are named")
    func keepalivedErrors() {
        let h = "backend rw\n  option httpchk GET /primary\n  server node1 10.0.0.1:5432 check port 8008\n"
        #expect(importErrors(patroni: [minimalPatroni], haproxy: h, keepalived: ["vrrp_instance V { priority 100\n"]).contains { $0.contains("not closed") })
        #expect(importErrors(patroni: [minimalPatroni], haproxy: h, keepalived: ["global_defs { }\n"]).contains { $0.contains("no vrrp_instance") })
    }

    @Test("placeholders such as {{NODE1_IP}} and <ETCD_NODE_1_IP> are opaque host names")
    func placeholders() {
        #expect(Address.host("{{NODE1_IP}}:8008") == "{{NODE1_IP}}")
        #expect(Address.host("http://<ETCD_NODE_1_IP>:2380") == "<ETCD_NODE_1_IP>")
        #expect(Address.host("[::1]:2379") == "::1" && Address.port("[::1]:2379") == 2379)
        #expect(Address.host("http://user@10.0.0.1:2379/x") == "10.0.0.1")
        let toks = HAProxyFile.tokens(#"  server "a b" 1.2.3.4:5 check # comment"#, number: 3).map(\.text)
        #expect(toks == ["server", "a b", "1.2.3.4:5", "check"])
    }

    @Test("a scenario's cluster: section reads the real files relative to it; its own keys and --set win")
    func clusterSection() throws {
        let files: [String: String] = [
            "conf/node1.yml": minimalPatroni,
            "conf/haproxy.cfg": "backend rw\n  option httpchk GET /primary\n  server node1 10.0.0.1:5432 check port 8008\n",
        ]
        let source = FileSource { files["/" + $0] ?? files[$0] }
        let text = """
        name: mine
        duration: 5m
        cluster: { patroni: [node1.yml], haproxy: haproxy.cfg }
        haproxy: { rise: 3 }
        """
        let s = try ScenarioLoader.load(text: text, file: "conf/mine.yml", overrides: ["patroni.ttl=40"], files: source).get()
        #expect(s.patroni.scope == "demo" && s.patroni.ttl == 40 && s.haproxy.rise == 3 && s.haproxy.writeCheck == "/primary")
        #expect(s.topology.dbHosts == ["node1"])
        guard case .failure(let e) = ScenarioLoader.load(text: text, file: "conf/mine.yml", overrides: ["cluster.haproxy=gone.cfg"], files: source) else {
            Issue.record("a missing file loads"); return
        }
        #expect(e.diagnostics.map(\.description) == ["--set cluster.haproxy=gone.cfg: cluster.haproxy: cannot read 'gone.cfg' (looked for conf/gone.cfg)"])
        // A bad value in a real file names that file, whichever scenario pulled it in.
        let badFiles = files.merging(["conf/node1.yml": minimalPatroni.replacingText("ttl: 30", with: "ttl: -5")]) { $1 }
        guard case .failure(let e2) = ScenarioLoader.load(text: text, file: "conf/mine.yml", files: FileSource { badFiles[$0] }) else {
            Issue.record("a negative ttl loads"); return
        }
        #expect(e2.diagnostics.map(\.description) == ["conf/node1.yml:7:15: bootstrap.dcs.ttl: must not be negative, got \"-5\""])
    }

    @Test("the written scenario keeps every imported value and names where it came from")
    func writtenScenario() throws {
        let c = ClusterImport.run(seed002())
        let text = ScenarioWriter.scenario(c)
        #expect(text.contains("  ttl: 30                         # seed002/node1.yml:15 bootstrap.dcs.ttl\n"))
        #expect(text.contains("  inter: 3s                       # seed002/haproxy.cfg:23 backend pg_primary: server node1: inter\n"))
        #expect(text.contains("faults: []\n#  - { at: 2m, crash: primary, for: 3m }\n"))
        #expect(text.contains("# Read but not modelled"))
        // Loaded back, the file and the import give the same cluster.
        let fromText = try ScenarioLoader.load(text: text, file: "x.yml", files: .none).get()
        let fromTree = try ScenarioLoader.build(ScenarioLoader.merge(YNode(.mapping([
            .init(key: "name", keyLine: 0, keyColumn: 0, value: YNode(.scalar("postgres-ha", quoted: false))),
            .init(key: "duration", keyLine: 0, keyColumn: 0, value: YNode(.scalar("10m", quoted: false))),
        ])), c.tree), file: "y.yml", files: .none).get()
        #expect(fromText.patroni == fromTree.patroni && fromText.haproxy == fromTree.haproxy && fromText.topology == fromTree.topology)
    }

    @Test("pgbouncer.ini on the HAProxy hosts, two HAProxy hosts, and etcd's version")
    func pgbouncerAndHosts() throws {
        let ini = """
        [databases]
        app = host=127.0.0.1 port=5000 dbname=app
        ; the pooler's own settings
        [pgbouncer]
        pool_mode = transaction
        server_login_retry = 3
        server_connect_timeout = 5
        query_wait_timeout = 60
        max_client_conn = 1000
        """
        var i = ImportInput()
        i.patroni = [ConfigFile(path: "node1.yml", text: minimalPatroni)]
        let h = "backend rw\n  option httpchk GET /primary\n  server node1 10.0.0.1:5432 check port 8008 inter 2s\n"
        i.haproxy = [ConfigFile(path: "a.cfg", text: h), ConfigFile(path: "b.cfg", text: h.replacingText("inter 2s", with: "inter 5s"))]
        i.pgbouncer = ConfigFile(path: "pgbouncer.ini", text: ini)
        i.etcdVersion = "3.6"
        let (c, s) = try imported(i)
        #expect(s.topology.hosts.filter { $0.runs(.haproxy) && $0.runs(.pgbouncer) }.map(\.name) == ["haproxy1", "haproxy2"])
        #expect(s.pgbouncer.poolMode == .transaction && s.pgbouncer.serverLoginRetryNs == 3 * Time.s)
        #expect(s.pgbouncer.serverConnectTimeoutNs == 5 * Time.s && s.pgbouncer.queryWaitTimeoutNs == 60 * Time.s)
        #expect(s.etcd.version == .v3_6 && s.haproxy.interNs == 2 * Time.s)
        #expect(c.diagnostics.contains { $0.file == "b.cfg" && $0.message.contains("differ from a.cfg") })
        #expect(c.notes.contains { $0.key.contains("max_client_conn") })
        #expect(importErrors(patroni: [minimalPatroni], haproxy: h).isEmpty)
        var bad = i
        bad.pgbouncer = ConfigFile(path: "pgbouncer.ini", text: "[pgbouncer]\npool_mod = session\n")
        #expect(ClusterImport.run(bad).errors.map(\.description).contains { $0.contains("pgbouncer.ini:2:1") && $0.contains("did you mean 'pool_mode'") })
    }

    @Test("fuzz: mutated real files never crash the import; every result is an error or a scenario that loads", arguments: 0..<4)
    func fuzz(part: Int) {
        let bases = seed002().patroni.map(\.text) + [example("seed002/haproxy.cfg").text, example("seed002/etcd-node1.conf").text,
                                                      example("seed001/keepalived1.conf").text]
        var rng = Rng(seed: 0xF022 + UInt64(part))
        let alphabet = Array(" :{}[]-#\"'\n\t0123456789abcs=,/<>\\")
        for _ in 0..<60 {
            var files = bases
            let k = Int(rng.next() % UInt64(files.count))
            var chars = Array(files[k])
            for _ in 0..<(1 + Int(rng.next() % 6)) where !chars.isEmpty {
                let at = Int(rng.next() % UInt64(chars.count))
                switch rng.next() % 3 {
                case 0: chars[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: chars.remove(at: at)
                default: chars.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                }
            }
            files[k] = String(chars)
            var i = ImportInput()
            i.patroni = files[0..<3].enumerated().map { ConfigFile(path: "node\($0.offset + 1).yml", text: $0.element) }
            i.haproxy = [ConfigFile(path: "haproxy.cfg", text: files[3])]
            i.etcd = [ConfigFile(path: "etcd.conf", text: files[4])]
            i.keepalived = [ConfigFile(path: "k.conf", text: files[5])]
            let c = ClusterImport.run(i)
            if !c.errors.isEmpty {
                #expect(c.errors.allSatisfy { !$0.file.isEmpty && $0.line >= 0 && !$0.message.isEmpty })
                continue
            }
            if !ClusterImport.validate(c).isEmpty { continue }
            let text = ScenarioWriter.scenario(c)
            if case .failure(let e) = ScenarioLoader.load(text: text, file: "x.yml", files: .none) {
                Issue.record("an import that validated writes a scenario that does not load: \(e)")
            }
        }
    }
}
