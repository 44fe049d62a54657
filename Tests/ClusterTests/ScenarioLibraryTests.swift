import Testing
import Foundation
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// The repository's `Scenarios/` folder, found from this file's path.
let scenariosDir: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Scenarios").path
}()

func libraryScenario(_ name: String, seed: UInt64? = nil, set: [String] = [], keepEveryWrite: Bool = false) throws -> Outcome {
    let path = scenariosDir + "/" + name
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try simulate(text, seed: seed, set: set, keepEveryWrite: keepEveryWrite)
}

let libraryFiles: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: scenariosDir)) ?? [])
    .filter { $0.hasSuffix(".yml") }.sorted()

@Suite("The scenario library")
struct ScenarioLibraryTests {
    @Test("the library has at least twelve scenarios, each with a description and expectations")
    func libraryShape() throws {
        #expect(libraryFiles.count >= 12)
        for f in libraryFiles {
            let text = try String(contentsOfFile: scenariosDir + "/" + f, encoding: .utf8)
            guard case .success(let s) = ScenarioLoader.load(text: text, file: f) else {
                Issue.record("\(f) does not load")
                continue
            }
            #expect(s.description.count > 80, "\(f): describe the real situation it reproduces")
            #expect(!s.expectations.isEmpty, "\(f) asserts nothing")
        }
    }

    @Test("every scenario's expectations hold on its own seed", arguments: libraryFiles)
    func expectationsHold(file: String) throws {
        let o = try libraryScenario(file)
        for e in o.findings.expectations where !e.ok {
            Issue.record("\(file): \(e.name): \(e.detail)")
        }
        #expect(o.findings.violations.isEmpty, "\(file): \(o.findings.violations.map(\.detail))")
    }

    @Test("partition.yml (the README's default): a non-zero RTO whose phases add up, nothing lost in synchronous mode")
    func partitionDefault() throws {
        let o = try libraryScenario("partition.yml")
        #expect(o.scenario.patroni.synchronousMode == .on)
        let r = try #require(o.findings.rto.first)
        let rto = try #require(r.rtoNs)
        #expect(rto > 10 * Time.s)
        #expect(r.phases.count == 5)
        #expect(r.phases.allSatisfy { $0.durationNs != nil })
        #expect(r.phases.compactMap(\.durationNs).reduce(0, +) == rto)
        #expect(o.findings.rpo?.lostWrites == 0)
        #expect(o.findings.splitBrain?.kinds.allSatisfy { $0.totalNs == 0 } == true)
    }

    @Test("patroni-hang without a watchdog reports a split brain with acknowledged writes on the losing side; with one, none")
    func hangWithAndWithoutWatchdog() throws {
        let without = try libraryScenario("patroni-hang.yml")
        let t = try #require(without.findings.splitBrain?.kinds.first { $0.name == "timelines" })
        #expect(t.totalNs > 0)
        #expect((t.losingAcks ?? 0) > 0)
        let with = try libraryScenario("patroni-hang-watchdog.yml")
        #expect(with.findings.splitBrain?.kinds.allSatisfy { $0.totalNs == 0 } == true)
        #expect(!with.entries(Kind.watchdogReset).isEmpty)
    }

    @Test("etcd-leader-loss: the timeline shows the etcd election, the lease reset and the late expiry")
    func etcdLeaderLoss() throws {
        let o = try libraryScenario("etcd-leader-loss.yml")
        let crash = o.fault(1)
        // The crashed host was the etcd leader and held the Patroni leader key.
        let leaderBefore = o.entries(Kind.etcdLeader).last { $0.timeNs < crash.startNs }?.detail["leader"]?.stringValue
        #expect(leaderBefore == crash.resolved)
        let keyBefore = o.keyChanges.last { $0.t < crash.startNs }?.holder
        #expect(keyBefore == crash.resolved)
        let elected = try #require(o.first(Kind.etcdLeader, after: crash.startNs))
        #expect(elected.detail["leader"]?.stringValue != crash.resolved)
        let reset = try #require(o.first(Kind.leaseReset, after: crash.startNs))
        #expect(reset.timeNs >= elected.timeNs)
        #expect(reset.detail["expire_in_s"]?.intValue == 31)
        let expired = try #require(o.keyChanges.first { $0.t > crash.startNs && $0.holder == nil })
        #expect(expired.cause == "expired")
        #expect(expired.t - reset.timeNs >= 31 * Time.s && expired.t - reset.timeNs <= 31 * Time.s + 600 * Time.ms)
        #expect((o.phase("detection", fault: 1) ?? 0) >= 31 * Time.s)
    }
}

@Suite("HAProxy detection timing")
struct HAProxyTimingTests {
    static let base = """
        name: t
        duration: 100s
        topology: etcd-separate
        haproxy: { inter: 3s, fall: 3, rise: 2 }
        workload: { clients: 1, rate: 5/s }
        """

    func downAfter(_ fault: String, seed: UInt64) throws -> Double {
        let o = try simulate(Self.base + "\nfaults: [ { at: 40s, jitter: 10s, \(fault) } ]\n", seed: seed)
        let t0 = o.fault(0).startNs
        let down = o.first(Kind.serverState, after: t0) {
            $0.detail["backend"]?.stringValue == "write" && $0.detail["server"]?.stringValue == "db1" && $0.detail["up"]?.boolValue == false
        }
        let d = try #require(down)
        return seconds(d.timeNs - t0)
    }

    /// traffic-and-data.md §1.3: T_down = U(0, I) + D + (fall − 1)(I + D). A refusing node fails
    /// each check at once (D ≈ 0): 6–9 s; a black-holed one costs the check timeout (here inter,
    /// 3 s) per check: 15–18 s. With the same seed both see the same check schedule, so the
    /// difference is exactly fall × D = 9 s.
    @Test("a black-holed primary is marked DOWN later than a refusing one, by fall × the check timeout", arguments: 1...6)
    func blackHoledVersusRefusing(seed: UInt64) throws {
        let refusing = try downAfter("kill: db1/patroni", seed: seed)
        let blackHoled = try downAfter("crash: db1", seed: seed)
        #expect(refusing >= 6 && refusing <= 9.05, "refusing: DOWN after \(refusing) s")
        #expect(blackHoled >= 15 && blackHoled <= 18.05, "black-holed: DOWN after \(blackHoled) s")
        #expect(abs(blackHoled - refusing - 9) < 0.05, "difference \(blackHoled - refusing) s")
    }

    @Test("a paused Patroni (no answer) is marked DOWN like a black-holed host")
    func pausedIsSilent() throws {
        let paused = try downAfter("pause: db1/patroni", seed: 3)
        let blackHoled = try downAfter("crash: db1", seed: 3)
        #expect(abs(paused - blackHoled) < 0.05)
    }
}

@Suite("Determinism in one process")
struct DeterminismTests {
    @Test("same scenario and seed give the same trace hash and findings; another seed another hash")
    func sameSeedSameHash() throws {
        let a = try libraryScenario("primary-crash.yml", seed: 5, set: ["duration=6m"])
        let b = try libraryScenario("primary-crash.yml", seed: 5, set: ["duration=6m"])
        let c = try libraryScenario("primary-crash.yml", seed: 6, set: ["duration=6m"])
        #expect(a.run.traceHash == b.run.traceHash)
        #expect(a.run.events == b.run.events)
        #expect(a.findings.rto.first?.rtoNs == b.findings.rto.first?.rtoNs)
        #expect(a.run.traceHash != c.run.traceHash)
    }
}
