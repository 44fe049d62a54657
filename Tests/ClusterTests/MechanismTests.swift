import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// Figures that follow from real parameters through the mechanisms (TCP connections, listen
/// queues, seeded daemon phases, the etcd client's arithmetic), end to end.
@Suite("Mechanisms: phases, listen queues, the etcd client's arithmetic, graceful stops")
struct MechanismTests {
    static let separate = """
        name: t
        duration: 3m
        topology: etcd-separate
        haproxy: { inter: 3s, fall: 3, rise: 2 }
        workload: { clients: 1, rate: 5/s }
        """

    func writeDown(_ o: Outcome, after t: Nanos, server: String = "db1") -> TimelineEntry? {
        o.first(Kind.serverState, after: t) {
            $0.detail["backend"]?.stringValue == "write" && $0.detail["server"]?.stringValue == server && $0.detail["up"]?.boolValue == false
        }
    }

    /// HAProxy starts each server's checks at its own offset within `inter` (and each
    /// HAProxy at its own moment): with the fault at a fixed time, a refusing server is marked
    /// DOWN after (fall − 1) · inter plus that offset, so over seeds the delays cover
    /// [fall·inter − inter, fall·inter] = [6 s, 9 s] instead of one value.
    @Test("the first DOWN after a fixed-time fault spreads over one check interval across seeds")
    func checkPhaseSpread() throws {
        var delays: [Double] = []
        for seed in UInt64(1)...12 {
            let o = try simulate(Self.separate + "\nfaults: [ { at: 60s, kill: db1/patroni } ]\n", seed: seed)
            let d = try #require(writeDown(o, after: 60 * Time.s))
            delays.append(seconds(d.timeNs) - 60)
        }
        #expect(delays.allSatisfy { $0 >= 6 && $0 <= 9.05 }, "\(delays)")
        #expect(delays.max()! - delays.min()! >= 1.5, "the offsets do not spread: \(delays)")
    }

    /// A frozen Patroni's kernel still completes hand-shakes until its REST listen queue
    /// (`restapi.request_queue_size` + 1) is full: those checks connect and time out reading
    /// (L7TOUT); after that SYNs are dropped and checks time out connecting (L4TOUT).
    @Test("a frozen REST API: L7TOUT while its listen queue has room, L4TOUT once it is full")
    func frozenListenQueue() throws {
        let roomy = try simulate(Self.separate + "\nfaults: [ { at: 60s, pause: db1/patroni } ]\n", seed: 2)
        let tight = try simulate(Self.separate + "\npatroni: { restapi: { request_queue_size: 0 } }\nfaults: [ { at: 60s, pause: db1/patroni } ]\n", seed: 2)
        let a = try #require(writeDown(roomy, after: 60 * Time.s)), b = try #require(writeDown(tight, after: 60 * Time.s))
        let codesA = a.detail["checks"]?.stringValue ?? "", codesB = b.detail["checks"]?.stringValue ?? ""
        // Default queue 5: six hand-shakes complete, enough for the three failing checks of
        // each of the two backends that check db1.
        #expect(codesA.contains("L7TOUT") && !codesA.contains("L4TOUT"), "\(codesA)")
        // Queue 0: one hand-shake completes; the rest of the checks cannot connect.
        #expect(codesB.contains("L4TOUT"), "\(codesB)")
        // Either way a timeout costs the check's whole budget: DOWN at the same moment.
        #expect(abs(a.timeNs - b.timeNs) < 50 * Time.ms)
    }

    /// Prometheus scraping `/metrics` every second fills the frozen REST API's queue too:
    /// HAProxy's later checks find it full.
    @Test("a monitor's scrapes fill a frozen Patroni's listen queue")
    func monitorFillsQueue() throws {
        let yaml = Self.separate.replacingOccurrences(of: "workload: { clients: 1, rate: 5/s }",
                                                      with: "workload: { clients: 1, rate: 5/s, monitor: [ { endpoint: /metrics, interval: 1s, timeout: 10s } ] }")
        let o = try simulate(yaml + "\nfaults: [ { at: 60s, pause: db1/patroni } ]\n", seed: 2)
        let d = try #require(writeDown(o, after: 60 * Time.s))
        #expect(d.detail["checks"]?.stringValue?.contains("L4TOUT") == true, "\(d.detail["checks"]?.stringValue ?? "")")
    }

    func demotionDelay(_ yaml: String, seed: UInt64) throws -> Double {
        let o = try simulate(yaml, seed: seed)
        let cut = o.fault(o.run.faults.count - 1).startNs
        let demote = try #require(o.first(Kind.demote, host: "db1", after: cut))
        if let expired = o.keyChanges.first(where: { $0.t > cut && $0.holder == nil }) { #expect(demote.timeNs < expired.t) }
        return seconds(demote.timeNs - cut)
    }

    /// The primary's next cycle starts within loop_wait of the cut; its update_lock then fails
    /// after the etcd client's time for unreachable members (EtcdClientArithmeticTests):
    /// 11.67 s with 3 dropped members, 11 s with 5; with refused connections, between 7.2 s and
    /// retry_timeout.
    @Test("a primary cut off from etcd demotes after loop_wait at most plus the client's time to fail",
          arguments: [("drop3", 11.6, 21.7), ("drop5", 10.95, 21.05), ("refuse", 7.2, 20.05)])
    func dcsLossArithmetic(kind: String, lo: Double, hi: Double) throws {
        let yaml: String
        switch kind {
        case "drop5":
            yaml = Self.separate.replacingOccurrences(of: "topology: etcd-separate", with: "topology: { preset: etcd-separate, etcd_nodes: 5 }")
                + "\nfaults: [ { at: 60s, jitter: 10s, partition: [[db1], [etcd1, etcd2, etcd3, etcd4, etcd5]], for: 1m } ]\n"
        case "refuse":
            yaml = Self.separate + """

                faults:
                  - { at: 60s, kill: etcd1/etcd }
                  - { at: 60s, kill: etcd2/etcd }
                  - { at: 60s, kill: etcd3/etcd }
                """
        default:
            yaml = Self.separate + "\nfaults: [ { at: 60s, jitter: 10s, partition: [[db1], [etcd1, etcd2, etcd3]], for: 1m } ]\n"
        }
        for seed in UInt64(1)...6 {
            let d = try demotionDelay(yaml, seed: seed)
            #expect(d >= lo && d <= hi, "\(kind), seed \(seed): demoted \(d) s after the cut")
        }
    }

    /// `edit_config` reaches the etcd client (`set_retry_timeout`): with retry_timeout 20 s the
    /// failing call takes 6.67 + 2 × 3.33 + 3 × 3.33 = 23.3 s.
    @Test("edit_config retry_timeout changes how long the etcd client tries")
    func editConfigRetryTimeout() throws {
        let yaml = Self.separate + """

            faults:
              - { at: 30s, edit_config: { ttl: 60, retry_timeout: 20 } }
              - { at: 90s, jitter: 10s, partition: [[db1], [etcd1, etcd2, etcd3]], for: 1m }
            """
        for seed in UInt64(1)...4 {
            let d = try demotionDelay(yaml, seed: seed)
            #expect(d >= 23.2 && d <= 10 + 23.4, "seed \(seed): demoted \(d) s after the cut")
        }
    }

    /// After a 60 s cut between the primary and a replica heals, the old connections wait for
    /// their retransmission backoff, but the switchover's REST poll of the replica opens a new
    /// connection and gets through at once: the switchover is not refused.
    @Test("a switchover to a replica right after its cut heals succeeds")
    func switchoverAfterHeal() throws {
        for seed in UInt64(1)...3 {
            let o = try simulate(Self.separate + """

                faults:
                  - { at: 60s, partition: [[db1], [db2]], for: 60s }
                  - { at: 122s, switchover: { leader: db1, candidate: db2 } }
                """, seed: seed)
            let t = o.fault(1).startNs
            let taken = try #require(o.keyChanges.first { $0.t > t && $0.holder == "db2" }, "seed \(seed): no switchover")
            #expect(seconds(taken.t - t) < 12, "seed \(seed): db2 took the key \(seconds(taken.t - t)) s after the request")
        }
    }

    /// `systemctl stop patroni` on the primary: PostgreSQL stops in fast mode, the watchdog is
    /// disabled, and the leader key is deleted, so a replica (woken by the watch) takes over
    /// within a loop instead of after ttl; the host is not reset.
    @Test("a graceful Patroni stop hands the leader key over within a loop, without a watchdog reset")
    func gracefulStop() throws {
        for seed in UInt64(1)...4 {
            let o = try simulate(Self.separate + """

                patroni: { watchdog: { mode: required } }
                faults: [ { at: 60s, stop: db1/patroni } ]
                """, seed: seed)
            let t0 = o.fault(0).startNs
            let released = try #require(o.keyChanges.first { $0.t > t0 && $0.holder == nil })
            let next = try #require(o.keyChanges.first { $0.t > t0 && $0.holder != nil && $0.holder != "db1" })
            #expect(seconds(released.t - t0) < 5, "seed \(seed): key released \(seconds(released.t - t0)) s after the stop")
            #expect(seconds(next.t - released.t) < 10.5, "seed \(seed): next leader \(seconds(next.t - released.t)) s after the release")
            #expect(o.entries(Kind.watchdogReset).isEmpty)
            #expect((o.rto ?? .max) < 20 * Time.s, "seed \(seed): RTO \(seconds(o.rto))")
        }
    }
}
