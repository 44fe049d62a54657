import Testing
import SimCore
import Scenario
import Cluster
import Analysis
import Recording

/// Clusters read from their real configuration files (Examples/, from the seed documents)
/// run, and run as the hand-written library scenarios of the same layout do.
@Suite("Imported clusters")
struct ImportedClusterTests {
    static let seed002Cluster = """
    cluster:
      patroni: [Examples/seed002/node1.yml, Examples/seed002/node2.yml, Examples/seed002/node3.yml]
      etcd: [Examples/seed002/etcd-node1.conf, Examples/seed002/etcd-node2.conf, Examples/seed002/etcd-node3.conf]
      haproxy: Examples/seed002/haproxy.cfg
    """

    @Test("seed 002 from its files gives the findings of the hand-written primary-crash.yml on every seed", arguments: [1, 2, 3, 4] as [UInt64])
    func reproducesLibrary(seed: UInt64) throws {
        let library = try #require(FileSource.disk.read("Scenarios/primary-crash.yml"))
        let imported = """
        name: seed002-imported
        duration: 10m
        \(Self.seed002Cluster)
        workload: { clients: 4, rate: 50/s }
        faults:
          - { at: 2m, jitter: 10s, crash: primary, for: 3m }
        """
        // Where the library file and seed 002's files differ, the library is told what the
        // files say: scope and namespace (`/db/postgres-ha/`), each Patroni's etcd host
        // (`127.0.0.1:2379`, the local member), and HAProxy's `timeout connect` (10s in
        // haproxy.cfg, the template's 4s in the library file).
        let a = try simulate(library, seed: seed, set: ["patroni.scope=postgres-ha", "patroni.namespace=/db/",
                                                        "patroni.etcd_hosts={db1: [db1], db2: [db2], db3: [db3]}",
                                                        "haproxy.timeout_connect=10s"])
        let b = try simulate(imported, seed: seed)
        #expect(a.run.traceHash == b.run.traceHash)
        #expect(a.rto == b.rto)
        #expect(a.findings.rto.first?.phases.map(\.durationNs) == b.findings.rto.first?.phases.map(\.durationNs))
        #expect(a.findings.rpo?.lostWrites == b.findings.rpo?.lostWrites)
        #expect(a.findings.splitBrain?.any == b.findings.splitBrain?.any)
        #expect(a.findings.writes?.ok == b.findings.writes?.ok)
        // Host names differ (db1 / node1); positions do not.
        let rename = ["db1": "node1", "db2": "node2", "db3": "node3"]
        #expect(a.newPrimaries.map { rename[$0] ?? $0 } == b.newPrimaries)
    }

    @Test("Examples/seed002/primary-crash.yml (a scenario naming the real files) meets its expectations")
    func examplePasses() throws {
        let text = try #require(FileSource.disk.read("Examples/seed002/primary-crash.yml"))
        let s = try ScenarioLoader.load(text: text, file: "Examples/seed002/primary-crash.yml").get()
        #expect(s.patroni.keyPrefix == "/db/postgres-ha/")
        let run = Simulation(scenario: s).run()
        let f = Analyzer.analyze(run, scenario: s)
        #expect(!f.expectations.isEmpty && f.ok, "\(f.expectations.filter { !$0.ok }.map(\.detail))")
        // The keys live under the cluster's own namespace and scope.
        #expect(run.timeline.contains { $0.detail.text.contains("/db/postgres-ha/leader") })
    }

    @Test("seed 001's keepalived pair, seed 004's separate etcd and NodeBalancer, Patroni's sample: each fails over")
    func everyExampleRuns() throws {
        let s001 = """
        name: seed001
        duration: 6m
        cluster:
          patroni: [Examples/seed001/node1.yml, Examples/seed001/node2.yml, Examples/seed001/node3.yml]
          etcd: [Examples/seed001/etcd1.conf.yaml, Examples/seed001/etcd2.conf.yaml, Examples/seed001/etcd3.conf.yaml]
          haproxy: Examples/seed001/haproxy.cfg
          keepalived: [Examples/seed001/keepalived1.conf, Examples/seed001/keepalived2.conf]
        workload: { clients: 4, rate: 50/s }
        faults: [{ at: 2m, crash: primary, for: 2m }]
        """
        let o1 = try simulate(s001)
        #expect(o1.newPrimaries.count == 2 && (o1.rto ?? 0) > 20 * Time.s && (o1.rto ?? .max) < 60 * Time.s)

        let sample = """
        name: sample
        duration: 6m
        cluster:
          patroni: [Examples/patroni-sample/postgres0.yml, Examples/patroni-sample/postgres1.yml]
          haproxy: Examples/patroni-sample/haproxy.cfg
        workload: { clients: 4, rate: 50/s }
        faults: [{ at: 2m, crash: primary, for: 2m }]
        """
        let o2 = try simulate(sample)
        #expect(o2.newPrimaries == ["postgresql0", "postgresql1"])

        // Seed 004 as written: synchronous_standby_names '1' names no member, so commits wait
        // (PostgreSQL's syncrep) until the client's query_timeout cancels them.
        let s004 = """
        name: seed004
        duration: 6m
        cluster:
          patroni: Examples/seed004/patroni.yml
          etcd: Examples/seed004/etcd.conf.yml
          lb: Examples/seed004/nodebalancer.yml
          nodes: 3
        workload: { clients: 4, rate: 50/s }
        faults: [{ at: 2m, crash: primary, for: 2m }]
        """
        let o3 = try simulate(s004)
        #expect(o3.scenario.topology.etcdHosts.count == 3 && o3.scenario.topology.dbHosts.count == 3)
        #expect((o3.findings.writes?.blocked ?? 0) > 0)
        #expect(o3.scenario.warnings.contains { $0.message.contains("names no member") })
        // Fixed as the document meant it (Patroni-managed synchronous replication), it fails over.
        let o4 = try simulate(s004, set: ["postgresql.synchronous_standby_names=", "patroni.synchronous_mode=true"])
        #expect(o4.newPrimaries.count == 2 && o4.findings.rpo?.lostWrites == 0)
    }
}

@Suite("The watchdog device")
struct WatchdogDeviceTests {
    @Test("a host that loses power runs no watchdog: it stays down until the fault ends, with no watchdog reset")
    func poweredOffHostIsNotReset() throws {
        let o = try simulate("""
        name: wd-crash
        duration: 6m
        patroni: { watchdog: { mode: required } }
        workload: { clients: 2, rate: 20/s }
        faults:
          - { at: 1m, crash: primary, for: 3m }
        """)
        #expect(o.run.timeline.contains { $0.kind == "watchdog_armed" && $0.host == "db1" })
        #expect(!o.run.timeline.contains { $0.kind == Kind.watchdogReset })
        let up = o.run.timeline.first { $0.kind == "host_up" && $0.host == "db1" }
        #expect(up?.timeNs == 4 * Time.m)
    }

    static let partial = """
        name: wd-partial
        duration: 4m
        topology: etcd-separate
        workload: { clients: 2, rate: 20/s }
        faults:
          - { at: 1m, jitter: 10s, crash: primary }
        """

    /// `Watchdog.is_healthy` under `required`: a member without a usable device reports
    /// `watchdog_failed` and does not race ("Watchdog device is not usable").
    @Test("a watchdog device on some hosts only: under mode required, only a replica with a device takes over", arguments: 1...4)
    func deviceOnSomeHosts(seed: UInt64) throws {
        let o = try simulate(Self.partial + "\npatroni: { watchdog: { mode: required, device: [db1, db3] } }\n", seed: seed)
        #expect(o.newPrimaries == ["db1", "db3"])
        #expect(o.run.timeline.contains { $0.kind == "race" && $0.host == "db2" && $0.detail["why"]?.stringValue == "Watchdog device is not usable" })
        #expect(o.run.timeline.contains { $0.kind == "watchdog_armed" && $0.host == "db3" })
        let none = try simulate(Self.partial + "\npatroni: { watchdog: { mode: required, device: [db1] } }\n", seed: seed)
        #expect(none.newPrimaries == ["db1"])
    }

    @Test("watchdog.device names DB hosts: a mistyped one is an error at its position")
    func deviceHostsValidated() throws {
        let bad = ScenarioLoader.load(text: Self.partial + "\npatroni: { watchdog: { mode: required, device: [db1, db9] } }\n", file: "x.yml")
        guard case .failure(let e) = bad else { Issue.record("loaded"); return }
        #expect(e.description.contains("x.yml:7:") && e.description.contains("patroni.watchdog.device[1]"), "\(e.description)")
    }
}
