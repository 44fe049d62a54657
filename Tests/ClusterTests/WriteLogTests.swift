import Testing
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// The write log folds the writes the findings need only as counts (`WriteSpan`): every finding
/// must be the one the per-write record gives.
@Suite("Folded write records")
struct WriteLogTests {
    static func same(_ folded: Outcome, _ full: Outcome, _ what: String) {
        #expect(folded.run.traceHash == full.run.traceHash, "\(what): folding must not touch the simulation")
        #expect(folded.run.writeCount == full.run.writeCount, "\(what)")
        #expect(full.run.writeSpans.isEmpty)
        #expect(folded.findings.document.text == full.findings.document.text, "\(what): findings differ")
        let a = WriteSeries.of(folded.run, lostIds: folded.findings.rpo?.lostIds ?? [])
        let b = WriteSeries.of(full.run, lostIds: full.findings.rpo?.lostIds ?? [])
        #expect(a == b, "\(what): the write chart differs")
        #expect(!folded.findings.violations.contains { $0.kind == "write_log" }, "\(what)")
    }

    @Test("every library scenario: the same findings and chart with and without folding, on another seed", arguments: libraryFiles)
    func libraryAgrees(file: String) throws {
        let folded = try libraryScenario(file, seed: 7)
        let full = try libraryScenario(file, seed: 7, keepEveryWrite: true)
        Self.same(folded, full, file)
    }

    @Test("asynchronous loss, split brain and synchronous promotion over seeds: the same findings", arguments: 1...4)
    func lossyScenariosAgree(seed: UInt64) throws {
        for file in ["primary-crash.yml", "patroni-hang.yml", "lagging-replica.yml", "primary-crash-sync.yml"] {
            let folded = try libraryScenario(file, seed: seed, set: ["workload.rate=400/s"])
            let full = try libraryScenario(file, seed: seed, set: ["workload.rate=400/s"], keepEveryWrite: true)
            Self.same(folded, full, "\(file) seed \(seed)")
        }
    }

    @Test("a quiet stretch folds into few spans; the writes around the crash stay in full")
    func foldsQuietStretches() throws {
        let o = try libraryScenario("primary-crash.yml")
        let crash = o.fault(0)
        #expect(o.run.writeCount > 25_000)
        #expect(o.run.keptWrites.count * 4 < o.run.writeCount, "\(o.run.keptWrites.count) of \(o.run.writeCount) kept")
        #expect(!o.run.writeSpans.isEmpty && o.run.writeSpans.count < 50, "\(o.run.writeSpans.count) spans")
        // Every write near the crash, and every bad one, is kept in full.
        for sp in o.run.writeSpans {
            #expect(abs(sp.minSentNs - crash.startNs) > WriteLog.marginNs && abs(sp.maxSentNs - crash.startNs) > WriteLog.marginNs)
            #expect(!(sp.minSentNs < crash.startNs && sp.maxSentNs > crash.startNs), "a span straddles the crash")
        }
        #expect(o.run.keptWrites.contains { $0.outcome != .ok })
    }
}

/// The write log driven directly: writes in, spans and kept records out.
@Suite("Write log")
struct WriteLogUnitTests {
    /// A recorder whose servers have flushed history 0 up to `durable`.
    final class Box { var durable: Int64 = .max }

    static func recorder(_ box: Box) -> Recorder {
        let r = Recorder(durationNs: 600 * Time.s)
        r.durableLimit = { fork in fork == 0 ? box.durable : -1 }
        return r
    }

    /// One write a millisecond-long commit every `every` from `from`, acknowledged (or failed
    /// when `fail` says so); returns the last time used.
    @discardableResult
    static func writes(_ r: Recorder, from: Nanos, count: Int, every: Nanos, lsn: inout Int64, fail: (Int) -> Bool = { _ in false }) -> Nanos {
        var t = from
        for i in 0..<count {
            let id = r.newWrite(client: 0, directHost: -1, at: t, bytes: 100)
            if fail(i) {
                r.finishWrite(id, .failed, error: .connectionRefused, t + Time.ms)
            } else {
                lsn += 100
                r.finishWrite(id, .ok, error: .none, host: 0, at: WalPosition(fork: 0, lsn: lsn), t + Time.ms)
            }
            t += every
        }
        return t
    }

    @Test("prompt acknowledged durable writes fold into one span; counts, bytes and times are kept")
    func foldsPlainWrites() {
        let box = Box()
        let r = Self.recorder(box)
        var lsn: Int64 = 0
        Self.writes(r, from: 10 * Time.s, count: 20_000, every: 10 * Time.ms, lsn: &lsn)
        let run = RunRecord(scenario: "t", seed: 1, durationNs: 600 * Time.s, events: 0, traceHash: "", wallSeconds: 0, hosts: [],
                            recorder: r, forks: [], finalPg: [], aborted: nil)
        #expect(run.writeCount == 20_000)
        #expect(run.writeSpans.count == 1)
        let sp = run.writeSpans[0]
        #expect(sp.firstId == 0 && sp.minSentNs == 10 * Time.s && sp.minLsn == 100)
        #expect(sp.bytes == Int64(sp.count) * 100 && sp.latencyNs == Nanos(sp.count) * Time.ms)
        // The last `lagNs` of writes are still live, in full.
        #expect(run.keptWrites.count == 20_000 - Int(sp.count))
        #expect(run.keptWrites.count >= Int(WriteLog.lagNs / (10 * Time.ms)) - 1)
        #expect(run.writeTally.acked.reduce(0, +) == 20_000)
    }

    @Test("a failed write keeps every write within the margin of it in full, and splits the spans")
    func badWriteKeepsNeighbours() {
        let box = Box()
        let r = Self.recorder(box)
        var lsn: Int64 = 0
        // 200 s of writes every 10 ms; the one at 108 s fails.
        Self.writes(r, from: 10 * Time.s, count: 20_000, every: 10 * Time.ms, lsn: &lsn) { $0 == 9_800 }
        let run = RunRecord(scenario: "t", seed: 1, durationNs: 600 * Time.s, events: 0, traceHash: "", wallSeconds: 0, hosts: [],
                            recorder: r, forks: [], finalPg: [], aborted: nil)
        let badSent = 10 * Time.s + 9_800 * 10 * Time.ms
        #expect(run.writeSpans.count == 2)
        for sp in run.writeSpans { #expect(sp.maxSentNs < badSent - WriteLog.marginNs || sp.minSentNs > badSent + WriteLog.marginNs) }
        let near = run.keptWrites.filter { abs($0.sentNs - badSent) <= WriteLog.marginNs }
        #expect(near.count == 1001)
    }

    @Test("a fault's start splits spans and keeps the writes near it; writes not yet durable everywhere wait")
    func faultEdgesAndDurability() {
        let box = Box()
        box.durable = 0
        let r = Self.recorder(box)
        var lsn: Int64 = 0
        r.faults.append(FaultRecord(index: 0, kind: "crash", target: "primary", resolved: "db1", startNs: 60 * Time.s, endNs: nil, disrupts: true))
        var t = Self.writes(r, from: 2 * Time.s, count: 10_000, every: 10 * Time.ms, lsn: &lsn)
        // Nothing was durable everywhere: nothing folded, every write is still live.
        #expect(r.writes.count == 10_000)
        var run = RunRecord(scenario: "t", seed: 1, durationNs: 600 * Time.s, events: 0, traceHash: "", wallSeconds: 0, hosts: [],
                            recorder: r, forks: [], finalPg: [], aborted: nil)
        #expect(run.writeSpans.isEmpty && run.keptWrites.count == 10_000)
        box.durable = .max
        t = Self.writes(r, from: t, count: 5_000, every: 10 * Time.ms, lsn: &lsn)
        run = RunRecord(scenario: "t", seed: 1, durationNs: 600 * Time.s, events: 0, traceHash: "", wallSeconds: 0, hosts: [],
                        recorder: r, forks: [], finalPg: [], aborted: nil)
        #expect(run.writeSpans.count == 2)
        #expect(run.writeSpans.allSatisfy { $0.maxSentNs < 60 * Time.s - WriteLog.marginNs || $0.minSentNs > 60 * Time.s + WriteLog.marginNs })
        #expect(run.writeCount == 15_000)
        // Folded ids still answer, as their span knows them.
        let folded = r.writes[Int(run.writeSpans[0].firstId) + 5]
        #expect(folded.outcome == .ok && folded.committedAt.fork == 0)
    }

    @Test("the outage threshold the analysis uses is the one the log folds by, and the margin covers it")
    func thresholds() {
        #expect(Analyzer.stallNs == WriteLog.stallNs)
        #expect(WriteLog.marginNs >= WriteLog.stallNs)
        #expect(WriteLog.lagNs > WriteLog.marginNs + WriteLog.stallNs)
    }

    @Test("a read must see the latest write acknowledged before it was sent, not one acknowledged at the same instant")
    func latestAck() {
        let r = Recorder(durationNs: 60 * Time.s)
        let a = r.newWrite(client: 0, directHost: -1, at: 0, bytes: 1)
        let b = r.newWrite(client: 1, directHost: -1, at: 0, bytes: 1)
        #expect(r.latestAck(before: Time.s) == .none)
        r.finishWrite(b, .ok, error: .none, host: 0, at: WalPosition(fork: 0, lsn: 200), Time.s)
        r.finishWrite(a, .ok, error: .none, host: 0, at: WalPosition(fork: 0, lsn: 100), Time.s)
        #expect(r.latestAck(before: Time.s) == .none)
        // At one instant, the higher id is the later acknowledgement (as a sort by time keeps ids in order).
        #expect(r.latestAck(before: Time.s + 1) == WalPosition(fork: 0, lsn: 200))
    }
}
