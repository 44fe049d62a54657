import Testing
import Settings
import SimCore
import Recording
@testable import Postgres

func syncConfig(_ level: SyncCommit = .on) -> PgConfig {
    var c = PgConfig()
    c.synchronousCommit = level
    c.walFsync = Latency(.constant(500 * Time.us))
    return c
}

@Suite("PostgreSQL: commits and synchronous replication")
struct CommitTests {
    @Test("an async commit is acknowledged before the standby has it, and is lost when the primary crashes")
    func asyncLoss() {
        let h = PgHarness(config: syncConfig())
        h.fabric.net.setLink(0, 1, .init(latency: Latency(.constant(5 * Time.ms))))   // a slower standby link
        h.startCluster()
        let id = h.write()
        h.run(for: 2 * Time.ms)
        guard let (_, status, at) = h.results[id] else { Issue.record("no ack"); return }
        #expect(status == .ok)
        #expect(h.nodes[1].flushLSN < at.lsn, "the standby does not have it yet")
        h.crash(0)
        h.fabric.setHostUp(0, false)
        h.nodes[1].promote(h)
        h.run(for: 2 * Time.s)
        #expect(h.nodes[1].isWritable)
        #expect(!h.walHistory.contains(h.nodes[1].durablePosition, at), "the acknowledged write is gone")
    }

    /// synchronous_commit = on with FIRST 1 (pg1): the primary crashes at a random moment under
    /// write load; pg1 is promoted; every write the client saw acknowledged must be in its
    /// history.
    @Test("synchronous commit loses no acknowledged write when the primary crashes (1,000 seeds)")
    func syncNoLoss() {
        var acked = 0
        for seed in 0..<1000 {
            var r = Rng(seed: UInt64(seed) &+ 99)
            var cfg = syncConfig()
            cfg.walFsync = Latency(.lognormal(median: 600 * Time.us, sigma: 0.6), floorNs: 100 * Time.us)
            let h = PgHarness(n: 3, config: cfg, seed: UInt64(seed), latency: Latency(.lognormal(median: 300 * Time.us, sigma: 0.5), floorNs: 50 * Time.us))
            h.startCluster()
            h.nodes[0].setSyncNames(SyncStandbyNames.parse("FIRST 1 (pg1)")!, h)
            let crashAt = h.now + Nanos(50 + r.below(250)) * Time.ms
            while h.now < crashAt {
                h.write()
                h.run(for: Nanos(1 + r.below(3)) * Time.ms)
            }
            h.crash(0)
            h.fabric.setHostUp(0, false)
            h.run(for: 50 * Time.ms)
            h.nodes[1].promote(h)
            h.run(for: 2 * Time.s)
            let end = h.nodes[1].durablePosition
            for (id, res) in h.results where res.1 == .ok {
                acked += 1
                #expect(h.walHistory.contains(end, res.2), "seed \(seed): acknowledged write \(id) lost")
                #expect(h.recorder.writes[Int(id)].syncConfirmed)
            }
        }
        #expect(acked > 50_000)
    }

    @Test("remote_write waits for the standby's write, on for its flush, remote_apply for its replay")
    func levels() {
        var latency: [SyncCommit: Nanos] = [:]
        for level in [SyncCommit.local, .remoteWrite, .on, .remoteApply] {
            var cfg = syncConfig(level)
            cfg.replayDelayNs = 100 * Time.ms
            let h = PgHarness(config: cfg)
            h.nodes[1].walFsync = Latency(.constant(20 * Time.ms))
            h.startCluster()
            h.nodes[0].setSyncNames(SyncStandbyNames.parse("pg1")!, h)
            let id = h.write()
            h.run(for: 1 * Time.s)
            latency[level] = h.latency(id)
        }
        #expect(latency[.local]! < 2 * Time.ms)                       // local flush only
        #expect(latency[.remoteWrite]! < 3 * Time.ms)                 // no standby fsync
        #expect(latency[.on]! >= 20 * Time.ms && latency[.on]! < 25 * Time.ms)
        #expect(latency[.remoteApply]! >= 100 * Time.ms)              // replay delay
    }

    @Test("with the only sync standby gone, commits wait until synchronous_standby_names changes; a cancelled wait is acknowledged but local")
    func blockedCommits() {
        let h = PgHarness(config: syncConfig())
        h.startCluster()
        h.nodes[0].setSyncNames(SyncStandbyNames.parse("FIRST 1 (pg1)")!, h)
        let before = h.write()
        h.run(for: 100 * Time.ms)
        #expect(h.results[before]?.1 == .ok)
        // The standby's host dies silently: its walsender lingers until wal_sender_timeout.
        h.openSession(100, on: 0)
        h.openSession(101, on: 0)
        h.crash(1)
        h.fabric.setHostUp(1, false)
        let blocked = h.write(session: 100), cancelled = h.write(session: 101)
        h.run(for: 90 * Time.s)
        #expect(h.results[blocked] == nil && h.results[cancelled] == nil, "commits wait indefinitely")
        #expect(h.nodes[0].senders.isEmpty, "the walsender timed out after 60 s")
        #expect(h.nodes[0].waitingCommits == 2)
        // A client cancel: COMMIT returns success with a warning; committed only locally.
        h.clientSend(101, .cancel(session: 101))
        h.run(for: 10 * Time.ms)
        #expect(h.results[cancelled]?.1 == .okLocalOnly)
        #expect(h.results[blocked] == nil)
        // Patroni (non-strict) empties synchronous_standby_names: the rest are released.
        h.nodes[0].setSyncNames(.none, h)
        h.run(for: 10 * Time.ms)
        #expect(h.results[blocked] != nil && h.results[cancelled] != nil)
        #expect(!h.recorder.writes[Int(blocked)].syncConfirmed && !h.recorder.writes[Int(cancelled)].syncConfirmed)
    }

    @Test("ANY 1 of two: one standby black-holed does not hold commits; FIRST 1 on it does, for wal_sender_timeout")
    func quorumVersusPriority() {
        for (ssn, blocks) in [("ANY 1 (pg1, pg2)", false), ("FIRST 1 (pg1, pg2)", true)] {
            let h = PgHarness(n: 3, config: syncConfig())
            h.startCluster()
            h.nodes[0].setSyncNames(SyncStandbyNames.parse(ssn)!, h)
            h.run(for: 100 * Time.ms)
            h.fabric.cut(0, 1); h.fabric.cut(1, 0)   // pg1 black-holed
            let id = h.write()
            h.run(for: 30 * Time.s)
            #expect((h.results[id] == nil) == blocks, "\(ssn)")
            h.run(for: 40 * Time.s)
            // After wal_sender_timeout the FIRST list falls through to pg2.
            #expect(h.results[id]?.1 == .ok, "\(ssn)")
        }
    }

    @Test("synchronous_standby_names parses as PostgreSQL does")
    func ssnParse() {
        #expect(SyncStandbyNames.parse("FIRST 2 (a, b, c)") == SyncStandbyNames(method: .priority, num: 2, names: ["a", "b", "c"]))
        #expect(SyncStandbyNames.parse("ANY 1 (\"db2\",\"db3\")") == SyncStandbyNames(method: .quorum, num: 1, names: ["db2", "db3"]))
        #expect(SyncStandbyNames.parse("a, b") == SyncStandbyNames(method: .priority, num: 1, names: ["a", "b"]))
        #expect(SyncStandbyNames.parse("2 (a, b)") == SyncStandbyNames(method: .priority, num: 2, names: ["a", "b"]))
        #expect(SyncStandbyNames.parse("")!.isEmpty)
        #expect(SyncStandbyNames.parse("FIRST x (a)") == nil)
        #expect(SyncStandbyNames.parse("*")!.priority(of: "anything") == 1)
    }
}

@Suite("PostgreSQL: timelines, recovery, rewind, re-clone")
struct TimelineTests {
    @Test("promotion replays what was received and creates timeline + 1 at that position")
    func promotion() {
        var cfg = PgConfig()
        cfg.replayRateBytesPerS = 10 * 1_048_576   // 10 MB/s: a visible replay backlog
        let h = PgHarness(config: cfg)
        h.startCluster()
        h.write(bytes: 20 << 20)
        h.run(for: 1 * Time.s)
        let received = h.nodes[1].receivedLSN
        #expect(h.nodes[1].replayLSN(h.now) < received)
        let t0 = h.now
        h.crash(0)
        h.nodes[1].promote(h)
        h.run(for: 10 * Time.s)
        #expect(h.nodes[1].timeline == 2)
        let f = h.walHistory.forks[Int(h.nodes[1].fork)]
        #expect(f.parent == 0 && f.switchLsn == received && f.timeline == 2)
        let promoted = h.recorder.timeline.first { $0.kind == Kind.pgPromoted }!
        // promote = fixed 300 ms + the replay backlog at 10 MB/s
        #expect(promoted.timeNs - t0 >= 300 * Time.ms + 1 * Time.s)
    }

    @Test("a former primary that wrote past the fork is refused streaming; after pg_rewind its post-fork commits are gone")
    func divergedRejoin() {
        let h = PgHarness(config: syncConfig())
        h.fabric.net.setLink(0, 1, .init(latency: Latency(.constant(20 * Time.ms))))
        h.startCluster()
        var ids: [UInt32] = []
        for _ in 0..<5 { ids.append(h.write()); h.run(for: 2 * Time.ms) }
        h.run(for: 5 * Time.ms)   // acked on pg0, not yet on pg1
        h.crash(0)
        h.fabric.setHostUp(0, false)
        h.nodes[1].promote(h)
        h.run(for: 2 * Time.s)
        let lost = ids.filter { h.results[$0]?.1 == .ok && !h.walHistory.contains(h.nodes[1].durablePosition, h.results[$0]!.2) }
        #expect(!lost.isEmpty)
        // The old primary comes back as a standby of the new one: refused.
        h.fabric.setHostUp(0, true)
        h.start(0, standbyOf: 1)
        h.run(for: 5 * Time.s)
        #expect(!h.nodes[0].isStreaming)
        #expect(h.recorder.timeline.contains { $0.kind == "streaming_refused" && $0.host == "pg0" })
        // pg_rewind, then it streams on timeline 2.
        h.nodes[0].stop(.fast, h)
        h.run(for: 3 * Time.s)
        // pg_rewind connects to its source and asks where its history stands.
        h.nodes[0].rewind(from: 1, h)
        h.run(for: 10 * Time.s)
        #expect(h.notes.contains { $0.0 == 0 && $0.1 == .rewound(ok: true) })
        h.start(0, standbyOf: 1)
        h.run(for: 5 * Time.s)
        #expect(h.nodes[0].isStreaming && h.nodes[0].timeline == 2)
        for id in lost { #expect(!h.walHistory.contains(h.nodes[0].durablePosition, h.results[id]!.2)) }
        #expect(h.recorder.timeline.contains { $0.kind == "wal_discarded" && $0.host == "pg0" })
    }

    @Test("pg_rewind against a source whose server is gone: 'could not connect to server: Connection refused', nothing discarded, the data directory left as it was")
    func rewindSourceRefused() {
        let h = PgHarness(config: syncConfig())
        h.startCluster()
        h.run(for: 1 * Time.s)
        h.nodes[0].stop(.fast, h)
        h.crash(1)   // the source's process is gone; its host refuses connections
        h.run(for: 3 * Time.s)
        let before = h.nodes[0].durablePosition
        h.nodes[0].rewind(from: 1, h)
        h.run(for: 2 * Time.s)
        #expect(h.notes.contains { $0.0 == 0 && $0.1 == .rewindSourceUnreachable })
        #expect(h.recorder.timeline.contains { $0.kind == "pg_rewind" && $0.detail["why"]?.stringValue == "could not connect to server: Connection refused" })
        #expect(h.nodes[0].durablePosition == before && h.nodes[0].state == .stopped)
    }

    @Test("pg_wal_replay_pause(): WAL keeps arriving and being flushed on the standby, replay stops; resumed, it catches up")
    func replayPause() {
        let h = PgHarness(config: syncConfig())
        h.startCluster()
        h.run(for: 1 * Time.s)
        h.nodes[1].setReplayPaused(true, h)
        let at = h.nodes[1].replayLSN(h.now)
        for _ in 0..<20 { _ = h.write(); h.run(for: 10 * Time.ms) }
        h.run(for: 1 * Time.s)
        #expect(h.nodes[1].flushLSN > at)
        #expect(h.nodes[1].replayLSN(h.now) == at)
        h.nodes[1].setReplayPaused(false, h)
        h.run(for: 1 * Time.s)
        #expect(h.nodes[1].replayLSN(h.now) == h.nodes[1].flushLSN)
        #expect(h.recorder.timeline.contains { $0.kind == "replay_paused" } && h.recorder.timeline.contains { $0.kind == "replay_resumed" })
    }

    @Test("crash recovery replays the WAL since the last checkpoint at the replay rate")
    func crashRecovery() {
        var cfg = PgConfig()
        cfg.replayRateBytesPerS = 100 * 1_048_576
        let h = PgHarness(n: 1, config: cfg)
        h.start(0)
        h.run(for: 2 * Time.s)
        h.openSession(0, on: 0)
        for _ in 0..<5 { h.write(bytes: 100 << 20); h.run(for: 10 * Time.ms) }
        h.run(for: 1 * Time.s)
        h.crash(0)
        let t0 = h.now
        h.start(0)
        while !h.nodes[0].isRunning { h.run(for: 10 * Time.ms) }
        // startup 1 s + 500 MB at 100 MB/s
        #expect(h.now - t0 >= 6 * Time.s && h.now - t0 < 6_100 * Time.ms)
        // A clean stop needs no recovery.
        h.nodes[0].stop(.fast, h)
        h.run(for: 3 * Time.s)
        let t1 = h.now
        h.start(0)
        while !h.nodes[0].isRunning { h.run(for: 10 * Time.ms) }
        #expect(h.now - t1 < 1_100 * Time.ms)
    }

    @Test("a lost disk forces a re-clone, which takes the checkpoint plus the data size over the bandwidth")
    func lostDisk() {
        var cfg = PgConfig()
        cfg.dataSizeBytes = 10 << 30
        cfg.bandwidthBytesPerS = 125 * 1_048_576
        let h = PgHarness(config: cfg)
        h.startCluster()
        h.crash(1)
        h.nodes[1].loseDisk(h)
        h.start(1, standbyOf: 0)
        h.run(for: 1 * Time.s)
        #expect(h.notes.contains { $0.0 == 1 && $0.1 == .started(ok: false) })
        let t0 = h.now
        h.nodes[1].reclone(from: 0, fastCheckpoint: false, h)
        while !h.notes.contains(where: { $0.0 == 1 && $0.1 == .recloned(ok: true) }) && h.now < t0 + 20 * Time.m { h.run(for: 100 * Time.ms) }
        // spread checkpoint: 0.9 × 5 min = 270 s; copy: 10 GB / 125 MB/s = 81.92 s
        let took = h.now - t0
        #expect(took >= 351_920 * Time.ms && took < 352_100 * Time.ms, "\(DurationText.format(took))")  // + the end-position round trip and this test's 100 ms polling
        h.start(1, standbyOf: 0)
        h.run(for: 3 * Time.s)
        #expect(h.nodes[1].isStreaming)
    }
}

@Suite("PostgreSQL: replication throughput")
struct CatchUpTests {
    /// A standby that was away comes back a lag L behind; its walsender streams at the link's
    /// bandwidth B while the primary keeps writing WAL at a rate R: the standby catches up after
    /// L / (B − R). (Its replication connection is its own: other connections between the
    /// hosts are not delayed by it, see FabricTests.)
    @Test("a standby catches up after lag / (bandwidth − WAL rate)")
    func catchUp() {
        var cfg = PgConfig()
        cfg.bandwidthBytesPerS = 8 * 1_048_576
        let h = PgHarness(config: cfg)
        h.startCluster()
        h.crash(1)
        // About 2 MB/s of WAL: 100 writes a second of 20 kB.
        func step() { h.write(bytes: 20 << 10); h.run(for: 10 * Time.ms) }
        let away = h.now + 20 * Time.s
        while h.now < away { step() }
        h.start(1, standbyOf: 0)
        let before = h.nodes[1].receivedLSN
        var start: Nanos = 0, lag0: Int64 = 0, flush0: Int64 = 0
        while start == 0 && h.now < away + 30 * Time.s {
            step()
            if h.nodes[1].receivedLSN > before {
                start = h.now
                lag0 = h.nodes[0].flushLSN - h.nodes[1].receivedLSN
                flush0 = h.nodes[0].flushLSN
            }
        }
        #expect(start > 0, "the standby never streamed")
        var done: Nanos = 0
        while done == 0 && h.now < start + 60 * Time.s {
            step()
            if h.nodes[0].flushLSN - h.nodes[1].receivedLSN < 256 << 10 { done = h.now }
        }
        #expect(done > 0, "the standby never caught up")
        let took = Double(done - start) / 1e9
        let rate = Double(h.nodes[0].flushLSN - flush0) / took
        let expected = Double(lag0) / (cfg.bandwidthBytesPerS - rate)
        #expect(lag0 > 30 << 20, "lag \(lag0)")
        #expect(abs(took - expected) / expected < 0.1, "caught up in \(took) s; lag \(lag0) B at \(rate) B/s of WAL predicts \(expected) s")
    }
}

@Suite("PostgreSQL: walreceiver retries")
struct WalReceiverRetryTests {
    /// With its upstream's host gone, a standby's walreceiver tries again every
    /// `wal_retrieve_retry_interval` (5 s; each connect waits out libpq's connect timeout), not
    /// on a busy timer: a handful of events per attempt.
    @Test("a standby without its upstream retries at wal_retrieve_retry_interval, not in a busy loop")
    func retryInterval() {
        let h = PgHarness()
        h.startCluster()
        h.crash(0)
        h.fabric.setHostUp(0, false)
        h.run(for: 5 * Time.s)
        let before = h.kernel.processed
        h.run(for: 60 * Time.s)
        let events = h.kernel.processed - before
        #expect(events <= 60 / 5 * 10, "\(events) events in 60 s")
        #expect(events >= 3, "the walreceiver is still trying (SYN retransmissions)")
        #expect(h.nodes[1].receiver == nil || h.nodes[1].receiver?.streaming == false)
    }
}
