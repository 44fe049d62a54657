import Testing
import Foundation

/// The package root and the `simctl` that `swift test` built.
let packageRoot: URL = {
    var u = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { u.deleteLastPathComponent() }
    return u
}()

func simctlBinary() throws -> String {
    let candidates = [".build/debug/simctl", ".build/x86_64-unknown-linux-gnu/debug/simctl", ".build/aarch64-unknown-linux-gnu/debug/simctl",
                      ".build/arm64-apple-macosx/debug/simctl", ".build/release/simctl"]
    for c in candidates {
        let p = packageRoot.appendingPathComponent(c).path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    Issue.record("simctl binary not found under \(packageRoot.path)/.build (swift build first)")
    throw CancellationError()
}

struct Result {
    var code: Int32
    var out: String
    var err: String
}

/// Runs the built simctl from the package root, as a user would.
/// The batch systems' task variables (`--shard auto`): never inherited by a test's simctl.
let batchVariables = ["SIMCTL_SHARD_INDEX", "SIMCTL_SHARD_COUNT", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                      "SLURM_ARRAY_TASK_STEP", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "CI_NODE_INDEX", "CI_NODE_TOTAL",
                      "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT"]

func simctl(_ args: [String], env extra: [String: String] = [:]) throws -> Result {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try simctlBinary())
    p.arguments = args
    p.currentDirectoryURL = packageRoot
    var env = ProcessInfo.processInfo.environment
    for v in batchVariables { env[v] = nil }
    for (k, v) in extra { env[k] = v }
    env["NO_COLOR"] = "1"
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Result(code: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
}

func tmp(_ name: String) -> String {
    NSTemporaryDirectory() + "simctl-cli-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))-\(name)"
}

func writeFile(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

let quick = """
    name: cli-test
    duration: 60s
    topology: etcd-separate
    workload: { clients: 1, rate: 5/s }
    faults: [ { at: 20s, jitter: 5s, crash: primary } ]
    expect: { split_brain: none, rto: { max: 55s } }
    """

@Suite("The simctl command line", .serialized)
struct CLITests {
    @Test("the same scenario and seed in two processes give the same trace hash; another seed another")
    func determinismAcrossProcesses() throws {
        let file = tmp("det.yml")
        try writeFile(file, quick)
        defer { try? FileManager.default.removeItem(atPath: file) }
        func hash(_ seed: Int) throws -> String {
            let r = try simctl(["run", file, "--seed", "\(seed)", "--no-store", "--json"])
            #expect(r.code == 0, "\(r.err)")
            let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            return try #require(obj?["trace_hash"] as? String)
        }
        let a = try hash(7), b = try hash(7), c = try hash(8)
        #expect(a == b)
        #expect(a != c)
    }

    @Test("a broken scenario: exit 2, file:line:col and key in the message, nothing stored")
    func badScenario() throws {
        let file = tmp("bad.yml"), db = tmp("bad.sqlite")
        try writeFile(file, quick.replacingOccurrences(of: "at: 20s", with: "at: thirty"))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let v = try simctl(["validate", file])
        #expect(v.code == 2)
        #expect(v.err.contains("\(file):5:17: faults[0].at: expected a duration"), "\(v.err)")
        let r = try simctl(["run", file, "--db", db])
        #expect(r.code == 2)
        #expect(!FileManager.default.fileExists(atPath: db))
        let s = try simctl(["run", file, "--set", "patroni.ttl=abc", "--no-store"])
        #expect(s.code == 2)
        #expect(s.err.contains("--set patroni.ttl"), "\(s.err)")
        let u = try simctl(["run", "no/such/file.yml"])
        #expect(u.code == 2)
        let w = try simctl(["frobnicate"])
        #expect(w.code == 2)
    }

    @Test("run records a run queryable with SQL; --json has the documented keys; the README's command works as typed")
    func runAndStore() throws {
        let db = tmp("run.sqlite")
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + s) } }
        let r = try simctl(["run", "scenarios/partition.yml", "--db", db, "--set", "duration=4m"])
        #expect(r.code == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("What happened"))
        #expect(r.out.contains("RTO"))
        #expect(r.out.contains("RPO"))
        #expect(r.out.contains("Split brain"))
        let j = try simctl(["run", "Scenarios/partition.yml", "--db", db, "--json", "--set", "duration=4m"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])
        for k in ["scenario", "seed", "run_id", "trace_hash", "events", "sim_seconds", "wall_seconds", "faults", "rpo", "split_brain",
                  "invariant_violations", "expectations", "ok"] {
            #expect(obj[k] != nil, "missing \(k)")
        }
        let faults = try #require(obj["faults"] as? [[String: Any]])
        #expect(faults.first?["rto_seconds"] as? Double ?? 0 > 10)
        let q = Process()
        q.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        q.arguments = ["sqlite3", db, "SELECT count(*) FROM runs; SELECT count(*) > 0 FROM timeline;"]
        let pipe = Pipe()
        q.standardOutput = pipe
        if (try? q.run()) != nil {
            q.waitUntilExit()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(out.split(separator: "\n") == ["2", "1"])
        }
    }

    @Test("a failed expectation exits 1")
    func failedExpectation() throws {
        let file = tmp("fail.yml")
        try writeFile(file, quick.replacingOccurrences(of: "rto: { max: 55s }", with: "rto: { max: 1s }"))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let r = try simctl(["run", file, "--no-store"])
        #expect(r.code == 1)
        #expect(r.out.contains("✘"))
    }

    @Test("check: writes a baseline, passes against it, fails when timing moves, writes JUnit")
    func check() throws {
        let dir = tmp("check")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFile(dir + "/crash.yml", quick)
        let baseline = dir + "/baseline.json", junit = dir + "/check.xml"
        let u = try simctl(["check", dir, "--seeds", "4", "--baseline", baseline, "--update-baseline"])
        #expect(u.code == 0, "\(u.out)\(u.err)")
        #expect(FileManager.default.fileExists(atPath: baseline))
        let ok = try simctl(["check", dir, "--seeds", "4", "--baseline", baseline, "--junit", junit])
        #expect(ok.code == 0, "\(ok.out)\(ok.err)")
        let cls = dir.split(separator: "/").joined(separator: ".")
        #expect(try String(contentsOfFile: junit, encoding: .utf8).contains("<testcase classname=\"\(cls)\" name=\"crash\" file=\"\(dir)/crash.yml\""))
        // A longer ttl moves failover timing: the check fails and says what moved.
        try writeFile(dir + "/crash.yml", quick.replacingOccurrences(of: "topology: etcd-separate", with: "topology: etcd-separate\npatroni: { ttl: 45 }"))
        let moved = try simctl(["check", dir, "--seeds", "4", "--baseline", baseline, "--junit", junit])
        #expect(moved.code == 1)
        #expect(moved.out.contains("moved: fault 0 (crash) RTO p50"), "\(moved.out)")
        #expect(try String(contentsOfFile: junit, encoding: .utf8).contains("<failure"))
    }

    @Test("sweep: a table per setting, the sweeps table filled, a bad --set is exit 2")
    func sweep() throws {
        let file = tmp("sweep.yml"), db = tmp("sweep.sqlite"), csv = tmp("sweep.csv")
        try writeFile(file, quick)
        defer { for p in [file, csv, db, db + "-wal", db + "-shm"] { try? FileManager.default.removeItem(atPath: p) } }
        let r = try simctl(["sweep", file, "--set", "patroni.ttl=20,30", "--seeds", "3", "--db", db, "--csv", csv, "--workers", "2",
                            "--objective", "min rto.p95 where rpo.max_writes == 0"])
        #expect(r.code == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("ttl=20"))
        #expect(r.out.contains("ttl=30"))
        #expect(r.out.contains("best (min rto.p95"))
        let csvText = try String(contentsOfFile: csv, encoding: .utf8)
        #expect(csvText.hasPrefix("patroni.ttl,patroni.ttl (effective),rto.p50,"))
        #expect(csvText.split(separator: "\n").count == 3)
        let again = try simctl(["sweep", file, "--set", "patroni.ttl=20,30", "--seeds", "3", "--db", db])
        #expect(again.code == 2)
        #expect(again.err.contains("--resume"))
        let resumed = try simctl(["sweep", file, "--set", "patroni.ttl=20,30", "--seeds", "3", "--db", db, "--resume"])
        #expect(resumed.code == 0)
        #expect(resumed.out.contains("ran 0 now"))
        let bad = try simctl(["sweep", file, "--set", "patroni.ttl=20..60", "--seeds", "3", "--db", db])
        #expect(bad.code == 2)
        #expect(bad.err.contains("needs a step"))
        let badValue = try simctl(["sweep", file, "--set", "patroni.ttl=20,abc", "--seeds", "3", "--db", tmp("x.sqlite")])
        #expect(badValue.code == 2)
    }
}

/// Starts simctl without waiting for it.
func startSimctl(_ args: [String]) throws -> (Process, Pipe, Pipe) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try simctlBinary())
    p.arguments = args
    p.currentDirectoryURL = packageRoot
    var env = ProcessInfo.processInfo.environment
    env["NO_COLOR"] = "1"
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    return (p, out, err)
}

/// Rows in a store's runs table, read with the sqlite3 shell (nil if it cannot be read yet).
func storedRuns(_ db: String, _ sql: String = "SELECT count(*) FROM runs") -> Int? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sqlite3", db, sql]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = Pipe()
    guard (try? p.run()) != nil else { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
}

@Suite("The store and signals under concurrent use", .serialized)
struct StoreConcurrencyCLITests {
    /// `Store.migrate` read the schema version outside its write transaction, so two
    /// processes opening a new store both migrated ("table sweeps already exists").
    @Test("24 processes opening one new store at once: every run is stored, none fails")
    func concurrentNewStore() throws {
        let file = tmp("race.yml"), db = tmp("race.sqlite")
        try writeFile(file, """
            name: race
            duration: 5s
            topology: etcd-colocated
            workload: { clients: 1, rate: 5/s }
            """)
        defer { for p in [file, db, db + "-wal", db + "-shm"] { try? FileManager.default.removeItem(atPath: p) } }
        let procs = try (1...24).map { try startSimctl(["run", file, "--db", db, "--seed", "\($0)"]) }
        var failures: [String] = []
        for (p, _, err) in procs {
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            if p.terminationStatus != 0 { failures.append("exit \(p.terminationStatus): \(String(decoding: e, as: UTF8.self))") }
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(storedRuns(db) == 24)
    }

    @Test("SIGINT and SIGTERM stop a sweep cleanly: stored runs kept, --resume printed, exit 130 and 143", arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func interruptSweep(sig: Int32, code: Int32) throws {
        let file = tmp("sig.yml"), db = tmp("sig.sqlite")
        try writeFile(file, """
            name: sig
            duration: 10m
            topology: etcd-colocated
            workload: { clients: 4, rate: 200/s }
            faults: [ { at: 2m, jitter: 10s, crash: primary } ]
            """)
        defer { for p in [file, db, db + "-wal", db + "-shm"] { try? FileManager.default.removeItem(atPath: p) } }
        let (p, out, err) = try startSimctl(["sweep", file, "--set", "patroni.ttl=20,30,45", "--seeds", "400", "--db", db, "--workers", "2"])
        // Let some runs be stored, then interrupt.
        Thread.sleep(forTimeInterval: 6)
        kill(p.processIdentifier, sig)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == code, "\(e)")
        #expect(e.contains("interrupted (\(sig == SIGINT ? "SIGINT" : "SIGTERM"))"))
        #expect(e.contains("--resume"))
        let stored = try #require(storedRuns(db))
        #expect(stored >= 1 && stored < 1200)
        // The printed command continues the sweep.
        let resumed = try simctl(["sweep", file, "--set", "patroni.ttl=20,30,45", "--seeds", "400", "--db", db, "--workers", "2", "--resume", "--max-runs", "2"])
        #expect(resumed.code == 0, "\(resumed.err)")
        #expect(storedRuns(db) == stored + 2)
    }

    @Test("explore: bad budgets and files exit 2; a planted split brain exits 1 with a reproducer that replays it, stored")
    func explore() throws {
        for args in [["--runs", "0"], ["--time", "soon"], ["--runs", "5", "--time", "1m"], ["--allow", "safety.nonsense"]] {
            let r = try simctl(["explore", "Scenarios/partition.yml", "--no-store"] + args)
            #expect(r.code == 2, "\(args): \(r.err)")
        }
        let missing = try simctl(["explore", "Scenarios/nope.yml", "--no-store"])
        #expect(missing.code == 2 && missing.err.contains("Scenarios/nope.yml: no such scenario file or folder"))
        let file = tmp("planted.yml"), db = tmp("explore.sqlite"), out = tmp("explore-out")
        try writeFile(file, """
            name: planted
            duration: 5m
            topology: etcd-colocated
            patroni: { watchdog: { mode: off } }
            workload: { clients: 1, rate: 10/s, direct: [{ host: db1, clients: 1 }] }
            expect: { split_brain: none }
            """)
        defer { for f in [file, db, db + "-wal", db + "-shm"] { try? FileManager.default.removeItem(atPath: f) }; try? FileManager.default.removeItem(atPath: out) }
        let r = try simctl(["explore", file, "--runs", "16", "--seed", "4", "--db", db, "--out", out, "--shrink-budget", "40"])
        #expect(r.code == 1, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("explore 4: 16 runs of 1 scenario") && r.out.contains("expect.split_brain.none:"))
        let line = try #require(r.out.split(separator: "\n").first { $0.contains("simctl run ") && $0.contains("expect.split_brain.none-") })
        let replay = line.trimmingCharacters(in: .whitespaces).split(separator: " ").map(String.init)
        let again = try simctl(Array(replay.dropFirst()) + ["--no-store"])
        #expect(again.code == 1 && again.out.contains("✘ split_brain.none"), "\(again.out)")
        let rows = try simctl(["explore", file, "--runs", "16", "--seed", "4", "--db", db, "--out", out, "--allow", "expect.split_brain.none",
                                "--allow", "liveness.converged", "--allow", "liveness.replicas_rejoined", "--shrink-budget", "40"])
        #expect(rows.code == 0 && rows.out.contains("(allowed)"), "\(rows.out)")
        // Both explorations in the store: every run, each failure with its reproducer, each failed run in full.
        #expect(storedRuns(db, "SELECT count(*) FROM explorations") == 2 && storedRuns(db, "SELECT count(*) FROM explore_runs") == 32)
        #expect(storedRuns(db, "SELECT sum(runs) FROM explorations WHERE finished IS NOT NULL") == 32)
        #expect(storedRuns(db, "SELECT count(*) FROM explore_failures WHERE property = 'expect.split_brain.none' AND reproducer IS NOT NULL") == 2)
        #expect(storedRuns(db, "SELECT count(*) FROM explore_runs WHERE failed != '[]' AND run_id IS NULL") == 0)
    }
}
