import Testing
import Settings
import SimCore
import Recording
@testable import Postgres

@Suite("PostgreSQL: replication slots, pg_wal and the archive")
struct SlotWalTests {
    static let seg: Int64 = 16 << 20

    /// A primary holding a permanent slot (-1) that nothing advances, with `writes` of 20 MB
    /// written (stopping early if the server goes down).
    func primaryWithSlot(_ cfg: PgConfig, writes: Int) -> PgHarness {
        let h = PgHarness(n: 1, config: cfg)
        h.start(0)
        h.run(for: 2 * Time.s)
        h.nodes[0].createSlot(-1, h)
        h.openSession(0, on: 0)
        for _ in 0..<writes where h.nodes[0].isRunning { h.write(bytes: 20 << 20); h.run(for: 200 * Time.ms) }
        return h
    }

    /// `KeepLogSeg`: the last checkpoint, wal_keep_size and every slot bound what a checkpoint
    /// may remove; a dropped slot stops holding anything.
    @Test("a slot that does not advance holds pg_wal at checkpoints; once dropped, the next checkpoint removes the WAL")
    func slotHoldsWal() {
        var cfg = PgConfig()
        cfg.walKeepSizeBytes = 0
        let h = primaryWithSlot(cfg, writes: 10)
        let start = h.nodes[0].walStart
        h.nodes[0].timer(.checkpoint, h)
        #expect(h.nodes[0].walStart == start, "the slot keeps it")
        #expect(h.nodes[0].walBytes >= 200 << 20)
        h.nodes[0].dropSlot(-1, h)
        h.nodes[0].timer(.checkpoint, h)
        #expect(h.nodes[0].walStart == h.nodes[0].flushLSN / Self.seg * Self.seg)
        #expect(h.nodes[0].walBytes < Self.seg)
    }

    /// `InvalidateObsoleteReplicationSlots` (PostgreSQL 13+).
    @Test("max_slot_wal_keep_size invalidates a slot further behind at a checkpoint ('invalidating obsolete replication slot'), which then holds nothing")
    func invalidation() {
        var cfg = PgConfig()
        cfg.walKeepSizeBytes = 0
        cfg.maxSlotWalKeepSizeBytes = 64 << 20
        cfg.permanentSlotNames = ["backup"]
        let h = primaryWithSlot(cfg, writes: 5)
        h.nodes[0].timer(.checkpoint, h)
        #expect(h.nodes[0].slots.first?.lost == true)
        #expect(h.recorder.timeline.contains { $0.kind == "slot_invalidated" && $0.detail["msg"]?.stringValue == "invalidating obsolete replication slot \"backup\"" })
        #expect(h.nodes[0].walBytes < Self.seg)
    }

    @Test("past wal_disk the primary PANICs, loses its unflushed WAL and every start fails until space is freed")
    func diskFull() {
        var cfg = PgConfig()
        cfg.walDiskBytes = 128 << 20
        let h = primaryWithSlot(cfg, writes: 20)
        #expect(!h.nodes[0].isRunning)
        #expect(h.recorder.timeline.contains { $0.kind == "wal_disk_full" })
        #expect(h.nodes[0].flushLSN - h.nodes[0].walStart <= 128 << 20)
        h.start(0)
        h.run(for: 3 * Time.s)
        #expect(!h.nodes[0].isRunning)
        #expect(h.notes.contains { $0.0 == 0 && $0.1 == .started(ok: false) })
    }

    @Test("segment file names are timeline, log and segment in hexadecimal, as PostgreSQL writes them")
    func segmentNames() {
        var pg = PgInstance(node: 0, config: PgConfig(), rng: RandomStreams(seed: 1).stream("x"))
        pg.seed(fork: 0, timeline: 3, lsn: 0, primary: true)
        #expect(pg.walSegmentName(0) == "000000030000000000000000")
        #expect(pg.walSegmentName(Self.seg * 255 + 5) == "0000000300000000000000FF")
        #expect(pg.walSegmentName(Int64(1) << 32) == "000000030000000100000000")
    }

    /// recovery_target_timeline = 'latest': the newest timeline whose history holds the
    /// standby's position, as far as it is archived.
    @Test("the archive gives a standby the newest timeline that continues its position, not an unrelated or older one")
    func archiveLatest() {
        let hist = WalHistory()
        let root = hist.newFork(parent: nil, switchLsn: 0, timeline: 1, host: "a", at: 0)
        let tl2 = hist.newFork(parent: root, switchLsn: 100, timeline: 2, host: "b", at: 1)
        let lossy = hist.newFork(parent: root, switchLsn: 50, timeline: 1, host: "a", at: 2)
        let a = WalArchive()
        a.archive(root, upTo: 120)
        a.archive(tl2, upTo: 300)
        a.archive(lossy, upTo: 400)
        #expect(a.latest(continuing: WalPosition(fork: root, lsn: 80), hist) == WalPosition(fork: tl2, lsn: 300))
        // Past the switch point on timeline 1 the new timeline does not continue it.
        #expect(a.latest(continuing: WalPosition(fork: root, lsn: 110), hist) == WalPosition(fork: root, lsn: 120))
        #expect(a.latest(continuing: WalPosition(fork: tl2, lsn: 300), hist) == nil)
    }
}
