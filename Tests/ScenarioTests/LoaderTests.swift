import Testing
import SimCore
import Settings
import Patroni
@testable import Scenario

let good = """
name: partition
description: The primary is cut off.
seed: 7
duration: 10m
topology: etcd-colocated
patroni: { ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 1MB, synchronous_mode: true }
etcd: { heartbeat_interval: 100ms, election_timeout: 1000, pre_vote: true }
haproxy: { inter: 3s, fall: 3, rise: 2, on_marked_down: shutdown-sessions }
workload: { clients: 4, rate: 200/s }
faults:
  - { at: 2m, partition: [[db1], [db2, db3]] }
  - { at: 3m30s, heal: all }
expect:
  rto: { max: 45s }
  rpo: { max_writes: 0 }
  split_brain: none
"""

func load(_ text: String, overrides: [String] = []) -> Result<Scenario, ScenarioErrors> {
    ScenarioLoader.load(text: text, file: "Scenarios/x.yml", overrides: overrides)
}

func errors(_ text: String, overrides: [String] = []) -> [String] {
    switch load(text, overrides: overrides) {
    case .success: return []
    case .failure(let e): return e.diagnostics.map(\.description)
    }
}

/// Replaces one line of the good scenario.
func variant(_ old: String, _ new: String) -> String {
    precondition(good.contains(old), "test bug: \(old) not in the base scenario")
    return good.replacingOccurrences(of: old, with: new)
}

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        var out = "", rest = Substring(self)
        while let r = rest.range(of: a) { out += rest[..<r.lowerBound] + b; rest = rest[r.upperBound...] }
        return out + rest
    }
}

extension Substring {
    func range(of s: String) -> Range<Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(s) { return i..<index(i, offsetBy: s.count) }
            i = index(after: i)
        }
        return nil
    }
}

@Suite("Scenario loading")
struct LoaderTests {
    @Test("a good scenario loads with every section typed")
    func loadsGood() throws {
        let s = try load(good).get()
        #expect(s.name == "partition")
        #expect(s.seed == 7)
        #expect(s.durationNs == 10 * Time.m)
        #expect(s.topology.hosts.map(\.name) == ["db1", "db2", "db3", "haproxy1", "app1"])
        #expect(s.topology.dbHosts == ["db1", "db2", "db3"])
        #expect(s.topology.etcdHosts == ["db1", "db2", "db3"])
        #expect(s.topology.initialPrimary == "db1")
        #expect(s.patroni.maximumLagOnFailover == 1_048_576)
        #expect(s.patroni.synchronousMode == .on)
        #expect(s.etcd.electionTimeoutNs == Time.s)
        #expect(s.haproxy.interNs == 3 * Time.s)
        #expect(s.haproxy.onMarkedDown == .shutdownSessions)
        #expect(s.workload.rate == 200)
        #expect(s.faults.count == 2)
        #expect(s.faults[0].action == .partition(groups: [[.named("db1")], [.named("db2"), .named("db3")]]))
        #expect(s.faults[1].action == .heal)
        #expect(s.expectations.map(\.name) == ["rto.max", "rpo.max_writes", "split_brain.none"])
        #expect(s.warnings.isEmpty)
    }

    @Test("etcd's snapshot-count follows the version (100,000 before 3.6, 10,000 in 3.6) unless given")
    func snapshotCountByVersion() throws {
        #expect(try load(good).get().etcd.snapshotCount == 100_000)
        #expect(try load(good, overrides: ["etcd.version=3.6"]).get().etcd.snapshotCount == 10_000)
        let set = try load(good, overrides: ["etcd.version=3.6", "etcd.snapshot_count=500", "etcd.snapshot_catchup_entries=50"]).get().etcd
        #expect(set.snapshotCount == 500 && set.snapshotCatchUpEntries == 50)
        guard case .failure(let e) = load(good, overrides: ["etcd.snapshot_count=0"]) else { Issue.record("snapshot_count 0 accepted"); return }
        #expect(e.description.contains("snapshot_count"), "\(e.description)")
    }

    /// `patroni/tags.py`: `_bool_tag` and `_priority_tag`.
    @Test("tags as patroni/tags.py reads them: an explicit boolean wins over its priority, an unset one follows priority <= 0, a true one makes the priority 0")
    func tagsAsPatroniReadsThem() throws {
        let s = try load("""
            name: t
            duration: 1m
            topology: { db_nodes: 5 }
            patroni:
              tags:
                db1: { nofailover: false, failover_priority: 0 }
                db2: { failover_priority: 0, sync_priority: 0 }
                db3: { nofailover: true, failover_priority: 5, nosync: false, sync_priority: 0 }
                db4: { sync_priority: 3 }
            """).get()
        let t = { (n: String) in s.patroni.tags(for: n) }
        #expect(!t("db1").nofailover && t("db1").failoverPriority == 0)
        #expect(t("db2").nofailover && t("db2").failoverPriority == 0 && t("db2").nosync && t("db2").syncPriority == 0)
        #expect(t("db3").nofailover && t("db3").failoverPriority == 0 && !t("db3").nosync && t("db3").syncPriority == 0)
        #expect(!t("db4").nosync && t("db4").syncPriority == 3)
        #expect(!t("db5").nofailover && t("db5").failoverPriority == 1 && !t("db5").nosync && t("db5").syncPriority == 1)
    }

    @Test("pre_promote: an exit code out of range and an unknown host are errors at their position")
    func prePromoteValidated() {
        func text(_ pp: String) -> String { "name: t\nduration: 1m\npatroni:\n  pre_promote: \(pp)\n" }
        let e = errors(text("{ duration: 2s, exit_code: 300, hosts: [db2, db7] }"))
        #expect(e.contains { $0.hasPrefix("Scenarios/x.yml:4:") && $0.contains("patroni.pre_promote.exit_code") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("Scenarios/x.yml:4:") && $0.contains("patroni.pre_promote.hosts[1]") }, "\(e)")
        let ok = try? load(text("{ duration: 2s, exit_code: 1, hosts: [db2] }")).get()
        #expect(ok?.patroni.prePromote == { var p = PatroniConfig.PrePromote(); p.durationNs = 2 * Time.s; p.exitCode = 1; p.hosts = ["db2"]; return p }())
    }

    @Test("a bad duration names file, line, column and key")
    func badDuration() {
        let e = errors(variant("  - { at: 3m30s, heal: all }", "  - { at: thirty, heal: all }"))
        #expect(e == ["Scenarios/x.yml:12:11: faults[1].at: expected a duration such as 30s or 1m30s, got \"thirty\""])
    }

    @Test("an unknown key is an error with a did-you-mean suggestion")
    func unknownKey() {
        let e = errors(variant("ttl: 30, loop_wait", "ttl: 30, loop_wiat"))
        #expect(e == ["Scenarios/x.yml:6:21: patroni.loop_wiat: unknown key 'loop_wiat'; did you mean 'loop_wait'?"])
        let top = errors(variant("seed: 7", "sede: 7"))
        #expect(top == ["Scenarios/x.yml:3:1: sede: unknown key 'sede'; did you mean 'seed'?"])
    }

    @Test("an unknown host in a fault is an error")
    func unknownHost() {
        let e = errors(variant("partition: [[db1], [db2, db3]]", "partition: [[db1], [db2, db4]]"))
        #expect(e == ["Scenarios/x.yml:11:40: faults[0].partition[1][1]: unknown host 'db4'; did you mean 'db1'?"])
    }

    @Test("a fault after the end of the run is an error")
    func faultOutside() {
        let e = errors(variant("at: 3m30s", "at: 11m"))
        #expect(e == ["Scenarios/x.yml:12:11: faults[1].at: 11m is not before the end of the run (duration 10m)"])
        let e2 = errors(variant("  - { at: 3m30s, heal: all }", "  - { at: 9m, crash: db2, for: 2m }"))
        #expect(e2 == ["Scenarios/x.yml:12:32: faults[1].for: the fault lasts until 11m, past the end of the run (duration 10m)"])
    }

    @Test("a missing required key is an error at the enclosing mapping")
    func missingKey() {
        let e = errors(variant("duration: 10m\n", ""))
        #expect(e == ["Scenarios/x.yml:1:1: duration: missing required key 'duration'"])
    }

    @Test("impossible values are errors: negative, not a number, out of range")
    func impossible() {
        #expect(errors(variant("ttl: 30,", "ttl: -5,")) == ["Scenarios/x.yml:6:17: patroni.ttl: must not be negative, got \"-5\""])
        #expect(errors(variant("ttl: 30,", "ttl: abc,")) == ["Scenarios/x.yml:6:17: patroni.ttl: expected a duration such as 30 (seconds) or 30s, got \"abc\""])
        #expect(errors(variant("fall: 3", "fall: 0")) == ["Scenarios/x.yml:8:29: haproxy.fall: must be at least 1, got 0"])
        #expect(errors(variant("rate: 200/s", "rate: lots")) == ["Scenarios/x.yml:9:31: workload.rate: expected a rate such as 200/s, got \"lots\""])
        #expect(errors(variant("on_marked_down: shutdown-sessions", "on_marked_down: shutdown-session")) ==
                ["Scenarios/x.yml:8:57: haproxy.on_marked_down: expected one of none, shutdown-sessions, got \"shutdown-session\"; did you mean 'shutdown-sessions'?"])
    }

    @Test("etcd refuses an election timeout under 5 heartbeats, and so does simctl")
    func etcdRule() {
        let e = errors(variant("election_timeout: 1000", "election_timeout: 300"))
        #expect(e == ["Scenarios/x.yml:7:54: etcd.election_timeout: election_timeout (300ms) should be at least 5 times heartbeat_interval (100ms), as etcd requires"])
    }

    @Test("Patroni's timeout rules adjust with Patroni's own warnings, not errors")
    func patroniRule() throws {
        let s = try load(variant("ttl: 30, loop_wait: 10, retry_timeout: 10", "ttl: 10, loop_wait: 10, retry_timeout: 10")).get()
        #expect(s.patroni.ttl == 20)
        #expect(s.patroni.retryTimeout == 9)
        #expect(s.patroni.loopWait == 1)
        #expect(s.warnings.map(\.message) == [
            "ttl=10 can't be smaller than 20, adjusting...",
            "Violated the rule \"loop_wait + 2*retry_timeout <= ttl\", where ttl=20. Adjusting loop_wait from 10 to 1 and retry_timeout from 10 to 9",
        ])
        let s2 = try load(variant("loop_wait: 10, retry_timeout: 10", "loop_wait: 15, retry_timeout: 10")).get()
        #expect(s2.patroni.loopWait == 10)
        #expect(s2.warnings.first?.description == "Scenarios/x.yml:6:10: warning: patroni: Violated the rule \"loop_wait + 2*retry_timeout <= ttl\", where ttl=30 and retry_timeout=10. Adjusting loop_wait from 15 to 10")
    }

    @Test("YAML syntax errors carry libyaml's position")
    func syntax() {
        let e = errors("name: x\nduration: [1m\nseed: 3\n")
        #expect(e.count == 1)
        #expect(e[0].hasPrefix("Scenarios/x.yml:3:"))
        #expect(e[0].contains("YAML syntax error"))
    }

    @Test("every problem is reported, in file order")
    func many() {
        var text = variant("ttl: 30,", "ttl: x,")
        text = text.replacingOccurrences(of: "rise: 2", with: "rize: 2")
        text = text.replacingOccurrences(of: "at: 3m30s", with: "at: soon")
        let e = errors(text)
        #expect(e.count == 3)
        #expect(e.map { $0.split(separator: ":")[1] } == ["6", "8", "12"])
    }

    @Test("references: a process the host does not run, a role with a wrong process")
    func references() {
        #expect(errors(variant("  - { at: 3m30s, heal: all }", "  - { at: 3m, kill: haproxy1/etcd }")) ==
                ["Scenarios/x.yml:12:21: faults[1].kill: host 'haproxy1' runs no etcd (it runs haproxy)"])
        #expect(errors(variant("  - { at: 3m30s, heal: all }", "  - { at: 3m, kill: db1/patrony }")) ==
                ["Scenarios/x.yml:12:21: faults[1].kill: unknown process 'patrony'; did you mean 'patroni'?"])
        #expect(errors(variant("  - { at: 3m30s, heal: all }", "  - { at: 3m, kill: primary/haproxy }")) ==
                ["Scenarios/x.yml:12:21: faults[1].kill: role 'primary' names a DB host, which runs no haproxy"])
        #expect(errors(variant("  - { at: 3m30s, heal: all }", "  - { at: 3m, heal: all, crash: db1 }")) ==
                ["Scenarios/x.yml:12:5: faults[1]: a fault has exactly one action, got heal and crash"])
    }

    @Test("--set overrides any value, and a bad override is reported as the override")
    func overrides() throws {
        let s = try load(good, overrides: ["patroni.ttl=45", "faults[0].at=3m", "workload={clients: 8, rate: 400/s}", "topology.db_nodes=5"]).get()
        #expect(s.patroni.ttl == 45)
        #expect(s.faults[0].atNs == 3 * Time.m)
        #expect(s.workload.clients == 8 && s.workload.rate == 400)
        #expect(s.topology.dbHosts.count == 5)
        #expect(errors(good, overrides: ["patroni.ttl=abc"]) ==
                ["--set patroni.ttl=abc: patroni.ttl: expected a duration such as 30 (seconds) or 30s, got \"abc\""])
        #expect(errors(good, overrides: ["patroni.tll=20"]) ==
                ["--set patroni.tll=20: patroni.tll: unknown key 'tll'; did you mean 'ttl'?"])
        #expect(errors(good, overrides: ["nonsense"]) == ["--set nonsense: expected key.path=value"])
        #expect(errors(good, overrides: ["faults[9].at=1m"]) == ["--set faults[9].at=1m: faults[9].at: index [9] is past the end of a list of 2"])
    }

    @Test("latency forms: a constant, and distributions with their own keys")
    func latency() throws {
        let s = try load(variant("workload: { clients: 4, rate: 200/s }",
            "workload: { clients: 4, rate: 200/s }\nnetwork: { latency: { distribution: lognormal, median: 0.5ms, sigma: 0.4, floor: 0.1ms }, links: [ { from: db1, to: db2, latency: 20ms } ] }")).get()
        #expect(s.network.latency == Latency(.lognormal(median: 500 * Time.us, sigma: 0.4), floorNs: 100 * Time.us))
        #expect(s.network.links[0].latency == Latency(.constant(20 * Time.ms)))
        let e = errors(variant("workload: { clients: 4, rate: 200/s }",
            "workload: { clients: 4, rate: 200/s }\nnetwork: { latency: { distribution: uniform, min: 1ms, median: 2ms } }"))
        #expect(e.contains("Scenarios/x.yml:10:56: network.latency.median: 'median' does not apply to a uniform latency; it takes min, max"))
    }

    @Test("edit_config faults compose in time order on top of the scenario's settings")
    func editConfig() throws {
        let s = try load(variant("  - { at: 3m30s, heal: all }", "  - { at: 5m, edit_config: { loop_wait: 5 } }\n  - { at: 4m, edit_config: { ttl: 20 } }")).get()
        guard case .editConfig(let c1, let ch1) = s.faults[1].action, case .editConfig(let c2, _) = s.faults[2].action else {
            Issue.record("expected edit_config faults"); return
        }
        #expect(ch1 == ["loop_wait"])
        #expect(c2.ttl == 20 && c2.loopWait == 0 + 0 + c2.loopWait)
        #expect(c1.ttl == 20 && c1.loopWait == 0 + 0 + c1.loopWait && c1.loopWait <= 20 - 2 * c1.retryTimeout)
    }

    @Test("explicit hosts with services")
    func explicitHosts() throws {
        let s = try load(variant("topology: etcd-colocated", """
        topology:
          hosts:
            - { name: e1, services: [etcd] }
            - { name: e2, services: [etcd] }
            - { name: e3, services: [etcd] }
            - { name: pg1, services: [patroni] }
            - { name: pg2, services: [patroni] }
            - { name: lb1, services: [haproxy, keepalived] }
            - { name: app, services: [clients] }
        """).replacingOccurrences(of: "[[db1], [db2, db3]]", with: "[[pg1], [pg2, e1]]")).get()
        #expect(s.topology.dbHosts == ["pg1", "pg2"])
        #expect(s.topology.etcdHosts == ["e1", "e2", "e3"])
        #expect(s.topology.host("pg1")!.services == [.patroni, .postgres])
        #expect(s.topology.initialPrimary == "pg1")
    }
}

@Suite("Limits of run-time values")
struct RunTimeLimitTests {
    @Test("a fault and an expectation may lie anywhere in a long run; a setting over 30 days may not")
    func faultsInLongRuns() throws {
        let text = """
        name: long
        duration: 60d
        faults: [{ at: 40d, crash: primary, for: 2d }]
        expect: { rto: { max: 35d } }
        """
        let s = try load(text).get()
        #expect(s.faults.first?.atNs == 40 * Time.d)
        #expect(errors(text + "\npatroni: { ttl: 31d }\n").contains { $0.contains("patroni.ttl: must be at most 30d") })
        #expect(errors(text.replacingOccurrences(of: "at: 40d", with: "at: 401d")).contains { $0.contains("faults[0].at: must be at most 400d") })
    }
}

@Suite("expect: logged")
struct LoggedExpectationLoaderTests {
    @Test("a logged pattern needs a kind, a known host and scalar detail values; max may not be below min")
    func loggedErrors() {
        let e = errors(variant("  split_brain: none", """
              split_brain: none
              logged:
                - { host: db1 }
                - { kind: switchover, host: db9 }
                - { kind: switchover, detail: { status: [412] } }
                - { kind: switchover, min: 2, max: 1 }
                - { kind: switchover, colour: red }
            """))
        #expect(e.contains { $0.contains("expect.logged[0]") && $0.contains("missing required key 'kind'") }, "\(e)")
        #expect(e.contains { $0.contains("expect.logged[1].host") && $0.contains("no host named 'db9'") }, "\(e)")
        #expect(e.contains { $0.contains("expect.logged[2].detail.status") && $0.contains("expected a value") }, "\(e)")
        #expect(e.contains { $0.contains("expect.logged[3].max") && $0.contains("max 1 is below min 2") }, "\(e)")
        #expect(e.contains { $0.contains("expect.logged[4].colour") && $0.contains("unknown key") }, "\(e)")
    }
}
