import SimCore
import Settings

extension ScenarioLoader {
    static let faultActions = ["crash", "restart", "kill", "stop", "start", "pause", "resume", "partition", "heal", "isolate",
                               "lose_disk", "link", "slow_disk", "switchover", "failover", "pause_cluster", "resume_cluster",
                               "edit_config", "set_tags", "reinit", "restart_member", "member_remove", "member_add", "replay_pause",
                               "add_replica", "start_fails", "stop_hangs"]
    static let faultKeys = ["at", "jitter", "for"] + faultActions
    /// Actions that `for:` can undo.
    public static let undoable: Set<String> = ["crash", "kill", "stop", "pause", "partition", "isolate", "link", "slow_disk", "lose_disk", "pause_cluster",
                                        "replay_pause", "start_fails", "stop_hangs"]

    static func readFaults(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> [FaultSpec] {
        guard let items = r.list(n, path, what: "faults such as {at: 2m, crash: db1}") else { return [] }
        var out: [FaultSpec] = []
        var edits: [(index: Int, at: Nanos, node: YNode, path: String)] = []
        var tagEdits: [(index: Int, at: Nanos, node: YNode, path: String)] = []
        for (i, item) in items.enumerated() {
            let p = Reader.join(path, i)
            guard let f = r.mapping(item, p, allowed: faultKeys, required: ["at"], what: "a fault such as {at: 2m, crash: db1}") else { continue }
            let actions = f.entries.filter { faultActions.contains($0.key) }
            if actions.count != 1 {
                r.error(item, p, actions.isEmpty ? "a fault needs one action: \(faultActions.joined(separator: ", "))"
                        : "a fault has exactly one action, got \(actions.map(\.key).joined(separator: " and "))")
                continue
            }
            let act = actions[0]
            var at: Nanos = 0, jitter: Nanos = 0, forNs: Nanos? = nil
            // Moments and spans of the run: bounded by the longest run, not by a setting's limit.
            let run = Scenario.maxDurationNs
            r.field(f, "at", { r.duration($0, $1, max: run) }) { at = $0 }
            r.field(f, "jitter", { r.duration($0, $1, max: run) }) { jitter = $0 }
            r.field(f, "for", { r.duration($0, $1, max: run, allowZero: false) }) { forNs = $0 }
            if f.has("for") && !undoable.contains(act.key) {
                r.error(f["for"]!, f.path("for"), "'\(act.key)' cannot be undone with for:; it applies to \(undoable.sorted().joined(separator: ", "))")
            }
            let end = at + jitter + (forNs ?? 0)
            if at >= s.durationNs {
                r.error(f["at"]!, f.path("at"), "\(DurationText.format(at)) is not before the end of the run (duration \(DurationText.format(s.durationNs)))")
            } else if end >= s.durationNs {
                let node = f["for"] ?? f["jitter"] ?? f["at"]!
                r.error(node, f.path(f.has("for") ? "for" : "jitter"), "the fault lasts until \(DurationText.format(end)), past the end of the run (duration \(DurationText.format(s.durationNs)))")
            }
            let ap = f.path(act.key)
            if act.key == "edit_config" {
                edits.append((i, at, act.value, ap))
                out.append(FaultSpec(index: i, atNs: at, jitterNs: jitter, forNs: forNs, action: .editConfig(s.patroni, changed: []), line: item.line))
                continue
            }
            if act.key == "set_tags" {
                tagEdits.append((i, at, act.value, ap))
                out.append(FaultSpec(index: i, atNs: at, jitterNs: jitter, forNs: forNs, action: .setTags(host: "", PatroniConfig.Tags()), line: item.line))
                continue
            }
            if let action = readAction(act.key, act.value, ap, s, r) {
                out.append(FaultSpec(index: i, atNs: at, jitterNs: jitter, forNs: forNs, action: action, line: item.line))
            }
        }
        // Each edit_config applies on top of the configuration left by the edits before it.
        var current = s.patroni
        for e in edits.sorted(by: { ($0.at, $0.index) < ($1.at, $1.index) }) {
            guard let f = r.mapping(e.node, e.path, allowed: patroniKeys.filter { $0 != "tags" && $0 != "watchdog" && $0 != "restapi" },
                                    what: "a mapping of Patroni dynamic settings such as {ttl: 20}") else { continue }
            var next = current
            readPatroniFields(f, &next, hosts: s.topology, r)
            for w in next.adjustTimeouts() { r.warning(e.node, e.path, w) }
            current = next
            if let k = out.firstIndex(where: { $0.index == e.index }) {
                out[k].action = .editConfig(next, changed: f.entries.map(\.key))
            }
        }
        // `set_tags: {db2: {nofailover: true}}`: the member's patroni.yml edited and reloaded;
        // each applies on top of the tags the edits before it left.
        var tags: [String: PatroniConfig.Tags] = [:]
        for e in tagEdits.sorted(by: { ($0.at, $0.index) < ($1.at, $1.index) }) {
            guard let f = r.mapping(e.node, e.path, allowed: s.topology.dbHosts, what: "a DB host and its new tags, such as {db2: {nofailover: true}}") else { continue }
            guard f.entries.count == 1, let entry = f.entries.first else {
                r.error(e.node, e.path, "expected exactly one DB host, got \(f.entries.count)")
                continue
            }
            var t = tags[entry.key] ?? s.patroni.tags(for: entry.key)
            guard readTags(entry.value, f.path(entry.key), &t, dbHosts: s.topology.dbHosts, r) else { continue }
            tags[entry.key] = t
            if let k = out.firstIndex(where: { $0.index == e.index }) { out[k].action = .setTags(host: entry.key, t) }
        }
        // A member joins once: before it, its host is off with an empty data directory.
        var joined: Set<String> = []
        for (k, f) in out.enumerated() {
            guard case .addReplica(let m) = f.action else { continue }
            if !joined.insert(m).inserted, k < items.count {
                r.error(items[f.index], Reader.join(path, f.index), "'\(m)' is added twice; a member joins once")
            }
        }
        return out
    }

    /// A host reference that must be a DB host (or a role, which always resolves to one).
    static func readDBHostRef(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> HostRef? {
        guard let h = readHostRef(n, path, s, r) else { return nil }
        if case .named(let name) = h, !s.topology.dbHosts.contains(name) {
            r.error(n, path, "'\(name)' runs no PostgreSQL; expected a DB host (\(s.topology.dbHosts.joined(separator: ", "))) or a role")
            return nil
        }
        return h
    }

    static func readHostRef(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> HostRef? {
        guard let text = r.scalar(n, path, expected: "a host name or a role (\(Role.allCases.map(\.rawValue).joined(separator: ", ")))") else { return nil }
        if let role = Role(rawValue: text) { return .role(role) }
        if s.topology.host(text) != nil { return .named(text) }
        var msg = "unknown host '\(text)'"
        let names = s.topology.hosts.map(\.name) + Role.allCases.map(\.rawValue)
        if let sug = Suggest.closest(text, in: names) { msg += "; did you mean '\(sug)'?" } else {
            msg += "; expected a host (\(s.topology.hosts.map(\.name).joined(separator: ", "))) or a role (\(Role.allCases.map(\.rawValue).joined(separator: ", ")))"
        }
        r.error(n, path, msg)
        return nil
    }

    /// `db1`, `db1/etcd`, `primary`, `primary/patroni`.
    static func readTarget(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader, processOnly: Bool = false) -> Target? {
        guard let text = r.scalar(n, path, expected: "a host, a host/process such as db1/etcd, or a role such as primary") else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 2 || parts.contains(where: \.isEmpty) {
            r.error(n, path, "expected host or host/process such as db1/etcd, got \"\(text)\"")
            return nil
        }
        guard let host = readHostRef(YNode(.scalar(parts[0], quoted: false), line: n.line, column: n.column, override: n.override), path, s, r) else { return nil }
        if parts.count == 1 {
            if processOnly { r.error(n, path, "expected host/process such as db1/postgres, got \"\(text)\""); return nil }
            return Target(host: host, service: nil)
        }
        guard let svc = Service(rawValue: parts[1]) else {
            var msg = "unknown process '\(parts[1])'"
            if let sug = Suggest.closest(parts[1], in: Service.allCases.map(\.rawValue)) { msg += "; did you mean '\(sug)'?" } else {
                msg += "; processes are \(Service.allCases.map(\.rawValue).joined(separator: ", "))"
            }
            r.error(n, path, msg)
            return nil
        }
        if case .named(let h) = host, let spec = s.topology.host(h), !spec.runs(svc) {
            r.error(n, path, "host '\(h)' runs no \(svc.rawValue) (it runs \(spec.services.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        if case .role(let role) = host {
            let dbRole = [Role.primary, .replica, .syncStandby].contains(role)
            let ok = dbRole ? [.patroni, .postgres, .etcd, .pgbouncer].contains(svc) : svc == .etcd || svc == .patroni || svc == .postgres
            if !ok { r.error(n, path, "role '\(role.rawValue)' names a \(dbRole ? "DB" : "etcd") host, which runs no \(svc.rawValue)"); return nil }
        }
        return Target(host: host, service: svc)
    }

    static func hostList(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> [HostRef]? {
        guard let items = r.list(n, path, what: "host names") else { return nil }
        var out: [HostRef] = []
        for (i, it) in items.enumerated() { if let h = readHostRef(it, Reader.join(path, i), s, r) { out.append(h) } }
        return out.count == items.count ? out : nil
    }

    static func dbMember(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader, etcd: Bool = false, allowRole: Bool = false) -> String? {
        guard let name = r.string(n, path) else { return nil }
        let pool = etcd ? s.topology.etcdHosts : s.topology.dbHosts
        if pool.contains(name) { return name }
        if allowRole, Role(rawValue: name) != nil { return name }
        var msg = s.topology.host(name) == nil ? "unknown host '\(name)'" : "'\(name)' runs no \(etcd ? "etcd" : "Patroni")"
        if let sug = Suggest.closest(name, in: pool) { msg += "; did you mean '\(sug)'?" } else { msg += "; expected one of \(pool.joined(separator: ", "))" }
        r.error(n, path, msg)
        return nil
    }

    static func readAction(_ key: String, _ v: YNode, _ p: String, _ s: Scenario, _ r: Reader) -> FaultAction? {
        switch key {
        case "crash":
            return readHostRef(v, p, s, r).map { .crash($0) }
        case "isolate":
            return readHostRef(v, p, s, r).map { .isolate($0) }
        case "restart": return readTarget(v, p, s, r).map { .restart($0) }
        case "kill": return readTarget(v, p, s, r, processOnly: true).map { .kill($0) }
        case "stop": return readTarget(v, p, s, r, processOnly: true).map { .stop($0) }
        case "start": return readTarget(v, p, s, r, processOnly: true).map { .start($0) }
        case "pause": return readTarget(v, p, s, r).map { .pause($0) }
        case "resume": return readTarget(v, p, s, r).map { .resume($0) }
        case "lose_disk": return readTarget(v, p, s, r).map { .loseDisk($0) }
        case "heal":
            if v.scalar == "all" { return .heal }
            r.error(v, p, "expected 'all' (or use for: on the partition), got \(v.shapeDescription)")
            return nil
        case "partition":
            if let items = v.items {
                var groups: [[HostRef]] = []
                for (i, g) in items.enumerated() {
                    guard let hs = hostList(g, Reader.join(p, i), s, r) else { return nil }
                    groups.append(hs)
                }
                if groups.count < 2 { r.error(v, p, "a partition needs at least two groups such as [[db1], [db2, db3]]"); return nil }
                return .partition(groups: groups)
            }
            guard let f = r.mapping(v, p, allowed: ["from", "to"], required: ["from", "to"], what: "groups such as [[db1], [db2, db3]] or {from: [db1], to: [db2]}") else { return nil }
            guard let from = f["from"].flatMap({ hostList($0, f.path("from"), s, r) }),
                  let to = f["to"].flatMap({ hostList($0, f.path("to"), s, r) }) else { return nil }
            return .partitionOneWay(from: from, to: to)
        case "link":
            guard let f = r.mapping(v, p, allowed: ["from", "to", "latency", "loss", "both_ways"], required: ["from", "to"]) else { return nil }
            guard let from = f["from"].flatMap({ readHostRef($0, f.path("from"), s, r) }),
                  let to = f["to"].flatMap({ readHostRef($0, f.path("to"), s, r) }) else { return nil }
            var lat: Latency? = nil, loss: Double? = nil, both = true
            r.field(f, "latency", { readLatency($0, $1, r) }) { lat = $0 }
            r.field(f, "loss", { r.double($0, $1, min: 0, max: 1) }) { loss = $0 }
            r.field(f, "both_ways", r.bool) { both = $0 }
            if lat == nil && loss == nil { r.error(v, p, "a link change needs latency or loss"); return nil }
            return .link(from: from, to: to, latency: lat, loss: loss, bothWays: both)
        case "slow_disk":
            guard let f = r.mapping(v, p, allowed: ["target", "fsync"], required: ["target", "fsync"], what: "{target: db1/etcd, fsync: 500ms}") else { return nil }
            guard let t = f["target"].flatMap({ readTarget($0, f.path("target"), s, r, processOnly: true) }),
                  let lat = f["fsync"].flatMap({ readLatency($0, f.path("fsync"), r) }) else { return nil }
            if t.service != .etcd && t.service != .postgres {
                r.error(f["target"]!, f.path("target"), "slow_disk applies to etcd or postgres, got \(t.service!.rawValue)")
                return nil
            }
            return .slowDisk(t, fsync: lat)
        case "switchover":
            if v.scalar != nil {
                let cand = v.scalar == "any" ? nil : dbMember(v, p, s, r, allowRole: true)
                if v.scalar != "any" && cand == nil { return nil }
                return .switchover(leader: nil, candidate: cand)
            }
            guard let f = r.mapping(v, p, allowed: ["leader", "candidate"], what: "{leader: db1, candidate: db2}") else { return nil }
            var leader: String? = nil, cand: String? = nil
            if let ln = f["leader"] { guard let x = dbMember(ln, f.path("leader"), s, r) else { return nil }; leader = x }
            if let cn = f["candidate"] { guard let x = dbMember(cn, f.path("candidate"), s, r, allowRole: true) else { return nil }; cand = x }
            return .switchover(leader: leader, candidate: cand)
        case "failover":
            let node: YNode
            if v.scalar != nil { node = v } else {
                guard let f = r.mapping(v, p, allowed: ["candidate"], required: ["candidate"]) else { return nil }
                node = f["candidate"]!
            }
            return dbMember(node, p, s, r).map { .failover(candidate: $0) }
        case "pause_cluster", "resume_cluster":
            if let b = r.bool(v, p), b { return key == "pause_cluster" ? .pauseCluster : .resumeCluster }
            r.error(v, p, "expected true")
            return nil
        case "reinit": return dbMember(v, p, s, r).map { .reinit($0) }
        case "replay_pause": return readHostRef(v, p, s, r).map { .replayPause($0) }
        case "start_fails":
            // `start_fails: db1` or `start_fails: {target: db1, reason: missing_wal}`.
            var why = StartFailure.badParameter
            var tn = v
            if v.entries != nil {
                guard let f = r.mapping(v, p, allowed: ["target", "reason"], required: ["target"], what: "{target: db1, reason: bad_parameter}") else { return nil }
                tn = f["target"]!
                if let rn = f["reason"], let w = r.oneOf(rn, f.path("reason"), StartFailure.faultReasons.map(\.name)) {
                    why = StartFailure.faultReasons.first { $0.name == w }!
                }
            }
            let tp = v.entries != nil ? Reader.join(p, "target") : p
            guard let h = readDBHostRef(tn, tp, s, r) else { return nil }
            return .startFails(h, why)
        case "stop_hangs": return readDBHostRef(v, p, s, r).map { .stopHangs($0) }
        case "add_replica":
            guard let m = dbMember(v, p, s, r) else { return nil }
            if m == s.topology.initialPrimary {
                r.error(v, p, "'\(m)' is the initial primary; a member added mid-run joins as a replica")
                return nil
            }
            if s.topology.host(m)?.runs(.etcd) == true {
                r.error(v, p, "'\(m)' also runs an etcd member; add a DB host without etcd (etcd members join with member_add)")
                return nil
            }
            return .addReplica(m)
        case "restart_member": return dbMember(v, p, s, r).map { .restartMember($0) }
        case "member_remove": return dbMember(v, p, s, r, etcd: true).map { .memberRemove($0) }
        case "member_add": return dbMember(v, p, s, r, etcd: true).map { .memberAdd($0) }
        default:
            return nil
        }
    }

    // MARK: - Expectations

    static let expectKeys = ["rto", "rpo", "split_brain", "failover", "final_primary", "invariants", "stale_reads", "writes", "logged"]

    static func readExpectations(_ n: YNode, _ path: String, _ s: Scenario, _ r: Reader) -> [Expectation] {
        guard let f = r.mapping(n, path, allowed: expectKeys) else { return [] }
        var out: [Expectation] = []
        func add(_ c: Expectation.Check, _ name: String, _ node: YNode) { out.append(Expectation(check: c, name: name, line: node.line)) }
        if let rn = f["rto"] {
            let entries = rn.items ?? [rn]
            for (i, e) in entries.enumerated() {
                let p = rn.items == nil ? f.path("rto") : Reader.join(f.path("rto"), i)
                guard let g = r.mapping(e, p, allowed: ["max", "min", "fault"], what: "{max: 45s}") else { continue }
                var fault: Int? = nil
                if let fn = g["fault"], let v = r.int(fn, g.path("fault"), min: 0) {
                    if !s.faults.contains(where: { $0.index == Int(v) }) { r.error(fn, g.path("fault"), "no fault with index \(v)") } else { fault = Int(v) }
                }
                let suffix = fault.map { "[\($0)]" } ?? ""
                if let mn = g["max"], let v = r.duration(mn, g.path("max"), max: Scenario.maxDurationNs) { add(.rtoMax(v, fault: fault), "rto\(suffix).max", mn) }
                if let mn = g["min"], let v = r.duration(mn, g.path("min"), max: Scenario.maxDurationNs) { add(.rtoMin(v, fault: fault), "rto\(suffix).min", mn) }
                if !g.has("max") && !g.has("min") { r.error(e, p, "expected max and/or min") }
            }
        }
        if let rn = f["rpo"], let g = r.mapping(rn, f.path("rpo"), allowed: ["max_writes", "max_bytes", "max_window"]) {
            if let x = g["max_writes"], let v = r.int(x, g.path("max_writes"), min: 0) { add(.rpoMaxWrites(Int(v)), "rpo.max_writes", x) }
            if let x = g["max_bytes"], let v = r.bytes(x, g.path("max_bytes")) { add(.rpoMaxBytes(v), "rpo.max_bytes", x) }
            if let x = g["max_window"], let v = r.duration(x, g.path("max_window"), max: Scenario.maxDurationNs) { add(.rpoMaxWindow(v), "rpo.max_window", x) }
        }
        if let sn = f["split_brain"] {
            if let text = sn.scalar {
                switch text {
                case "none": add(.splitBrainNone, "split_brain.none", sn)
                case "present", "expected": add(.splitBrainPresent, "split_brain.present", sn)
                default: r.error(sn, f.path("split_brain"), "expected none, present, or {max: 5s}, got \"\(text)\"")
                }
            } else if let g = r.mapping(sn, f.path("split_brain"), allowed: ["max"]), let x = g["max"], let v = r.duration(x, g.path("max"), max: Scenario.maxDurationNs) {
                add(.splitBrainMax(v), "split_brain.max", x)
            }
        }
        if let x = f["failover"], let b = r.bool(x, f.path("failover")) { add(.failover(b), "failover", x) }
        if let x = f["final_primary"], let h = dbMember(x, f.path("final_primary"), s, r) { add(.finalPrimary(h), "final_primary", x) }
        if let x = f["invariants"] {
            if x.scalar == "hold" { add(.invariantsHold, "invariants", x) } else { r.error(x, f.path("invariants"), "expected 'hold', got \(x.shapeDescription)") }
        }
        if let sn = f["stale_reads"], let g = r.mapping(sn, f.path("stale_reads"), allowed: ["max"]), let x = g["max"], let v = r.int(x, g.path("max"), min: 0) {
            add(.staleReadsMax(Int(v)), "stale_reads.max", x)
        }
        if let wn = f["writes"], let g = r.mapping(wn, f.path("writes"), allowed: ["min"]), let x = g["min"], let v = r.int(x, g.path("min"), min: 0) {
            add(.writesMin(Int(v)), "writes.min", x)
        }
        if let ln = f["logged"], let items = r.list(ln, f.path("logged"), what: "timeline patterns such as {kind: switchover, detail: {status: 412}}") {
            for (i, e) in items.enumerated() {
                let p = Reader.join(f.path("logged"), i)
                guard let g = r.mapping(e, p, allowed: ["kind", "host", "detail", "min", "max"], required: ["kind"], what: "{kind: switchover, detail: {status: 412}}"),
                      let kn = g["kind"], let kind = r.string(kn, g.path("kind")) else { continue }
                var m = LogMatch(kind: kind)
                if let hn = g["host"], let h = r.string(hn, g.path("host")) {
                    if s.topology.hosts.contains(where: { $0.name == h }) { m.host = h } else {
                        r.error(hn, g.path("host"), "no host named '\(h)'; the scenario has \(s.topology.hosts.map(\.name).joined(separator: ", "))")
                    }
                }
                if let dn = g["detail"] {
                    if let entries = dn.entries {
                        for d in entries {
                            guard let v = d.value.scalar else { r.error(d.value, Reader.join(g.path("detail"), d.key), "expected a value (a string, number or true/false), got \(d.value.shapeDescription)"); continue }
                            m.fields.append(d.key)
                            m.values.append(v)
                        }
                    } else { r.error(dn, g.path("detail"), "expected a mapping of detail fields such as {status: 412}, got \(dn.shapeDescription)") }
                }
                if let x = g["min"], let v = r.int(x, g.path("min"), min: 0) { m.min = Int(v) }
                if let x = g["max"], let v = r.int(x, g.path("max"), min: 0) {
                    m.max = Int(v)
                    // `max: 0` alone: the event must not appear.
                    if !g.has("min") { m.min = min(m.min, Int(v)) }
                    if Int(v) < m.min { r.error(x, g.path("max"), "max \(v) is below min \(m.min)") }
                }
                add(.logged(m), "logged[\(i)].\(kind)", e)
            }
        }
        return out
    }
}
