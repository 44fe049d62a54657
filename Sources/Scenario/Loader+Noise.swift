import SimCore

extension ScenarioLoader {
    static let noiseKeys = ["preset", "method", "episode", "sources"]
    static let noiseSourceKeys = ["name", "kind", "rate", "duration", "on", "between", "pick", "source", "fsync", "latency", "jitter", "loss", "delay"]

    /// `noise: {preset: cloud-vm, method: episodes, sources: [...]}`: the preset's sources
    /// first, then the file's own.
    static func readNoise(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> NoiseConfig {
        var c = NoiseConfig()
        guard let f = r.mapping(n, path, allowed: noiseKeys, what: "a noise section such as {preset: cloud-vm}") else { return c }
        if let pn = f["preset"], let name = r.oneOf(pn, f.path("preset"), NoisePresets.names) {
            c.preset = name
            c.sources = NoisePresets.sources(name, s.topology)
        }
        if let mn = f["method"], let m = r.oneOf(mn, f.path("method"), ["direct", "episodes"]) { c.method = NoiseMethod(rawValue: m)! }
        var sourceNode: (YNode, String)? = nil
        if let en = f["episode"], let e = r.mapping(en, f.path("episode"), allowed: ["at", "source", "allocation"], what: "an episode such as {at: 60s}") {
            r.field(e, "at", { r.duration($0, $1, min: 10 * Time.s, max: Scenario.maxDurationNs) }) { c.episodeAtNs = $0 }
            if let an = e["allocation"], let a = r.oneOf(an, e.path("allocation"), EpisodeAllocation.allCases.map(\.rawValue)) {
                c.episodeAllocation = EpisodeAllocation(rawValue: a)!
            }
            if let sn = e["source"] { sourceNode = (sn, e.path("source")) }
        }
        if c.method == .episodes && s.durationNs < c.episodeAtNs + Time.m {
            r.error(f["method"]!, f.path("method"), "an episode needs a minute after its event at \(DurationText.format(c.episodeAtNs)) to play out; the run lasts \(DurationText.format(s.durationNs))")
        }
        if let sn = f["sources"], let items = r.list(sn, f.path("sources"), what: "noise sources such as {kind: pause, on: patroni, rate: 1/d, duration: 2s}") {
            for (i, item) in items.enumerated() {
                if let src = readNoiseSource(item, Reader.join(f.path("sources"), i), s, r) { c.sources.append(src) }
            }
        }
        if c.sources.isEmpty && !r.hasErrors { r.warning(n, path, "no noise source applies to this topology: the section does nothing") }
        if let (sn, sp) = sourceNode { c.episodeSource = episodeSource(sn, sp, c, r) }
        if c.method == .episodes && c.sources.allSatisfy({ $0.streams == 0 }) && !r.hasErrors {
            r.error(n, path, "episodes need at least one noise source with a target")
        }
        return c
    }

    /// `episode: {source: ...}`: a source by name or by its 1-based number, one with a target.
    static func episodeSource(_ n: YNode, _ path: String, _ c: NoiseConfig, _ r: Reader) -> Int? {
        guard let text = r.string(n, path) else { return nil }
        let eligible = c.episodeSources
        let names = eligible.map { "'\(c.sources[$0].name)'" }.joined(separator: ", ")
        let found = c.sources.firstIndex { $0.name == text } ?? Int(text).flatMap { $0 >= 1 && $0 <= c.sources.count ? $0 - 1 : nil }
        guard let i = found, eligible.contains(i) else {
            r.error(n, path, "no noise source with a target is called '\(text)'; expected one of \(names) or its number")
            return nil
        }
        return i
    }

    static func readNoiseSource(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> NoiseSource? {
        guard let f = r.mapping(n, path, allowed: noiseSourceKeys, required: ["kind", "rate", "duration"],
                                what: "a noise source such as {kind: pause, on: patroni, rate: 1/d, duration: 2s}") else { return nil }
        guard let kn = f["kind"], let kt = r.oneOf(kn, f.path("kind"), NoiseKind.allCases.map(\.rawValue)), let kind = NoiseKind(rawValue: kt) else { return nil }
        var rate: Double? = nil
        r.field(f, "rate", { noiseRate($0, $1, r) }) { rate = $0 }
        var duration: NoiseSize? = nil
        r.field(f, "duration", { noiseSize($0, $1, isTime: true, r) }) { duration = $0 }
        // The size each event draws: required where the kind has one, refused elsewhere.
        var size: NoiseSize? = nil
        for key in ["fsync", "latency", "jitter", "loss", "delay"] where f.has(key) {
            guard key == kind.sizeKey else {
                r.error(f[key]!, f.path(key), "'\(key)' does not apply to \(kind.rawValue)" + (kind.sizeKey.map { "; it takes '\($0)'" } ?? "; its duration is all it has"))
                continue
            }
            size = noiseSize(f[key]!, f.path(key), isTime: key != "loss", r)
        }
        if let k = kind.sizeKey, !f.has(k) { r.error(n, path, "\(kind.rawValue) needs '\(k)'") }
        if kind.onLinks && f.has("on") { r.error(f["on"]!, f.path("on"), "\(kind.rawValue) is on links: give 'between: [db, etcd]'") }
        if !kind.onLinks && f.has("between") { r.error(f["between"]!, f.path("between"), "\(kind.rawValue) is not on links: give 'on:'") }
        var targets: [NoiseTarget] = []
        if kind.onLinks {
            guard let bn = f["between"] else { r.error(n, path, "\(kind.rawValue) needs 'between: [A, B]' (host groups such as db, etcd, proxy, app; hosts; roles)"); return nil }
            guard let items = r.list(bn, f.path("between"), what: "two host groups such as [db, etcd]"), items.count == 2 else {
                if bn.items != nil { r.error(bn, f.path("between"), "expected two sides, such as [db, etcd]") }
                return nil
            }
            let a = hostSide(items[0], Reader.join(f.path("between"), 0), s, r), b = hostSide(items[1], Reader.join(f.path("between"), 1), s, r)
            var seen: [(HostRef, HostRef)] = []
            NoiseTarget.links(a, b, seen: &seen)
            targets = seen.map { .link($0.0, $0.1) }
        } else {
            let defaultOn: [String]? = kind == .diskStall || kind == .slowFsync ? ["etcd"] : kind == .slowQueries ? ["primary"] : nil
            if let on = f["on"] {
                let items = on.items ?? [on]
                for (k, item) in items.enumerated() {
                    targets += processTargets(kind, item, on.items == nil ? f.path("on") : Reader.join(f.path("on"), k), s, r)
                }
            } else if let d = defaultOn {
                for w in d { targets += processTargets(kind, YNode(.scalar(w, quoted: false), line: n.line, column: n.column), f.path("on"), s, r) }
            } else {
                r.error(n, path, "\(kind.rawValue) needs 'on:' (a service such as patroni, a host, a role such as primary, or host/service)")
            }
        }
        var together = false
        if let pn = f["pick"], let p = r.oneOf(pn, f.path("pick"), ["each", "all"]) { together = p == "all" }
        var name = kind.rawValue.replacingOccurrences("_", " ")
        r.field(f, "name", r.string) { name = $0 }
        var cite = ""
        r.field(f, "source", r.string) { cite = $0 }
        guard let rate, let duration, kind.sizeKey == nil || size != nil else { return nil }
        if targets.isEmpty && !r.hasErrors { r.warning(n, path, "no host of this topology matches: the source makes no events") }
        return NoiseSource(name: name, kind: kind, ratePerSecond: rate, duration: duration, size: size, targets: targets, together: together,
                           source: cite, line: n.line)
    }

    /// A noise rate: `2/d`, `1/h`, `6/y`, `0.5/w`. Events per second, at least one a century.
    static func noiseRate(_ n: YNode, _ path: String, _ r: Reader) -> Double? {
        guard let t = r.scalar(n, path, expected: "a rate such as 2/d") else { return nil }
        let parts = t.split(separator: "/", maxSplits: 1).map { String($0).trimmingCharactersInSet() }
        let per: [String: Double] = ["s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "day": 86400, "w": 7 * 86400, "week": 7 * 86400,
                                     "y": 365 * 86400, "year": 365 * 86400]
        guard parts.count == 2, let v = Double(parts[0]), v.isFinite, v > 0, let unit = per[parts[1]] else {
            r.error(n, path, "expected a rate such as 2/d (per s, m, h, d, w or y), got \"\(t)\"")
            return nil
        }
        let perSecond = v / unit
        if perSecond < 1 / (100 * 365 * 86400) { r.error(n, path, "must be at least 1/century, got \"\(t)\""); return nil }
        if perSecond > 10 { r.error(n, path, "must be at most 10/s per target, got \"\(t)\""); return nil }
        return perSecond
    }

    /// A size: `2s` (fixed), `{median: 1s, p99: 10s}` (log-normal), `{min: 1s, max: 3s}`
    /// (uniform), `{mean: 2s}` (exponential); a loss is a fraction (`0.3`, `{min: 0.1, max: 0.5}`).
    static func noiseSize(_ n: YNode, _ path: String, isTime: Bool, _ r: Reader) -> NoiseSize? {
        func value(_ v: YNode, _ p: String) -> Double? {
            if isTime { return r.duration(v, p, max: 30 * Time.d, allowZero: false).map(Double.init) }
            return r.double(v, p, min: 0, max: 1)
        }
        if n.scalar != nil { return value(n, path).map { NoiseSize(.fixed($0), isTime: isTime) } }
        let what = isTime ? "a duration (2s) or a distribution such as {median: 1s, p99: 10s}, {min: 1s, max: 3s} or {mean: 2s}"
            : "a fraction (0.3) or {min: 0.1, max: 0.5}"
        guard let f = r.mapping(n, path, allowed: isTime ? ["median", "p99", "min", "max", "mean"] : ["min", "max"], what: what) else { return nil }
        let keys = Set(f.entries.map(\.key))
        func get(_ k: String) -> Double? { f[k].flatMap { value($0, f.path(k)) } }
        if keys == ["median", "p99"], let m = get("median"), let q = get("p99") {
            if q < m { r.error(f["p99"]!, f.path("p99"), "must not be below the median"); return nil }
            return NoiseSize(.lognormal(median: m, p99: q), isTime: isTime)
        }
        if keys == ["min", "max"], let a = get("min"), let b = get("max") {
            if b < a { r.error(f["max"]!, f.path("max"), "must not be below min"); return nil }
            return NoiseSize(.uniform(a, b), isTime: isTime)
        }
        if keys == ["mean"], let m = get("mean") { return NoiseSize(.exponential(mean: m), isTime: isTime) }
        if !r.hasErrors { r.error(n, path, "expected \(what)") }
        return nil
    }

    /// Group words naming hosts by what they run.
    static let hostGroups: [String: [Service]] = ["db": [.patroni], "etcd": [.etcd], "proxy": [.haproxy, .envoy, .lb], "haproxy": [.haproxy],
                                                   "envoy": [.envoy], "lb": [.lb], "pgbouncer": [.pgbouncer], "app": [.clients]]

    /// One side of `between:`: a group word, a host, a role, or a list of those.
    static func hostSide(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> [HostRef] {
        let items = n.items ?? [n]
        var out: [HostRef] = []
        for (k, item) in items.enumerated() {
            let p = n.items == nil ? path : Reader.join(path, k)
            guard let t = r.scalar(item, p, expected: "a host group (\(hostGroups.keys.sorted().joined(separator: ", "))), a host or a role") else { continue }
            if let svcs = hostGroups[t] {
                out += s.topology.hosts.filter { h in svcs.contains { h.runs($0) } }.map { .named($0.name) }
            } else if let h = readHostRef(item, p, s, r) {
                out.append(h)
            }
        }
        return out
    }

    /// One entry of `on:`: a service (each of its processes), `all` or a group word (whole
    /// hosts), a host or role (the whole host; for disks its disk), or `host/service`.
    static func processTargets(_ kind: NoiseKind, _ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> [NoiseTarget] {
        guard let t = r.scalar(n, path, expected: "a service, a host, a role or host/service") else { return [] }
        let allowed: [Service]
        switch kind {
        case .diskStall, .slowFsync: allowed = [.etcd, .postgres]
        case .slowQueries: allowed = [.postgres]
        default: allowed = Service.allCases
        }
        func check(_ svc: Service) -> Bool {
            if allowed.contains(svc) { return true }
            r.error(n, path, "\(kind.rawValue) applies to \(allowed.map(\.rawValue).joined(separator: " or ")), not \(svc.rawValue)")
            return false
        }
        if let slash = t.firstIndex(of: "/") {
            let hostText = String(t[..<slash]), svcText = String(t[t.index(after: slash)...])
            guard let svc = Service(rawValue: svcText) else {
                r.error(n, path, "unknown service '\(svcText)'; expected one of \(Service.allCases.map(\.rawValue).joined(separator: ", "))")
                return []
            }
            guard check(svc), let h = readHostRef(YNode(.scalar(hostText, quoted: false), line: n.line, column: n.column, override: n.override), path, s, r) else { return [] }
            if case .named(let name) = h, s.topology.host(name)?.runs(svc) != true { r.error(n, path, "'\(name)' runs no \(svc.rawValue)"); return [] }
            return [.proc(h, svc)]
        }
        if let svc = Service(rawValue: t) {
            guard check(svc) else { return [] }
            return s.topology.hosts.filter { $0.runs(svc) }.map { .proc(.named($0.name), svc) }
        }
        if kind == .slowQueries {
            guard let h = readDBHostRef(n, path, s, r) else { return [] }
            return [.proc(h, .postgres)]
        }
        if kind == .pause && (t == "all" || hostGroups[t] != nil) {
            let hosts = t == "all" ? s.topology.hosts : s.topology.hosts.filter { h in hostGroups[t]!.contains { h.runs($0) } }
            return hosts.map { .host(.named($0.name)) }
        }
        guard let h = readHostRef(n, path, s, r) else { return [] }
        if kind != .pause, case .named(let name) = h, let spec = s.topology.host(name), !spec.runs(.etcd) && !spec.runs(.postgres) {
            r.error(n, path, "'\(name)' runs neither etcd nor PostgreSQL: it has no disk \(kind.rawValue) could slow")
            return []
        }
        return [.host(h)]
    }
}
