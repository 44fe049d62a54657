import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// `postgresql.callbacks` as `CallbackExecutor` runs them (patroni/postgresql/callback_executor.py).
@Suite("Patroni callbacks")
struct CallbackTests {
    static let base = """
        name: callbacks
        duration: 3m
        topology: etcd-colocated
        workload: { clients: 2, rate: 50/s }
        """

    /// `CallbackExecutor.call` kills the script still running (`_kill_process`: "Killed %s
    /// because it was still running") and starts the new one; the HA loop never waits.
    @Test("a callback still running when the next one is called is killed ('Killed [...] because it was still running'); the HA loop does not wait for scripts",
          arguments: 1...3)
    func nextCallbackKillsRunningOne(seed: UInt64) throws {
        let slow = try simulate(Self.base + """

            patroni: { callbacks: { on_stop: { duration: 20s, hosts: [db1] }, on_role_change: { duration: 2s, exit_code: 3, command: /usr/local/bin/vip.sh --move } } }
            faults: [ { at: 60s, switchover: { leader: db1, candidate: db2 } } ]
            """, seed: seed)
        let killed = try #require(slow.first("callback_killed", host: "db1"))
        #expect(killed.detail["msg"]?.stringValue == "Killed ['/etc/patroni/callback.sh', 'on_stop', 'demoted', 'batman'] because it was still running")
        #expect((killed.detail["ran_s"]?.doubleValue ?? 99) < 20)
        // The script that replaced it ran to its end, with its exit code recorded.
        let exited = try #require(slow.first("callback_exited", host: "db1", after: killed.timeNs))
        #expect(exited.detail["callback"]?.stringValue == "on_role_change")
        #expect(exited.detail["exit_code"]?.intValue == 3)
        #expect(abs((exited.detail["ran_s"]?.doubleValue ?? 0) - 2) < 1e-6)
        // The promotion's on_role_change on db2 ran as configured; on_stop was db1's only.
        #expect(slow.entries("callback_exited", host: "db2").contains { $0.detail["callback"]?.stringValue == "on_role_change" && $0.detail["role"]?.stringValue == "primary" })
        #expect(!slow.entries("callback_exited").contains { $0.host != "db1" && $0.detail["callback"]?.stringValue == "on_stop" })
        // Scripts never hold the HA loop: the switchover takes as long as without them.
        let plain = try simulate(Self.base + "\nfaults: [ { at: 60s, switchover: { leader: db1, candidate: db2 } } ]\n", seed: seed)
        #expect(slow.newPrimaries == ["db1", "db2"] && plain.newPrimaries == ["db1", "db2"])
        #expect(slow.keyChanges.last?.t == plain.keyChanges.last?.t)
    }

    /// `ConfigHandler.set_synchronous_standby_names` reloads a running PostgreSQL, and
    /// `Postgresql.reload` calls on_reload, in its own executor (`OnReloadExecutor`).
    @Test("a synchronous_standby_names change calls on_reload in its own executor, beside a running on_role_change")
    func syncChangeCallsOnReload() throws {
        let o = try simulate(Self.base + """

            patroni: { synchronous_mode: true, callbacks: { on_reload: { duration: 500ms, exit_code: 1 } } }
            faults: [ { at: 60s, crash: sync_standby } ]
            """)
        let change = try #require(o.first("sync_key", after: o.fault(0).startNs))
        let reloads = o.entries("callback_exited", host: "db1").filter { $0.detail["callback"]?.stringValue == "on_reload" }
        #expect(reloads.contains { $0.timeNs >= change.timeNs - 3 * Time.s }, "\(reloads.map { seconds($0.timeNs) }) vs \(seconds(change.timeNs))")
        #expect(reloads.allSatisfy { $0.detail["exit_code"]?.intValue == 1 && $0.detail["role"]?.stringValue == "primary" })
        #expect(o.entries("callback_killed").isEmpty)
    }

    @Test("callbacks: an unknown event, a bad duration or an unknown host is an error with its path")
    func badCallbacks() {
        var e: [String] = []
        if case .failure(let err) = ScenarioLoader.load(text: Self.base + """

            patroni: { callbacks: { on_promote: { duration: 1s }, on_stop: { duration: soon, hosts: [db9] } } }
            """, file: "x.yml", overrides: []) { e = err.diagnostics.map(\.description) }
        #expect(e.contains { $0.contains("patroni.callbacks.on_promote") && $0.contains("unknown key") }, "\(e)")
        #expect(e.contains { $0.contains("patroni.callbacks.on_stop.duration") }, "\(e)")
        #expect(e.contains { $0.contains("patroni.callbacks.on_stop.hosts[0]") && $0.contains("db9") }, "\(e)")
    }
}
