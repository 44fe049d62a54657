import Testing
import SimCore
import Recording
import Scenario
@testable import Analysis

/// Findings computed from hand-built histories: every number below follows from the records,
/// not from a simulation.
/// Seconds to nanoseconds, rounded (136.2 s is 136_200_000_000 ns, not one less).
func ns(_ s: Double) -> Nanos { Nanos((s * 1e9).rounded()) }

@Suite("Findings on constructed histories")
struct AnalyzerTests {
    /// The WAL histories of the constructed run (the servers' state, not the recorder's).
    let history = WalHistory()

    /// A three-node history: db1 primary on fork 0 (timeline 1), a crash at 100 s, db2's key at
    /// 130 s, db2 writable on fork 1 (timeline 2, branched at LSN 5000) at 131 s, HAProxy UP for
    /// db2 at 135 s.
    func failoverHistory() -> Recorder {
        let rec = Recorder()
        let f0 = history.newFork(parent: nil, switchLsn: 0, timeline: 1, host: "db1", at: 0)
        let f1 = history.newFork(parent: f0, switchLsn: 5000, timeline: 2, host: "db2", at: 131 * Time.s)
        #expect(f1 == f0 + 1)
        rec.log(0, "db1", "etcd", Kind.leaderKey, Detail.leaderKey(holder: "db1", cause: "acquired", revision: 2))
        rec.log(0, "db1", "postgres", Kind.pgWritable, Detail.pgWritable(true, fork: 0, timeline: 1, why: "started as primary"))
        rec.log(0, "haproxy1", "haproxy", Kind.serverState, Detail.serverState(backend: "write", server: "db1", up: true, checks: "L7OK"))
        rec.faults.append(FaultRecord(index: 0, kind: "crash", target: "db1", resolved: "db1", startNs: 100 * Time.s, endNs: nil, disrupts: true))
        rec.log(100 * Time.s, "db1", "postgres", Kind.pgWritable, Detail.pgWritable(false, fork: 0, timeline: 1, why: "crashed"))
        rec.log(105 * Time.s, "haproxy1", "haproxy", Kind.serverState, Detail.serverState(backend: "write", server: "db1", up: false, checks: "L4TOUT"))
        rec.log(128 * Time.s, "", "etcd", Kind.leaderKey, Detail.leaderKey(holder: nil, cause: "expired", revision: 9))
        rec.log(130 * Time.s, "db2", "etcd", Kind.leaderKey, Detail.leaderKey(holder: "db2", cause: "acquired", revision: 10))
        rec.log(131 * Time.s, "db2", "postgres", Kind.pgWritable, Detail.pgWritable(true, fork: 1, timeline: 2, why: "promoted"))
        rec.log(135 * Time.s, "haproxy1", "haproxy", Kind.serverState, Detail.serverState(backend: "write", server: "db2", up: true, checks: "L7OK"))
        return rec
    }

    func write(_ rec: Recorder, sent: Double, done: Double, _ outcome: WriteOutcome, fork: UInt32 = 0, lsn: Int64 = 0, host: Int16 = 0, direct: Int16 = -1) {
        let id = rec.newWrite(client: 0, directHost: direct, at: ns(sent), bytes: 100)
        rec.writes[Int(id)].doneNs = ns(done)
        rec.writes[Int(id)].outcome = outcome
        if outcome == .ok {
            rec.writes[Int(id)].committedAt = WalPosition(fork: fork, lsn: lsn)
            rec.writes[Int(id)].committedHost = host
        }
    }

    func record(_ rec: Recorder, final: [FinalPgState], duration: Double = 300) -> RunRecord {
        RunRecord(scenario: "t", seed: 1, durationNs: ns(duration), events: 0, traceHash: "0", wallSeconds: 0,
                  hosts: ["db1", "db2", "db3"], recorder: rec, forks: history.forks, finalPg: final, aborted: nil)
    }

    let db2Final = [FinalPgState(host: "db1", running: false, primary: false, flushed: WalPosition(fork: 0, lsn: 5200), timeline: 1),
                    FinalPgState(host: "db2", running: true, primary: true, flushed: WalPosition(fork: 1, lsn: 9000), timeline: 2)]

    @Test("RTO runs from the fault to the first acknowledged write after the outage, and its phases add up to it")
    func rtoPhases() {
        let rec = failoverHistory()
        write(rec, sent: 99, done: 99.01, .ok, lsn: 4900)
        write(rec, sent: 100.5, done: 110, .failed)
        write(rec, sent: 120, done: 125, .failed)
        write(rec, sent: 136, done: 136.2, .ok, fork: 1, lsn: 6000, host: 1)
        write(rec, sent: 137, done: 137.01, .ok, fork: 1, lsn: 6100, host: 1)
        let f = Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario())
        let r = try! #require(f.rto.first)
        #expect(r.outage)
        #expect(r.rtoNs == ns(36.2))
        #expect(r.oldPrimary == "db1" && r.newPrimary == "db2")
        let byName = Dictionary(uniqueKeysWithValues: r.phases.map { ($0.name, $0.durationNs) })
        #expect(byName["detection"] == 28 * Time.s)
        #expect(byName["election"] == 2 * Time.s)
        #expect(byName["promotion"] == 1 * Time.s)
        #expect(byName["traffic"] == 4 * Time.s)
        #expect(byName["clients"] == ns(1.2))
        #expect(r.phases.compactMap(\.durationNs).reduce(0, +) == r.rtoNs)
    }

    @Test("writes that never stopped give RTO 0; a write slower than the stall threshold counts as an outage")
    func noOutageAndStall() {
        let rec = failoverHistory()
        write(rec, sent: 101, done: 101.01, .ok, lsn: 4950)
        write(rec, sent: 102, done: 102.01, .ok, lsn: 4960)
        var f = Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario())
        #expect(f.rto.first?.outage == false && f.rto.first?.rtoNs == 0)

        write(rec, sent: 103, done: 106, .ok, lsn: 4970)   // a 3 s commit: a stall
        write(rec, sent: 107, done: 107.01, .ok, lsn: 4980)
        f = Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario())
        #expect(f.rto.first?.outage == true)
        #expect(f.rto.first?.rtoNs == ns(7.01))
    }

    @Test("an acknowledged write missing from the final primary's history is lost; an indeterminate one never counts")
    func lostWrite() {
        let rec = failoverHistory()
        write(rec, sent: 98, done: 98.01, .ok, lsn: 4990)          // before the branch point: kept
        write(rec, sent: 99, done: 99.01, .ok, lsn: 5100)          // after it on the old timeline: lost
        write(rec, sent: 99.5, done: 99.51, .ok, lsn: 5150)        // lost
        write(rec, sent: 99.9, done: 100.0, .indeterminate)       // never counted
        write(rec, sent: 136, done: 136.2, .ok, fork: 1, lsn: 6000, host: 1)
        let f = Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario())
        let rpo = try! #require(f.rpo)
        #expect(rpo.lostWrites == 2)
        #expect(rpo.lostBytes == 200)
        #expect(rpo.finalPrimary == "db2")
        // From the first lost acknowledgement to the fault that cut the history off.
        #expect(rpo.windowNs == ns(100.0) - ns(99.01))
        #expect(f.writes?.indeterminate == 1)
    }

    @Test("two writable PostgreSQL instances at once are a split brain, a hand-over at one instant is not")
    func writableOverlap() {
        let rec = failoverHistory()
        // db1 comes back writable at 200 s and stays so for 7 s.
        rec.log(200 * Time.s, "db1", "postgres", Kind.pgWritable, Detail.pgWritable(true, fork: 0, timeline: 1, why: "restarted"))
        rec.log(207 * Time.s, "db1", "postgres", Kind.pgWritable, Detail.pgWritable(false, fork: 0, timeline: 1, why: "demoted"))
        let sb = try! #require(Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario()).splitBrain)
        let w = try! #require(sb.kinds.first { $0.name == "writable" })
        #expect(w.totalNs == 7 * Time.s)
        #expect(w.intervals.count == 1)
        let clean = try! #require(Analyzer.analyze(record(failoverHistory(), final: db2Final), scenario: Scenario()).splitBrain)
        #expect(clean.kinds.first { $0.name == "writable" }?.totalNs == 0)
    }

    @Test("two servers UP in one write backend at once are a split brain")
    func backendOverlap() {
        let rec = failoverHistory()
        rec.log(136 * Time.s, "haproxy1", "haproxy", Kind.serverState, Detail.serverState(backend: "write", server: "db3", up: true, checks: "L7OK"))
        rec.log(139 * Time.s, "haproxy1", "haproxy", Kind.serverState, Detail.serverState(backend: "write", server: "db3", up: false, checks: "L7STS"))
        let sb = try! #require(Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario()).splitBrain)
        #expect(sb.kinds.first { $0.name == "backend" }?.totalNs == 3 * Time.s)
    }

    @Test("two timelines acknowledging writes at once, with the losing side's acknowledged writes counted")
    func timelineOverlap() {
        let rec = failoverHistory()
        // db1 kept acknowledging direct writes on timeline 1 until 140 s; db2 acknowledges from 136 s.
        write(rec, sent: 90, done: 90.01, .ok, lsn: 4000)
        write(rec, sent: 137.5, done: 137.6, .ok, lsn: 5300, direct: 0)
        write(rec, sent: 139.9, done: 140, .ok, lsn: 5400, direct: 0)
        write(rec, sent: 136, done: 136.2, .ok, fork: 1, lsn: 6000, host: 1)
        write(rec, sent: 150, done: 150.1, .ok, fork: 1, lsn: 7000, host: 1)
        let f = Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario())
        let t = try! #require(f.splitBrain?.kinds.first { $0.name == "timelines" })
        #expect(t.totalNs == ns(140) - ns(136.2))
        #expect(t.losingAcks == 2)
        #expect(f.rpo?.lostWrites == 2)
    }

    @Test("a write still pending at the end of the run is not an outage")
    func pendingAtEnd() {
        let rec = failoverHistory()
        write(rec, sent: 101, done: 101.01, .ok, lsn: 4950)
        let id = rec.newWrite(client: 0, directHost: -1, at: ns(299.9), bytes: 100)
        #expect(rec.writes[Int(id)].outcome == .pending)
        let f = Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario())
        #expect(f.rto.first?.outage == false)
    }

    @Test("a read served from a history without the last acknowledged write is stale")
    func staleRead() {
        let rec = failoverHistory()
        write(rec, sent: 10, done: 10.01, .ok, lsn: 1000)
        // Each read carries the latest write acknowledged before it was sent (the recorder's
        // `latestAck(before:)`).
        let mustSee = WalPosition(fork: 0, lsn: 1000)
        rec.reads.append(ReadRecord(sentNs: 11 * Time.s, doneNs: ns(11.01), host: 1, ok: true, servedAt: WalPosition(fork: 0, lsn: 900), mustSee: mustSee))
        rec.reads.append(ReadRecord(sentNs: 12 * Time.s, doneNs: ns(12.01), host: 2, ok: true, servedAt: WalPosition(fork: 0, lsn: 1000), mustSee: mustSee))
        let s = try! #require(Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario()).staleReads)
        #expect(s.reads == 2 && s.stale == 1)
    }

    @Test("a promotion without a synchronously confirmed commit breaks Patroni's promise (sync_commit_lost)")
    func syncLost() {
        let rec = failoverHistory()
        rec.log(ns(130.5), "db2", "postgres", Kind.pgState, .object([("state", "promoting")]))
        write(rec, sent: 99, done: 99.01, .ok, lsn: 5100)
        rec.writes[0].syncConfirmed = true
        var s = Scenario()
        s.patroni.synchronousMode = .on
        let f = Analyzer.analyze(record(rec, final: db2Final), scenario: s)
        #expect(f.rpo?.lostWrites == 1)
        let v = f.violations.filter { $0.kind == "sync_commit_lost" }
        #expect(v.count == 1)
        #expect(v.first?.detail.contains("db2 was promoted to timeline 2 without 1 commit(s)") == true)
        #expect(f.rpo?.causes.contains { $0.contains("where db2 was promoted to timeline 2") } == true)
    }

    @Test("an operator's failover to an asynchronous candidate may lose confirmed commits: Patroni allows it, the loss is explained")
    func asyncFailoverAllowed() {
        let rec = failoverHistory()
        rec.log(ns(120), "db2", "patroni", "failover", .object([("leader", .null), ("candidate", "db2"), ("async_candidate", true)]))
        write(rec, sent: 99, done: 99.01, .ok, lsn: 5100)
        rec.writes[0].syncConfirmed = true
        var s = Scenario()
        s.patroni.synchronousMode = .on
        let f = Analyzer.analyze(record(rec, final: db2Final), scenario: s)
        #expect(f.rpo?.lostWrites == 1)
        #expect(!f.violations.contains { $0.kind == "sync_commit_lost" })
        #expect(f.rpo?.causes.contains { $0.contains("an asynchronous candidate") } == true)
    }

    @Test("confirmed commits whose every copy was destroyed are lost, but no promotion broke the promise")
    func copiesDestroyed() {
        let rec = Recorder()
        _ = history.newFork(parent: nil, switchLsn: 0, timeline: 1, host: "db1", at: 0)
        rec.log(0, "db1", "etcd", Kind.leaderKey, Detail.leaderKey(holder: "db1", cause: "acquired", revision: 2))
        write(rec, sent: 50, done: 50.01, .ok, lsn: 5100)
        rec.writes[0].syncConfirmed = true
        rec.log(ns(60), "db1", "postgres", Kind.pgState, .object([("state", "data directory lost")]))
        rec.log(ns(61), "db2", "postgres", Kind.pgState, .object([("state", "data directory lost")]))
        let final = [FinalPgState(host: "db1", running: false, primary: false, flushed: .none, timeline: 1),
                     FinalPgState(host: "db2", running: false, primary: false, flushed: .none, timeline: 1),
                     FinalPgState(host: "db3", running: true, primary: false, flushed: WalPosition(fork: 0, lsn: 4000), timeline: 1)]
        var s = Scenario()
        s.patroni.synchronousMode = .on
        let f = Analyzer.analyze(record(rec, final: final), scenario: s)
        #expect(f.rpo?.lostWrites == 1)
        #expect(f.rpo?.finalPrimary == "db3")
        #expect(f.rpo?.measuredAgainst?.contains("most advanced surviving copy") == true)
        #expect(f.rpo?.causes.contains { $0.contains("db2 lost its data directory") } == true)
        #expect(f.violations.isEmpty)
    }

    @Test("a write acknowledged before the fault is not the recovery from it: RTO is never negative")
    func rtoNeverNegative() {
        let rec = failoverHistory()
        // Sent before the crash at 100 s; one fails after it, one is acknowledged before it.
        write(rec, sent: 99.2, done: 100.5, .failed)
        write(rec, sent: 99.3, done: 99.4, .ok, lsn: 4900)
        write(rec, sent: 136, done: 136.2, .ok, fork: 1, lsn: 6000, host: 1)
        let f = Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario())
        let r = try! #require(f.rto.first)
        #expect(r.rtoNs == ns(36.2))
        // The failed write had waited a second (the stall threshold) at 100.2 s.
        #expect(r.outageStartNs == ns(100.2))
    }

    @Test("lost writes acknowledged during a split brain are the losing side; locally committed ones are named")
    func losingSide() {
        let rec = failoverHistory()
        // db1 is still writable while db2 is promoted: a split brain from 131 s to 140 s.
        rec.timeline = Timeline(rec.timeline.filter { !($0.kind == Kind.pgWritable && $0.host == "db1" && $0.detail["writable"]?.boolValue == false) })
        rec.log(140 * Time.s, "db1", "postgres", Kind.pgWritable, Detail.pgWritable(false, fork: 0, timeline: 1, why: "demoted"))
        write(rec, sent: 132, done: 133, .ok, lsn: 5300)
        rec.writes[0].error = .syncWaitCancelled
        let f = Analyzer.analyze(record(rec, final: db2Final), scenario: Scenario())
        #expect(f.rpo?.lostWrites == 1 && f.rpo?.lostLocalOnly == 1)
        #expect(f.splitBrain?.losingAcks == 1)
        #expect(f.rpo?.causes.contains { $0.contains("cancelled their synchronous-replication wait") } == true)
    }
}

@Suite("Findings: simultaneous faults, unrecovered outages, causes, the findings document")
struct AnalyzerIssue12Tests {
    let base = AnalyzerTests()

    @Test("two faults at one instant share one outage: each gets all of it, the later points to the first")
    func simultaneousFaults() {
        let rec = base.failoverHistory()
        rec.faults.append(FaultRecord(index: 1, kind: "kill", target: "etcd1/etcd", resolved: "etcd1", startNs: 100 * Time.s, endNs: nil, disrupts: true))
        base.write(rec, sent: 100.5, done: 110, .failed)
        base.write(rec, sent: 136, done: 136.2, .ok, fork: 1, lsn: 6000, host: 1)
        let f = Analyzer.analyze(base.record(rec, final: base.db2Final), scenario: Scenario())
        let a = f.rto.first { $0.faultIndex == 0 }!, b = f.rto.first { $0.faultIndex == 1 }!
        #expect(a.rtoNs == ns(36.2) && b.rtoNs == ns(36.2))
        #expect(a.sameOutageAs == nil && b.sameOutageAs == 0)
    }

    @Test("an outage that never recovers has no 'first acknowledged write' phase end")
    func unrecoveredClientsPhase() {
        let rec = base.failoverHistory()
        base.write(rec, sent: 100.5, done: 110, .failed)
        let f = Analyzer.analyze(base.record(rec, final: base.db2Final), scenario: Scenario())
        let r = f.rto.first!
        #expect(r.rtoNs == nil)
        let clients = r.phases.first { $0.name == "clients" }!
        #expect(clients.atNs == nil)
        #expect(clients.detail == "no acknowledged write by the end of the run")
    }

    @Test("detection's cause names the last lease refresh and ttl")
    func detectionCause() {
        let rec = base.failoverHistory()
        rec.log(97_500 * Time.ms, "db1", "etcd", Kind.leaderLease, .object([("holder", "db1"), ("ttl_s", 30)]))
        base.write(rec, sent: 100.5, done: 110, .failed)
        base.write(rec, sent: 136, done: 136.2, .ok, fork: 1, lsn: 6000, host: 1)
        let f = Analyzer.analyze(base.record(rec, final: base.db2Final), scenario: Scenario())
        let d = f.rto.first!.phases.first { $0.name == "detection" }!
        #expect(d.cause == "the leader key expired 28 s after the crash = its last refresh 2.5 s before it + ttl 30 s + 0.5 s to the lessor's next 500 ms scan")
    }

    @Test("the findings document round-trips exactly")
    func documentRoundTrip() throws {
        let rec = base.failoverHistory()
        base.write(rec, sent: 99, done: 99.01, .ok, lsn: 4900)
        base.write(rec, sent: 100.5, done: 110, .failed)
        base.write(rec, sent: 136, done: 136.2, .ok, fork: 1, lsn: 6000, host: 1)
        let f = Analyzer.analyze(base.record(rec, final: base.db2Final), scenario: Scenario())
        let text = f.document.text
        let back = try Findings(document: try JSON.parse(text))
        #expect(back.document.text == text)
        #expect(back.rto.first?.phases.map(\.name) == ["detection", "election", "promotion", "traffic", "clients"])
    }

    @Test("JSON text parses back as written: key order, integers exact, escapes")
    func jsonParse() throws {
        let v: JSON = .object([("b", 1), ("a", .array([.int(9_007_199_254_740_993), .double(1.5), .null, true])),
                               ("s", .string("q\"\\\n\u{1}é😀"))])
        #expect(try JSON.parse(v.text) == v)
        #expect(try JSON.parse(" [ 1 , {\"x\" : -2.5e3} ] ") == .array([.int(1), .object([("x", .double(-2500))])]))
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"open", "1 2", "{\"a\":1}}"] {
            #expect(throws: JSON.ParseError.self) { try JSON.parse(bad) }
        }
    }
}
