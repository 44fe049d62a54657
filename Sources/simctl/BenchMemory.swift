import Foundation
import Recording
import Scenario
import SimCore

/// `simctl bench --memory-runs`: the peak resident memory of whole runs, each in its own
/// process (peak RSS is per process), against the same scenario's no-write ten-minute run as
/// the reference (the program's own footprint).
extension BenchCommand {
    /// One `HORIZON@RATE` item of `--memory-runs`.
    struct MemoryRun { var horizon: String; var rate: Int }

    static let memoryLimitMB = 100.0

    func parsedMemoryRuns() throws -> [MemoryRun] {
        guard !memoryRuns.isEmpty else { return [] }
        return try memoryRuns.split(separator: ",", omittingEmptySubsequences: false).map { item in
            let parts = item.split(separator: "@", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ((try? DurationText.parse(parts[0])) ?? 0) > 0, let rate = Int(parts[1]), rate >= 0, rate <= 1_000_000 else {
                throw InputError(message: "--memory-runs \(memoryRuns): expected HORIZON@WRITES_PER_SECOND items such as 1h@5000,30d@10 (\"\(item)\" is not one)")
            }
            return MemoryRun(horizon: parts[0], rate: rate)
        }
    }

    func memoryFootprint(_ runs: [MemoryRun], _ fields: inout [(String, JSON)]) -> [String] {
        guard !runs.isEmpty, let path = resolveScenarioPath(sweepScenario) else { return [] }
        func args(_ horizon: String, _ rate: Int) -> [String] {
            ["run", path, "--no-store", "--json", "--set", "duration=\(horizon)", "--set", "workload.rate=\(rate)/s",
             "--set", "workload.clients=\(Self.clients(forRate: rate))"]
        }
        guard let base = measuredChild(args("10m", 0)) else { return ["memory: could not run \(path) in a child process; memory figures skipped"] }
        var lines = ["memory: \(path), each run in its own process (peak RSS; the no-write 10-minute run, the program's own footprint: \(String(fixed: base.peakMB, decimals: 1)) MB):"]
        var rows: [JSON] = []
        for r in runs {
            guard let m = measuredChild(args(r.horizon, r.rate)) else {
                lines.append("        \(r.horizon) at \(r.rate) writes/s: the run failed")
                continue
            }
            let ok = m.peakMB < Self.memoryLimitMB
            rows.append(.object([("horizon", .string(r.horizon)), ("rate", .int(Int64(r.rate))), ("writes", .int(m.writes)), ("events", .int(m.events)),
                                 ("seconds", .double(m.seconds)), ("peak_mb", .double(m.peakMB)), ("ratio_to_floor", .double(m.peakMB / base.peakMB)),
                                 ("under_limit", .bool(ok))]))
            lines.append("        \(r.horizon) at \(r.rate) writes/s: \(m.writes) writes, \(m.events) events in \(String(fixed: m.seconds, decimals: 1)) s; peak "
                         + "\(String(fixed: m.peakMB, decimals: 1)) MB = \(String(fixed: m.peakMB / base.peakMB, decimals: 2))× the floor"
                         + (ok ? " (under the \(Int(Self.memoryLimitMB)) MB target)" : " (over the \(Int(Self.memoryLimitMB)) MB target)"))
        }
        fields.append(("memory_floor_mb", .double(base.peakMB)))
        fields.append(("memory", .array(rows)))
        return lines
    }

    struct ChildRun { var peakMB: Double; var seconds: Double; var writes: Int64; var events: Int64 }

    /// Runs this program with `args` in a child process and reads its peak RSS from wait4.
    func measuredChild(_ args: [String]) -> ChildRun? {
        let out = NSTemporaryDirectory() + "simctl-bench-mem-\(getpid()).json"
        let peak = NSTemporaryDirectory() + "simctl-bench-peak-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: peak) }
        let t0 = wallSeconds()
        guard let pid = spawnSelf(args + ["--peak-memory-file", peak], stdout: out) else { return nil }
        var status: Int32 = 0
        var usage = rusage()
        // Exit 1 is a finished run whose expectations failed (the no-write run measures no RTO).
        guard wait4(pid, &status, 0, &usage) == pid, status & 0x7f == 0, (status >> 8) & 0xff <= 1 else { return nil }
        let dt = wallSeconds() - t0
        guard let data = FileManager.default.contents(atPath: out), let doc = try? JSON.parse(String(decoding: data, as: UTF8.self)) else { return nil }
        // The child's own high-water mark (VmHWM): wait4's ru_maxrss would also count the
        // parent's pages the child shared until exec (posix_spawn is a vfork), so a bench
        // that has grown reports its own size for every child. ru_maxrss (kilobytes) only
        // where /proc is missing.
        let kb = (try? String(contentsOfFile: peak, encoding: .utf8)).flatMap { Double($0) } ?? Double(usage.ru_maxrss)
        return ChildRun(peakMB: kb / 1024, seconds: dt, writes: doc["writes"]?["total"]?.intValue ?? 0, events: doc["events"]?.intValue ?? 0)
    }

    /// Starts this program with `args`, its standard output to the file `stdout` and its errors
    /// discarded: the child's pid, for wait4 (posix_spawn rather than Process, whose wait gives
    /// no rusage).
    func spawnSelf(_ args: [String], stdout: String) -> pid_t? {
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let exe = "/proc/self/exe"
        let argv = ([exe] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        return posix_spawn(&pid, exe, &actions, nil, argv, environ) == 0 ? pid : nil
    }
}

/// This process's peak resident set (`VmHWM` in /proc/self/status), in kilobytes.
func peakResidentKB() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
    return line.split(separator: " ").compactMap { Int($0) }.first
}
