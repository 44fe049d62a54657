import SimCore
import SimNet
import Recording
import Scenario

/// Background noise at run time: each source's events as a Poisson process per target, each
/// stream from its own seeded random stream (`noise/<source>/<target>`), drawn one arrival at
/// a time (a year of noise holds no schedule in memory). Effects are laid over what faults set
/// and compose when they overlap: pauses count, link overlays take the worst active value,
/// and the base a fault sets is kept apart from the noise on top of it.
struct NoiseRuntime {
    struct Stream {
        var source: Int
        /// The target's index in the source's list (-1: all of them at once).
        var target: Int
        var rng: Rng
    }
    struct Active {
        var source: Int
        var kind: NoiseKind
        var procs: [UInt32] = []
        var hosts: [Int] = []
        /// Directed host pairs (links).
        var pairs: [Int] = []
        var size: Double = 0
        var endNs: Nanos = 0
        var record: Int?
        var live = false
    }
    var streams: [Stream] = []
    var tagged: Stream?
    var active: [Active] = []
    var free: [Int] = []
    /// Noise pauses in force per process, and whether noise (not a fault) froze it.
    var pauses: [UInt16] = []
    var frozeIt: [Bool] = []
    /// Per process: the fsync latency under slow-fsync noise (nil: none active) and the
    /// active slots.
    var fsyncBase: [Latency?] = []
    var fsyncActive: [[Int]] = []
    /// Per directed pair (`from * hosts + to`): the link as faults left it, under noise.
    var linkBase: [LinkSpec?] = []
    var linkActive: [[Int]] = []
    var queryActive: [[Int]] = []
    /// Every growing table has a limit: noise events in force at once.
    static let activeLimit = 65_536

    /// The stream id of the episode's tagged event.
    static let taggedStream = UInt32.max
}

extension Simulation {
    /// Sets up the noise streams and schedules each one's first arrival (and an episode's
    /// tagged event).
    func scheduleNoise() {
        let cfg = scenario.noise
        guard !cfg.isEmpty else { return }
        noise.pauses = Array(repeating: 0, count: procs.count)
        noise.frozeIt = Array(repeating: false, count: procs.count)
        noise.fsyncBase = Array(repeating: nil, count: procs.count)
        noise.fsyncActive = Array(repeating: [], count: procs.count)
        noise.linkBase = Array(repeating: nil, count: hosts.count * hosts.count)
        noise.linkActive = Array(repeating: [], count: hosts.count * hosts.count)
        noise.queryActive = Array(repeating: [], count: pg.count)
        for (i, s) in cfg.sources.enumerated() {
            let targets = s.together ? [-1] : Array(s.targets.indices)
            for t in targets where !s.targets.isEmpty {
                var st = NoiseRuntime.Stream(source: i, target: t, rng: streams.stream("noise/\(i)/\(t)"))
                let first = Nanos(min(st.rng.exponential(mean: 1e9 / s.ratePerSecond), 1e18))
                noise.streams.append(st)
                if first < scenario.durationNs { kernel.schedule(at: first, to: Kernel<Ev>.world, .noise(UInt32(noise.streams.count - 1))) }
            }
        }
        if cfg.method == .episodes {
            // The episode's event: its source as fixed (a sweep's stratum) or uniformly among
            // those with a target (each source is a stratum of the estimate: a rare source is
            // measured as well as a common one, and its rate weighs its mean outcome), its
            // target uniformly, at the episode's moment plus a draw over one HA loop (so it
            // lands at every phase of Patroni's cycle).
            var rng = streams.stream("noise/tagged")
            let eligible = cfg.episodeSources
            let drawn = eligible[Int(rng.below(UInt64(eligible.count)))]
            let pick = cfg.episodeSource ?? drawn
            let s = cfg.sources[pick]
            let target = s.together ? -1 : Int(rng.below(UInt64(s.targets.count)))
            let at = cfg.episodeAtNs + rng.int(0, Int64(scenario.patroni.loopWait) * Time.s)
            noise.tagged = NoiseRuntime.Stream(source: pick, target: target, rng: rng)
            kernel.schedule(at: at, to: Kernel<Ev>.world, .noise(NoiseRuntime.taggedStream))
        }
    }

    /// A stream's event arrives: draw it, apply it, schedule its end and the stream's next one.
    func noiseArrives(_ k: UInt32) {
        let tagged = k == NoiseRuntime.taggedStream
        var st = tagged ? noise.tagged! : noise.streams[Int(k)]
        let src = scenario.noise.sources[st.source]
        // An episode's event draws its length with a heavier tail, weighted back (`sampleTail`).
        var weight = 1.0
        let length: Double
        if tagged {
            let d = src.duration.sampleTail(&st.rng)
            length = d.value
            weight = d.weight
        } else {
            length = src.duration.sample(&st.rng)
        }
        let duration = Nanos(max(1, min(length, 30 * 86400e9)))
        let size = src.size?.sample(&st.rng) ?? 0
        if !tagged {
            let gap = Nanos(min(st.rng.exponential(mean: 1e9 / src.ratePerSecond), 1e18))
            if now + gap < scenario.durationNs { kernel.schedule(after: max(1, gap), to: Kernel<Ev>.world, .noise(k)) }
            noise.streams[Int(k)] = st
        } else {
            noise.tagged = st
        }
        let targets = st.target < 0 ? src.targets : [src.targets[st.target]]
        startNoise(st.source, src, targets, duration: duration, size: size, tagged: tagged, weight: weight)
    }

    func startNoise(_ source: Int, _ src: NoiseSource, _ targets: [NoiseTarget], duration: Nanos, size: Double, tagged: Bool, weight: Double) {
        var a = NoiseRuntime.Active(source: source, kind: src.kind, size: size, endNs: now + duration, live: true)
        var resolved: [String] = []
        for t in targets {
            switch t {
            case .proc(let h, let svc):
                if let hi = resolve(h), let p = proc(hi, svc) {
                    a.procs.append(p)
                    resolved.append(procName(p))
                }
            case .host(let h):
                guard let hi = resolve(h) else { continue }
                resolved.append(hosts[hi].name)
                if src.kind == .pause {
                    a.hosts.append(hi)
                    a.procs += hosts[hi].procs.map(\.1)
                } else {
                    a.procs += hosts[hi].procs.filter { $0.0 == .etcd || $0.0 == .postgres }.map(\.1)
                }
            case .link(let x, let y):
                guard let a1 = resolve(x), let b1 = resolve(y), a1 != b1 else { continue }
                resolved.append("\(hosts[a1].name)<->\(hosts[b1].name)")
                a.pairs += [a1 * hosts.count + b1, b1 * hosts.count + a1]
            }
        }
        let sizeText = src.size.map { sz in sz.isTime ? DurationText.format(Nanos(size.rounded())) : String(trimmed: size, decimals: 3) } ?? ""
        let target = resolved.isEmpty ? "(nothing: no such role now)" : resolved.joined(separator: " ")
        var record = NoiseRecord(source: source, name: src.name, kind: src.kind.rawValue, target: target, startNs: now,
                                 endNs: now + duration, size: sizeText, tagged: tagged)
        record.weight = weight
        a.record = rec.addNoise(record)
        var detail: [(String, JSON)] = [("source", .int(Int64(source))), ("name", .string(src.name)), ("kind", .string(src.kind.rawValue)),
                                        ("target", .string(target)), ("duration", .string(DurationText.format(duration)))]
        if !sizeText.isEmpty { detail.append((src.kind.sizeKey ?? "size", .string(sizeText))) }
        if tagged { detail.append(("tagged", .bool(true))) }
        rec.log(now, resolved.count == 1 ? String(resolved[0].split(separator: "/").first ?? "") : "", "noise", Kind.noiseStart, .object(detail))
        guard noise.active.count - noise.free.count < NoiseRuntime.activeLimit else { return }
        let slot: Int
        if let f = noise.free.popLast() { slot = f; noise.active[slot] = a } else { slot = noise.active.count; noise.active.append(a) }
        applyNoise(slot, on: true)
        kernel.schedule(after: duration, to: Kernel<Ev>.world, .noiseEnd(UInt32(slot)))
    }

    func noiseEnds(_ slot: UInt32) {
        let s = Int(slot)
        guard s < noise.active.count, noise.active[s].live else { return }
        applyNoise(s, on: false)
        noise.active[s].live = false
        if let r = noise.active[s].record {
            rec.endNoise(r, at: now)
            rec.log(now, "", "noise", Kind.noiseEnd, .object([("source", .int(Int64(noise.active[s].source))), ("kind", .string(noise.active[s].kind.rawValue))]))
        }
        noise.free.append(s)
    }

    /// Starts (`on`) or ends an active event's effect.
    func applyNoise(_ slot: Int, on: Bool) {
        let a = noise.active[slot]
        switch a.kind {
        case .pause:
            for p in a.procs {
                let i = Int(p)
                if on {
                    noise.pauses[i] += 1
                    if noise.pauses[i] == 1 && kernel.status(of: p) == .running {
                        pauseProcess(p)
                        noise.frozeIt[i] = true
                    }
                } else {
                    noise.pauses[i] -= 1
                    if noise.pauses[i] == 0 && noise.frozeIt[i] {
                        noise.frozeIt[i] = false
                        resumeProcess(p)
                    }
                }
            }
            // A frozen VM answers nothing: its peers' segments go unanswered and are
            // retransmitted (as a cut path), until it thaws.
            for h in a.hosts {
                for o in hosts.indices where o != h {
                    if on { fabric.cut(h, o); fabric.cut(o, h) } else { fabric.uncut(h, o); fabric.uncut(o, h) }
                }
            }
        case .diskStall:
            guard on else { return }
            for p in a.procs {
                let m = procs[Int(p)].model
                switch procs[Int(p)].service {
                case .etcd: etcd[m].fsyncStallUntil = max(etcd[m].fsyncStallUntil, a.endNs)
                case .postgres: pg[m].fsyncStallUntil = max(pg[m].fsyncStallUntil, a.endNs)
                default: break
                }
            }
        case .slowFsync:
            for p in a.procs {
                let i = Int(p)
                if on {
                    if noise.fsyncActive[i].isEmpty { noise.fsyncBase[i] = currentFsync(p) }
                    noise.fsyncActive[i].append(slot)
                } else {
                    noise.fsyncActive[i].removeAll { $0 == slot }
                }
                if let last = noise.fsyncActive[i].last {
                    _ = setFsyncModel(p, Latency(.lognormal(median: Nanos(noise.active[last].size.rounded()), sigma: 0.3)))
                } else if let base = noise.fsyncBase[i] {
                    _ = setFsyncModel(p, base)
                    noise.fsyncBase[i] = nil
                }
            }
        case .latencySpike, .jitterBurst, .lossBurst:
            for pair in a.pairs {
                if on {
                    if noise.linkActive[pair].isEmpty { noise.linkBase[pair] = fabric.net.link(pair / hosts.count, pair % hosts.count) }
                    noise.linkActive[pair].append(slot)
                } else {
                    noise.linkActive[pair].removeAll { $0 == slot }
                }
                relayLink(pair)
            }
        case .slowQueries:
            for p in a.procs where procs[Int(p)].service == .postgres {
                let n = procs[Int(p)].model
                if on { noise.queryActive[n].append(slot) } else { noise.queryActive[n].removeAll { $0 == slot } }
                pg[n].queryDelayNs = noise.queryActive[n].map { Nanos(noise.active[$0].size.rounded()) }.max() ?? 0
            }
        }
    }

    /// A link's spec: the base faults set, with the worst of the noise in force laid over it.
    func relayLink(_ pair: Int) {
        let x = pair / hosts.count, y = pair % hosts.count
        guard let base = noise.linkBase[pair] else { return }
        if noise.linkActive[pair].isEmpty {
            fabric.net.setLink(x, y, base)
            noise.linkBase[pair] = nil
            return
        }
        var spec = base
        for s in noise.linkActive[pair] {
            let a = noise.active[s]
            let v = Nanos(a.size.rounded())
            switch a.kind {
            case .latencySpike: spec.latency.addNs = max(spec.latency.addNs, v)
            case .jitterBurst: spec.latency.jitterNs = max(spec.latency.jitterNs, v)
            case .lossBurst: spec.loss = max(spec.loss, a.size)
            default: break
            }
        }
        fabric.net.setLink(x, y, spec)
    }

    func currentFsync(_ p: UInt32) -> Latency? {
        let m = procs[Int(p)].model
        switch procs[Int(p)].service {
        case .etcd: return etcd[m].fsync
        case .postgres: return pg[m].walFsync
        default: return nil
        }
    }

    /// A fault sets a link: under noise it changes the base, and the noise stays on top.
    func setLinkBase(_ x: Int, _ y: Int, _ spec: LinkSpec) {
        let pair = x * hosts.count + y
        if !noise.linkBase.isEmpty, noise.linkBase[pair] != nil {
            noise.linkBase[pair] = spec
            relayLink(pair)
        } else {
            fabric.net.setLink(x, y, spec)
        }
    }

    /// The link as faults left it (under any noise).
    func baseLink(_ x: Int, _ y: Int) -> LinkSpec {
        let pair = x * hosts.count + y
        if !noise.linkBase.isEmpty, let b = noise.linkBase[pair] { return b }
        return fabric.net.link(x, y)
    }

    /// A fault sets a disk's fsync latency: under slow-fsync noise it changes the base.
    func setFsyncBase(_ p: UInt32, _ lat: Latency) -> Latency? {
        if !noise.fsyncBase.isEmpty, let prev = noise.fsyncBase[Int(p)] {
            noise.fsyncBase[Int(p)] = lat
            return prev
        }
        return setFsyncModel(p, lat)
    }
}
