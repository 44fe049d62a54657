import Testing
import Foundation

/// The recipes in docs/recipes: each batch system's variables, run as separate local
/// processes, one store per shard, merged; the merged table equals a single machine's.
@Suite("Sweep recipes: shards as separate processes, merged")
struct ShardRecipeTests {
    static let sweepArgs = ["--set", "patroni.ttl=20,30", "--seeds", "3", "--workers", "1"]

    /// The table rows of a sweep's output (the lines naming a setting), without the store's own
    /// run ids ("(run 4)"), which differ between stores.
    func rows(_ out: String) -> [String] {
        out.split(separator: "\n").map(String.init).filter { $0.contains("ttl=") && !$0.contains("simctl run") }.map { line in
            guard let r = line.range(of: " (run ") else { return line }
            return String(line[..<r.lowerBound])
        }
    }

    static let recipes: [(file: String, env: @Sendable (Int) -> [String: String], spec: String)] = [
        ("kubernetes-indexed-job.yaml", { ["JOB_COMPLETION_INDEX": "\($0 - 1)"] }, "auto/2"),
        ("slurm-array.sh", { ["SLURM_ARRAY_TASK_ID": "\($0)", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "2"] }, "auto"),
        ("github-actions-sweep.yml", { ["SIMCTL_SHARD_INDEX": "\($0)", "SIMCTL_SHARD_COUNT": "2"] }, "auto"),
        ("gnu-parallel.sh", { _ in [:] }, "{}/2"),
    ]

    @Test("each recipe's shards, merged, give the single-machine table row for row", arguments: 0..<4)
    func recipe(_ k: Int) throws {
        let (file, env, spec) = Self.recipes[k]
        let text = try String(contentsOfFile: packageRoot.path + "/docs/recipes/" + file, encoding: .utf8)
        #expect(text.contains("simctl merge"))
        #expect(text.contains(spec == "{}/2" ? "--shard {}/" : "--shard auto"))
        let scen = tmp("recipe.yml"), single = tmp("single.sqlite"), merged = tmp("merged.sqlite")
        try writeFile(scen, quick)
        var shards: [String] = []
        defer { for p in [scen, single, merged] + shards { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: p + s) } } }
        let whole = try simctl(["sweep", scen] + Self.sweepArgs + ["--db", single])
        #expect(whole.code == 0, "\(whole.err)")
        for i in 1...2 {
            let db = tmp("shard\(i).sqlite")
            shards.append(db)
            let shard = spec.replacingOccurrences(of: "{}", with: "\(i)")
            let r = try simctl(["sweep", scen] + Self.sweepArgs + ["--shard", shard, "--db", db], env: env(i))
            #expect(r.code == 0, "\(r.err)")
            #expect(r.err.contains("shard \(i)/2") || spec == "{}/2", "\(r.err)")
        }
        let m = try simctl(["merge"] + shards + ["--into", merged])
        #expect(m.code == 0, "\(m.err)")
        let table = try simctl(["sweep", scen] + Self.sweepArgs + ["--resume", "--db", merged])
        #expect(table.code == 0, "\(table.err)")
        #expect(table.out.contains("ran 0 now"), "\(table.out)")
        #expect(!rows(whole.out).isEmpty)
        #expect(rows(table.out) == rows(whole.out))
    }

    @Test("--shard auto outside any batch system is refused with exit 2, naming the variables")
    func refused() throws {
        let scen = tmp("recipe.yml")
        try writeFile(scen, quick)
        defer { try? FileManager.default.removeItem(atPath: scen) }
        let r = try simctl(["sweep", scen] + Self.sweepArgs + ["--shard", "auto", "--db", tmp("none.sqlite")])
        #expect(r.code == 2)
        #expect(r.err.contains("no batch system found") && r.err.contains("JOB_COMPLETION_INDEX") && r.err.contains("SLURM_ARRAY_TASK_ID"), "\(r.err)")
    }
}

@Suite("simctl bench")
struct BenchTests {
    @Test("bench measures the kernel against the C heap on the same events, and the cost at each write rate")
    func benchFigures() throws {
        let r = try simctl(["bench", "--kernel-events", "200000", "--repeats", "1", "--sweep-runs", "1", "--cost-rates", "50,100", "--memory-runs", "10m@50,20m@50", "--noise-seeds", "8", "--json"])
        #expect(r.code == 0, "\(r.err)")
        // The toolchain's clang is on PATH wherever swift test runs.
        #expect(r.out.contains("\"kernel_vs_c_heap\""), "\(r.out)")
        #expect(r.out.contains("\"heap_same_events\": true"), "\(r.out)")
        #expect(r.out.contains("\"cost_growth\""))
        // The floor (no writes) costs events of its own, and fewer than the lowest write rate.
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let floor = try #require(obj["cost_floor"] as? [String: Any])
        let rows = try #require(obj["cost_growth"] as? [[String: Any]])
        let floorEvents = try #require(floor["events"] as? Int), firstEvents = try #require(rows.first?["events"] as? Int)
        #expect(floorEvents > 10_000 && floorEvents < firstEvents, "floor \(floorEvents), 50/s \(firstEvents)")
        #expect(rows.count == 2)
        // Peak memory, each run in its own process, against the no-write run's footprint: a
        // twice longer run needs no more than a little more (writes are folded, not kept).
        let mem = try #require(obj["memory"] as? [[String: Any]])
        let base = try #require(obj["memory_floor_mb"] as? Double)
        #expect(mem.count == 2 && base > 1)
        let peaks = mem.compactMap { $0["peak_mb"] as? Double }
        #expect(peaks.count == 2 && peaks.allSatisfy { $0 >= base * 0.9 && $0 < 100 }, "\(peaks), floor \(base)")
        #expect(peaks[1] < peaks[0] * 1.25, "\(peaks)")
        #expect(mem.allSatisfy { ($0["writes"] as? Int ?? 0) > 20_000 })
        // Each target with its figure, reference and verdict: the 100/s run is in this bench's
        // rates, 5,000/s is not (so that one is not measured), two processes ran the sweep.
        let targets = try #require(obj["targets"] as? [[String: Any]])
        #expect(targets.count == 4 + 2 + 1, "\(targets)")
        // The noise what-if sweep ran as users run it: 3 settings × 8 seeds, timed.
        let noise = try #require(obj["noise_sweep"] as? [String: Any])
        #expect(noise["seeds"] as? Int == 8 && (noise["seconds"] as? Double ?? 0) > 0, "\(noise)")
        #expect(targets.contains { ($0["target"] as? String ?? "").contains("noise sweep") })
        let byName = Dictionary(targets.map { (($0["target"] as? String) ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let at100 = try #require(byName.first { $0.key.contains("100 writes/s") }?.value)
        #expect((at100["ratio"] as? Double).map { abs($0 - ((rows[1]["ms"] as? Double) ?? 0) / 20) < 1e-3 * $0 } == true, "\(at100)")
        #expect(byName.first { $0.key.contains("5,000 writes/s") }?.value["met"] is NSNull)
        let perMin = try #require(obj["runs_per_minute_2_processes"] as? Double)
        #expect(perMin > 0)
        #expect(targets.filter { ($0["target"] as? String ?? "").contains("peak RSS") }.allSatisfy { $0["met"] as? Bool == true })
        let badMemory = try simctl(["bench", "--memory-runs", "1h@fast"])
        #expect(badMemory.code == 2 && badMemory.err.contains("--memory-runs") && badMemory.err.contains("HORIZON@WRITES_PER_SECOND"), "\(badMemory.err)")
        // A bad rate is refused before anything runs.
        let bad = try simctl(["bench", "--cost-rates", "50,fast"])
        #expect(bad.code == 2)
        #expect(bad.err.contains("--cost-rates 50,fast: expected write rates"), "\(bad.err)")
    }
}
