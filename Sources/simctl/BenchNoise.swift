import Foundation
import Recording

/// `simctl bench`'s what-if-with-noise figure (issue 17): the README's sweep — ttl 20, 30 and
/// 45 on the cloud-VM preset's episodes — run as users run it (`simctl sweep`, a child
/// process with one worker per core), timed, with the 95 % interval it reached on the ttl=20
/// false-failover rate and the seeds a ±20 % interval would need at that spread.
extension BenchCommand {
    func noiseSweep(_ fields: inout [(String, JSON)]) -> [String] {
        guard noiseSeeds > 0, let path = resolveScenarioPath("Scenarios/noise-cloud-vm.yml") else { return [] }
        let db = NSTemporaryDirectory() + "simctl-bench-noise-\(getpid()).sqlite"
        let out = NSTemporaryDirectory() + "simctl-bench-noise-\(getpid()).json"
        defer { for f in [db, db + "-wal", db + "-shm", out] { try? FileManager.default.removeItem(atPath: f) } }
        let t0 = wallSeconds()
        guard let pid = spawnSelf(["sweep", path, "--set", "patroni.ttl=20,30,45", "--seeds", String(noiseSeeds), "--db", db, "--json"], stdout: out) else {
            return ["noise:  the sweep did not start"]
        }
        var status: Int32 = 0
        var usage = rusage()
        let reaped = wait4(pid, &status, 0, &usage) == pid
        let dt = wallSeconds() - t0
        guard reaped, let data = FileManager.default.contents(atPath: out), let doc = try? JSON.parse(String(decoding: data, as: UTF8.self)),
              let settings = doc["settings"]?.arrayValue,
              let ff = settings.first(where: { $0["setting"]?["patroni.ttl"]?.stringValue == "20" })?["noise"]?["false_failovers_per_year"],
              let rate = ff["rate"]?.doubleValue, let lo = ff["ci95_low"]?.doubleValue, let hi = ff["ci95_high"]?.doubleValue else {
            return ["noise:  the sweep failed (exit status \(status >> 8))"]
        }
        let half = rate > 0 ? (hi - lo) / 2 / rate : 0
        // The interval narrows as 1/√seeds: the seeds (and time, at this speed) for ±20 %.
        let needed = rate > 0 ? Int((Double(noiseSeeds) * (half / 0.2) * (half / 0.2)).rounded(.up)) : 0
        let neededSeconds = dt * Double(needed) / Double(noiseSeeds)
        fields += [("noise_sweep", .object([("scenario", .string(path)), ("settings", .int(3)), ("seeds", .int(Int64(noiseSeeds))), ("seconds", .double(dt)),
                                           ("ttl20_false_failovers_per_year", .double(rate)), ("ci95_low", .double(lo)), ("ci95_high", .double(hi)),
                                           ("relative_half_width", .double(half)), ("seeds_for_20_percent", .int(Int64(needed))),
                                           ("seconds_for_20_percent", .double(neededSeconds))]))]
        return ["noise:  \(path) with ttl 20/30/45 × \(noiseSeeds) seeds (episodes, 2 workers): \(String(fixed: dt, decimals: 1)) s; "
                + "ttl=20 false failovers \(String(fixed: rate, decimals: 3))/year (95 % CI \(String(fixed: lo, decimals: 3))–\(String(fixed: hi, decimals: 3)), ±\(Int((half * 100).rounded())) %); "
                + "±20 % needs about \(needed) seeds, \(Int(neededSeconds.rounded())) s"]
    }
}
