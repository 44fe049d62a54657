import SimCore
import Recording
import Scenario
import Analysis
import Cluster

/// A scenario as the cluster under test of `simctl explore`: its topology, settings,
/// workload, noise and expectations, with its own faults dropped (or kept as a prefix).
/// Generated scenarios are its text with `name`, `description`, `seed`, `duration` and
/// `faults` written anew, so a reproducer is an ordinary scenario file.
public struct ExploreTarget: Sendable {
    public var file: String
    public var text: String
    public var base: Scenario
    /// The text without the top-level keys a schedule writes.
    var body: String
    /// The scenario's own fault items (kept as a prefix) and when their effects end (s).
    var prefix: [String] = []
    var prefixEnd = 0
    var hosts: [FaultGenerator.Host]

    /// Top-level keys a schedule writes itself.
    static let scheduleKeys: Set<String> = ["name", "description", "seed", "duration", "faults"]

    public static func make(file: String, text: String, keepFaults: Bool) -> Result<ExploreTarget, ScenarioErrors> {
        let base: Scenario
        switch ScenarioLoader.load(text: text, file: file) {
        case .success(let s): base = s
        case .failure(let e): return .failure(e)
        }
        guard let (body, removed) = TopLevelText.strip(text, keys: scheduleKeys) else {
            return .failure(ScenarioErrors(diagnostics: [Diagnostic(.error, file: file, line: 1, column: 1, path: "",
                message: "explore needs the scenario's top level written as a block mapping (one key per line), as the library's scenarios are")]))
        }
        var t = ExploreTarget(file: file, text: text, base: base, body: body,
                              hosts: RunStory.hosts(base).map { FaultGenerator.Host(name: $0.name, services: $0.services) })
        if keepFaults, let block = removed["faults"] {
            t.prefix = block.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            t.prefixEnd = Int(base.faults.map { ($0.atNs + $0.jitterNs + ($0.forNs ?? 0)) / Time.s }.max() ?? 0)
        }
        return .success(t)
    }

    /// How long after the heal the cluster must have converged, from its settings: the lease
    /// running out (ttl) and a cycle to act on it (loop_wait), the DCS retries
    /// (retry_timeout), a second round of the same for a failed first attempt, the front's
    /// checks to mark servers DOWN and UP ((fall + rise) × inter), and a minute for a host's
    /// boot (20 s), PostgreSQL's recovery and a pg_rewind. When the schedule can make a member
    /// clone itself (a reinit, a lost disk, or settings that remove a data directory), a base
    /// backup too: pg_basebackup's spread checkpoint on the source (checkpoint_completion_target
    /// × checkpoint_timeout) and the copy (data size / bandwidth).
    public func convergenceBoundSeconds(_ s: Schedule) -> Int {
        let p = base.patroni
        let checks = base.topology.front == .haproxy ? Int((base.haproxy.interNs * Nanos(base.haproxy.fall + base.haproxy.rise)) / Time.s) : 15
        var bound = 2 * (p.ttl + p.loopWait + p.retryTimeout) + checks + 60
        let clones = s.faults.contains { $0.kind == "reinit" || $0.kind == "lose_disk" }
            || p.removeDataDirectoryOnRewindFailure || p.removeDataDirectoryOnDivergedTimelines
            || base.faults.contains { if case .reinit = $0.action { return true }; if case .loseDisk = $0.action { return true }; return false }
        if clones {
            let pg = base.postgresql
            bound += Int(pg.checkpointCompletionTarget * Double(pg.checkpointTimeoutNs) / 1e9 + Double(pg.dataSizeBytes) / pg.bandwidthBytesPerS) + 1
        }
        return bound
    }
}

/// One explored run's faults, as parts (shrinking changes one at a time).
public struct Schedule: Sendable, Equatable {
    public var faults: [GeneratedFault]
    public var seed: UInt64
    /// Fewer DB nodes than the scenario's (shrinking), when its topology line allows it.
    public var dbNodes: Int? = nil
    public var kinds: [String] { faults.map(\.kind) }
}

extension Explorer {
    /// Run `index` of exploration `seed`: a swarm (each run enables a random subset of the
    /// fault kinds, at a random density), 1–6 faults drawn from it at random times in a window
    /// after the prefix — a third of them landing while the previous fault is still in force
    /// or just undone — each fault that lasts with a `for:`.
    public static func schedule(_ t: ExploreTarget, seed: UInt64, index: Int) -> Schedule {
        var r = Rng(seed: seed &* 0xD1B5_4A32_D192_ED03 ^ UInt64(index) &+ 0x8CB9_2BA7_2F3D_8DD7)
        let gen = FaultGenerator(hosts: t.hosts)
        let available = FaultGenerator.kinds.filter { k in
            switch k {
            case "member_remove", "member_add": return !gen.etcdHosts.isEmpty
            case "switchover", "failover", "reinit", "restart_member", "set_tags", "replay_pause", "start_fails", "stop_hangs": return !gen.dbHosts.isEmpty
            default: return true
            }
        }
        let density = 0.1 + 0.4 * r.unit()
        var enabled = available.filter { _ in r.chance(density) }
        if enabled.isEmpty { enabled = [available[Int(r.below(UInt64(available.count)))]] }
        let count = Int(r.int(1, 6))
        let window = Int(r.int(60, 240))
        let start = 20 + t.prefixEnd
        var faults: [GeneratedFault] = []
        for _ in 0..<count {
            let kind = enabled[Int(r.below(UInt64(enabled.count)))]
            var at = start + Int(r.int(0, Int64(window)))
            if let last = faults.last, r.chance(0.33) { at = max(start, last.endSeconds + Int(r.int(-5, 20))) }
            faults.append(gen.fault(kind, at: at, room: 120, bounded: true, &r))
        }
        faults.sort { ($0.at, $0.kind) < ($1.at, $1.kind) }
        return Schedule(faults: faults, seed: r.next() % 1_000_000 + 1)
    }

    /// When the heal phase starts: every fault's effect over, plus five seconds.
    static func healAt(_ t: ExploreTarget, _ s: Schedule) -> Int { max(t.prefixEnd, s.faults.map(\.endSeconds).max() ?? 0, 20) + 5 }

    /// The schedule as a scenario file: the target's text, then the schedule's keys; the heal
    /// phase (`heal: all`, and `resume_cluster` if the cluster was paused) after every fault.
    public static func text(_ t: ExploreTarget, _ s: Schedule, name: String, description: String) -> String {
        let heal = healAt(t, s)
        var body = t.body
        while body.hasSuffix("\n") { body.removeLast() }
        if let n = s.dbNodes { body = TopLevelText.withDBNodes(body, n) ?? body }
        var lines = [body]
        lines += ["name: \(name)", "description: \(yamlString(description))", "seed: \(s.seed)", "duration: \(heal + t.convergenceBoundSeconds(s))s", "faults:"]
        lines += t.prefix
        lines += s.faults.map(\.yaml)
        lines.append("  - { at: \(heal)s, heal: all }")
        if s.faults.contains(where: { $0.kind == "pause_cluster" }) { lines.append("  - { at: \(heal)s, resume_cluster: true }") }
        return lines.filter { !$0.isEmpty }.joined(separator: "\n") + "\n"
    }

    static func yamlString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Loads a schedule's scenario (nil when it does not load: a shrinking step that names a
    /// host the smaller topology lacks).
    static func scenario(_ t: ExploreTarget, _ s: Schedule, name: String = "explore") -> (Scenario, healNs: Nanos)? {
        let text = Self.text(t, s, name: name, description: "explored")
        guard case .success(let sc) = ScenarioLoader.load(text: text, file: t.file) else { return nil }
        return (sc, Nanos(healAt(t, s)) * Time.s)
    }

    /// Runs a schedule and checks it (one thread).
    static func check(_ t: ExploreTarget, _ s: Schedule, checkExpect: Bool) -> [PropertyFailure]? {
        guard let (sc, heal) = scenario(t, s) else { return nil }
        let sim = Simulation(scenario: sc)
        let run = sim.run()
        let f = Analyzer.analyze(run, scenario: sc)
        return ExploreProperties.check(sc, run, f, healedAtNs: heal, checkExpect: checkExpect)
    }
}

/// Top-level keys of a block-style YAML document, as text.
enum TopLevelText {
    /// The text without the given top-level keys (each with its indented or flow
    /// continuation), and what was removed by key; nil if the top level is not a block mapping.
    static func strip(_ text: String, keys: Set<String>) -> (String, [String: String])? {
        var kept: [Substring] = [], removed: [String: String] = [:]
        var current: String? = nil
        var sawKey = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            // A key at column 0 starts an entry; indented lines, list items and comments at
            // column 0 belong to the entry above.
            if let first = line.first, first != " ", first != "#", first != "-" {
                if first == "{" || first == "[" { return nil }
                guard let colon = line.firstIndex(of: ":") else { return nil }
                let key = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
                sawKey = true
                current = keys.contains(key) ? key : nil
                if let k = current {
                    removed[k] = String(line)
                    continue
                }
            } else if let k = current {
                if !line.isEmpty { removed[k, default: ""] += "\n" + line }
                continue
            }
            kept.append(line)
        }
        guard sawKey else { return nil }
        return (kept.joined(separator: "\n"), removed)
    }

    /// The body with its one-line `topology:` given `db_nodes: n` (a bare preset word or a
    /// flow mapping); nil when the topology is written otherwise.
    static func withDBNodes(_ body: String, _ n: Int) -> String? {
        var lines = body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let i = lines.firstIndex(where: { $0.hasPrefix("topology:") }) else { return nil }
        let value = lines[i].dropFirst("topology:".count).trimmingCharacters(in: .whitespaces)
        if i + 1 < lines.count, lines[i + 1].hasPrefix(" ") { return nil }
        if value.hasPrefix("{") && value.hasSuffix("}") {
            var inner = String(value.dropFirst().dropLast()).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !inner.contains(where: { $0.hasPrefix("hosts") }) else { return nil }
            inner.removeAll { $0.hasPrefix("db_nodes") }
            inner.append("db_nodes: \(n)")
            lines[i] = "topology: { \(inner.joined(separator: ", ")) }"
        } else if !value.isEmpty, value.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) {
            lines[i] = "topology: { preset: \(value), db_nodes: \(n) }"
        } else {
            return nil
        }
        return lines.joined(separator: "\n")
    }
}
