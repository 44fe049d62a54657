#if canImport(Glibc)
import Glibc
#endif
import SimCore
import Recording
import Analysis
import Scenario

extension HTMLReport {
    /// Builds the timeline's lanes from the run's recorded history.
    enum Layout {
        static let palette = ["#3b7dd8", "#d8703b", "#3bb273", "#9b59b6", "#c0392b", "#16a085", "#8e6c3b", "#7f8c8d"]
        static let phaseColors = ["detection": "#e4572e", "election": "#f3a712", "promotion": "#e8d33f", "traffic": "#29335c", "clients": "#a06cd5"]

        static func draw(_ s: RunStory, scenario: Scenario?, into g: inout SVG) {
            let end = s.durationNs
            let lh = HTMLReport.laneH
            g.y = 18
            // Bands across every lane: faults (a line for an instant one), split brain.
            for f in s.faults {
                g.band(f.startNs, f.endNs ?? f.startNs, cls: "fault-band", fill: "#e4572e24",
                       title: "fault \(f.index): \(f.kind) \(f.resolved.isEmpty ? f.target : f.resolved) at \(TextClock.clock(f.startNs))"
                           + (f.endNs.map { " until \(TextClock.clock($0))" } ?? ""), extra: " data-fault=\"\(f.index)\"")
            }
            for k in s.findings.splitBrain?.kinds ?? [] {
                for iv in k.intervals {
                    g.band(iv.startNs, iv.endNs, cls: "splitbrain-band", fill: "#b0002038", title: "split brain (\(k.name)): \(iv.detail)")
                }
            }

            // Faults.
            g.open("faults")
            g.label("faults", y: g.y + 12)
            for f in s.faults {
                g.mark(f.startNs, y: g.y + 2, h: lh - 4, cls: "fault-mark", fill: "#e4572e", title: "fault \(f.index): \(f.kind) \(f.resolved)")
                g.text(f.startNs, y: g.y + 12, "\(f.index) \(f.kind) \(f.resolved.isEmpty ? f.target : f.resolved)", dx: 4)
            }
            g.close()
            g.y += lh + HTMLReport.gap
            drawNoise(s, into: &g)

            // RTO brackets, one lane per disruptive fault with an outage.
            for r in s.findings.rto where r.outage && r.sameOutageAs == nil {
                g.open("rto \(r.faultIndex)", cls: "rto")
                g.body[g.body.count - 1] = "<g class=\"rto\" data-lane=\"rto \(r.faultIndex)\" data-fault=\"\(r.faultIndex)\">"
                g.label("RTO fault \(r.faultIndex)", y: g.y + 12)
                var last = r.atNs
                for p in r.phases {
                    guard let at = p.atNs, let d = p.durationNs else { continue }
                    g.span(at - d, at, y: g.y + 2, h: lh - 4, cls: "ph ph-\(p.name)", fill: phaseColors[p.name],
                           title: "\(p.name): \(sec(d)), ended \(TextClock.clock(at)): \(p.detail)" + (p.cause.isEmpty ? "" : "\n\(p.cause)"))
                    last = at
                }
                let label = r.rtoNs.map { "RTO \(sec($0))" } ?? "not recovered"
                g.text(r.rtoNs == nil ? last : r.atNs + r.rtoNs!, y: g.y + 12, label, cls: "rto-label", dx: 4)
                g.close()
                g.y += lh + HTMLReport.gap
            }

            // The leader key and its lease.
            let dbHosts = s.hosts.filter { $0.services.contains("postgres") }.map(\.name)
            func color(_ host: String?) -> String { host.flatMap { dbHosts.firstIndex(of: $0) }.map { palette[$0 % palette.count] } ?? "#bbb" }
            g.open("leader key")
            g.label("leader key", y: g.y + 12)
            let keys = s.timeline.filter { $0.kind == Kind.leaderKey }
            for (i, k) in keys.enumerated() {
                let holder = k.detail["holder"]?.stringValue
                let until = i + 1 < keys.count ? keys[i + 1].timeNs : end
                guard let h = holder else { continue }
                g.span(k.timeNs, until, y: g.y + 2, h: lh / 2 - 2, cls: "key", fill: color(h),
                       title: "leader key held by \(h) from \(TextClock.clock(k.timeNs)) (\(k.detail["cause"]?.stringValue ?? ""))")
                g.text(k.timeNs, y: g.y + 9, h, dx: 3)
            }
            // Each renewal: the lease would expire ttl later (a thin bar to that point).
            for e in s.timeline where e.kind == Kind.leaderLease {
                let ttl = Nanos(e.detail["ttl_s"]?.intValue ?? 30) * Time.s
                g.span(e.timeNs, e.timeNs + ttl, y: g.y + lh / 2 + 2, h: 2, cls: "lease", fill: color(e.detail["holder"]?.stringValue) + "80",
                       title: "lease renewed at \(TextClock.clock(e.timeNs)): expires at \(TextClock.clock(e.timeNs + ttl)) unless renewed")
            }
            for e in s.timeline where e.kind == Kind.leaseReset {
                g.mark(e.timeNs, y: g.y + lh / 2, h: lh / 2, cls: "lease-reset", fill: "#6c4f9e", title: "etcd's new leader reset every lease (\(e.detail.text))")
            }
            for k in keys where k.detail["holder"]?.stringValue == nil {
                g.mark(k.timeNs, y: g.y + 1, h: lh - 2, cls: "key-gone", fill: "#000", title: "leader key gone at \(TextClock.clock(k.timeNs)) (\(k.detail["cause"]?.stringValue ?? ""))")
            }
            g.close()
            g.y += lh + HTMLReport.gap

            let initialPrimary = keys.first?.detail["holder"]?.stringValue
            // Hosts that only run clients or scrapers: their part is the clients lane.
            for host in s.hosts where host.services.contains(where: { !["clients", "monitor"].contains($0) }) {
                drawHost(host, s, initialPrimary: initialPrimary, into: &g)
            }
            drawClients(s, into: &g)
        }

        static let noiseColors = ["disk_stall": "#8e44ad", "slow_fsync": "#b48ad6", "latency_spike": "#e67e22", "jitter_burst": "#f0b27a",
                                  "loss_burst": "#c0392b", "pause": "#2c3e50", "slow_queries": "#16a085"]
        /// At most this many noise events are drawn (a month of direct noise would fill a page).
        static let noiseDrawLimit = 2_000

        /// The noise lane, when the run had noise: each event from its start for its length, in
        /// up to three rows so that overlapping ones stay visible, coloured by kind; an
        /// episode's tagged event also as a band over every lane, to follow what it set off.
        static func drawNoise(_ s: RunStory, into g: inout SVG) {
            let events = s.timeline.filter { $0.kind == Kind.noiseStart }
            guard !events.isEmpty else { return }
            let drawn = Array(events.prefix(noiseDrawLimit))
            let ends = drawn.map { e in e.timeNs + max(0, (try? DurationText.parse(e.detail["duration"]?.stringValue ?? "", bareUnit: Time.s)) ?? 0) }
            // Rows: each event in the first row free at its start (the one freeing first when
            // none is), as few rows as the overlaps need, at most three.
            func assign(_ rows: Int) -> [Int] {
                var rowEnd = Array(repeating: Nanos.min, count: rows)
                return drawn.indices.map { i in
                    let row = rowEnd.firstIndex { $0 <= drawn[i].timeNs } ?? rowEnd.indices.min { rowEnd[$0] < rowEnd[$1] }!
                    rowEnd[row] = ends[i]
                    return row
                }
            }
            let rows = (assign(3).max() ?? 0) + 1
            let rowOf = assign(rows)
            let lh = HTMLReport.laneH
            let rowH = (lh - 4) / Double(rows)
            g.open("noise")
            g.label("noise", y: g.y + 12)
            for (i, e) in drawn.enumerated() {
                let d = e.detail
                let end = ends[i], row = rowOf[i]
                let kind = d["kind"]?.stringValue ?? ""
                let name = d["name"]?.stringValue ?? kind
                let size = NoiseKind(rawValue: kind)?.sizeKey.flatMap { k in d[k]?.stringValue.map { "\(k) \($0)" } } ?? ""
                let tagged = d["tagged"]?.boolValue == true
                let title = "\(tagged ? "episode: " : "")\(name) (\(kind)) on \(d["target"]?.stringValue ?? "") at \(TextClock.clock(e.timeNs)) for \(d["duration"]?.stringValue ?? "?")"
                    + (size.isEmpty ? "" : ", \(size)")
                g.span(e.timeNs, end, y: g.y + 2 + Double(row) * rowH, h: rowH - 1, cls: tagged ? "noise noise-tagged" : "noise",
                       fill: noiseColors[kind] ?? "#7f8c8d", title: title, extra: " data-kind=\"\(HTMLReport.esc(kind))\"")
                if tagged {
                    g.band(e.timeNs, end, cls: "episode-band", fill: "#2c3e5018", title: title)
                    g.text(end, y: g.y + 12, "episode: \(name)", cls: "noise-label", dx: 4)
                }
            }
            if events.count > noiseDrawLimit {
                g.text(s.durationNs, y: g.y + 12, "+\(events.count - noiseDrawLimit) more (see the timeline)", cls: "noise-label", dx: -180)
            }
            g.close()
            g.y += lh + HTMLReport.gap
        }

        /// Host rows: the host (down intervals, watchdog), then a lane per process.
        static func drawHost(_ host: RunStory.Host, _ s: RunStory, initialPrimary: String?, into g: inout SVG) {
            let lh = HTMLReport.laneH, end = s.durationNs
            let mine = s.timeline.filter { $0.host == host.name }
            g.open(host.name, cls: "host")
            g.label(host.name, y: g.y + 11, cls: "host")
            var downSince: Nanos? = nil
            for e in mine where e.component == "host" {
                if e.kind == "host_down" { downSince = e.timeNs }
                if e.kind == "host_up", let d = downSince { g.span(d, e.timeNs, y: g.y + 3, h: 10, cls: "host-down", fill: "#999", title: "\(host.name) down"); downSince = nil }
            }
            if let d = downSince { g.span(d, end, y: g.y + 3, h: 10, cls: "host-down", fill: "#999", title: "\(host.name) down until the end") }
            for e in mine where e.component == "watchdog" {
                let reset = e.kind == Kind.watchdogReset
                g.mark(e.timeNs, y: g.y + 2, h: 12, cls: "watchdog", fill: reset ? "#b00020" : "#555", title: "watchdog: \(e.kind) \(e.detail.text)")
            }
            g.close()
            g.y += 16
            for svc in host.services where !["clients", "monitor"].contains(svc) {
                switch svc {
                case "postgres": postgresLane(host.name, mine, end: end, initialPrimary: initialPrimary, into: &g)
                case "patroni": patroniLane(host.name, mine, into: &g)
                case "etcd": etcdLane(host.name, s, into: &g)
                case "haproxy", "envoy", "lb": proxyLanes(host.name, svc, mine, s, initialPrimary: initialPrimary, into: &g)
                default:
                    // keepalived, pgbouncer: their events as marks.
                    g.open("\(host.name)/\(svc)")
                    g.label("  \(svc)", y: g.y + 12, indent: 14)
                    for e in mine where e.component == svc {
                        g.mark(e.timeNs, y: g.y + 3, h: lh - 6, cls: "ev", fill: "#555", title: "\(e.kind) \(e.detail.text)")
                    }
                    g.close()
                    g.y += lh
                }
            }
            g.y += HTMLReport.gap
        }

        /// PostgreSQL: its state over time (running as primary or standby, starting, stopping,
        /// promoting, rewinding, stopped), writable periods, and its timeline.
        static func postgresLane(_ host: String, _ mine: [TimelineEntry], end: Nanos, initialPrimary: String?, into g: inout SVG) {
            let lh = HTMLReport.laneH
            g.open("\(host)/postgres")
            g.label("  postgres", y: g.y + 12, indent: 14)
            var state = "running", role = host == initialPrimary ? "primary" : "standby", tl: Int64 = 1, writable = host == initialPrimary
            var since: Nanos = 0
            func emit(_ until: Nanos) {
                guard until > since else { return }
                let fill: String
                switch state {
                case "running": fill = role == "primary" ? (writable ? "#2e9e44" : "#8fcf8f") : "#7fb3d5"
                case "stopped", "down": fill = "#999"
                default: fill = "#f0c05a"
                }
                let what = state == "running" ? "\(role)\(role == "primary" && !writable ? " (not accepting writes)" : ""), timeline \(tl)" : state
                g.span(since, until, y: g.y + 2, h: lh - 4, cls: "pg pg-\(state)", fill: fill, title: "\(host) PostgreSQL \(what) from \(TextClock.clock(since))")
                if state == "running" && until - since > 0 { g.text(since, y: g.y + 12, "TL\(tl)", dx: 2) }
                since = until
            }
            for e in mine {
                switch (e.component, e.kind) {
                case ("postgres", Kind.pgState):
                    emit(e.timeNs)
                    state = e.detail["state"]?.stringValue ?? state
                    if let r = e.detail["role"]?.stringValue { role = r }
                    if let t = e.detail["timeline"]?.intValue { tl = t }
                case ("postgres", Kind.pgWritable):
                    emit(e.timeNs)
                    writable = e.detail["writable"]?.boolValue ?? writable
                    if let t = e.detail["timeline"]?.intValue { tl = t }
                    if writable { role = "primary"; state = "running" }
                case ("postgres", "pg_rewind"):
                    emit(e.timeNs)
                    state = "rewinding"
                case ("host", "host_down"):
                    emit(e.timeNs)
                    state = "down"
                    writable = false
                default: break
                }
            }
            emit(end)
            for e in mine where e.component == "postgres" && [Kind.pgPromoted, "walsender_timeout", "wal_discarded", "streaming_refused"].contains(e.kind) {
                g.mark(e.timeNs, y: g.y + 1, h: lh - 2, cls: "pg-ev", fill: e.kind == Kind.pgPromoted ? "#1b7a1b" : "#a33", title: "\(e.kind) \(e.detail.text)")
            }
            g.close()
            g.y += lh
        }

        /// Patroni: its decisions (promote, demote, the leader race, jobs) and messages as marks;
        /// a paused process as a shaded span.
        static func patroniLane(_ host: String, _ mine: [TimelineEntry], into g: inout SVG) {
            let lh = HTMLReport.laneH
            g.open("\(host)/patroni")
            g.label("  patroni", y: g.y + 12, indent: 14)
            var pausedSince: Nanos? = nil
            for e in mine where e.component == "patroni" {
                if e.kind == "process_paused" { pausedSince = e.timeNs; continue }
                if e.kind == "process_resumed", let p = pausedSince {
                    g.span(p, e.timeNs, y: g.y + 2, h: lh - 4, cls: "paused", fill: "#6c4f9e55", title: "Patroni paused (SIGSTOP) until \(TextClock.clock(e.timeNs))")
                    pausedSince = nil
                    continue
                }
                let fill: String, w: Double
                switch e.kind {
                case Kind.demote: fill = "#b00020"; w = 4
                case Kind.promoteStarted: fill = "#1b7a1b"; w = 4
                case "race": fill = "#f3a712"; w = 3
                case "job", "switchover", "failover", "leader_key_release": fill = "#29335c"; w = 3
                default: fill = "#888"; w = 1.5
                }
                let msg = e.detail["msg"]?.stringValue ?? e.detail["why"]?.stringValue ?? e.detail["action"]?.stringValue ?? e.detail["result"]?.stringValue ?? e.detail.text
                g.mark(e.timeNs, y: g.y + 3, h: lh - 6, cls: "patroni-\(e.kind)", fill: fill, title: "\(TextClock.clock(e.timeNs)) \(e.kind): \(msg)", w: w)
            }
            if let p = pausedSince { g.span(p, g.duration, y: g.y + 2, h: lh - 4, cls: "paused", fill: "#6c4f9e55", title: "Patroni paused (SIGSTOP) until the end") }
            g.close()
            g.y += lh
        }

        /// etcd: which member leads, from each election until the next (or until it steps down
        /// or its host goes down), with the term.
        static func etcdLane(_ host: String, _ s: RunStory, into g: inout SVG) {
            let lh = HTMLReport.laneH
            g.open("\(host)/etcd")
            g.label("  etcd", y: g.y + 12, indent: 14)
            // A thin base while the member's host is up (a follower), the leader spans over it.
            var upSince: Nanos? = 0
            for e in s.timeline where e.host == host && e.component == "host" {
                if e.kind == "host_down", let u = upSince {
                    g.span(u, e.timeNs, y: g.y + 7, h: 4, cls: "etcd-member", fill: "#c9b8e6", title: "\(host) etcd member")
                    upSince = nil
                } else if e.kind == "host_up" { upSince = e.timeNs }
            }
            if let u = upSince { g.span(u, s.durationNs, y: g.y + 7, h: 4, cls: "etcd-member", fill: "#c9b8e6", title: "\(host) etcd member") }
            var since: Nanos? = nil, term: Int64 = 0
            for e in s.timeline {
                let isElection = e.kind == Kind.etcdLeader
                let leader = e.detail["leader"]?.stringValue
                if isElection && leader == host {
                    if let st = since { g.span(st, e.timeNs, y: g.y + 2, h: lh - 4, cls: "etcd-leader", fill: "#6c4f9e", title: "\(host) etcd leader, term \(term)") }
                    since = e.timeNs
                    term = e.detail["term"]?.intValue ?? term
                    g.text(e.timeNs, y: g.y + 12, "t\(term)", dx: 2)
                } else if let st = since, (isElection && leader != host) || (e.kind == Kind.etcdStepDown && e.host == host) || (e.kind == "host_down" && e.host == host) {
                    g.span(st, e.timeNs, y: g.y + 2, h: lh - 4, cls: "etcd-leader", fill: "#6c4f9e", title: "\(host) etcd leader, term \(term), until \(TextClock.clock(e.timeNs))")
                    since = nil
                }
            }
            if let st = since { g.span(st, s.durationNs, y: g.y + 2, h: lh - 4, cls: "etcd-leader", fill: "#6c4f9e", title: "\(host) etcd leader, term \(term)") }
            for e in s.timeline where e.host == host && e.component == "etcd" && [Kind.leaseExpired, "etcd_refused_start"].contains(e.kind) {
                g.mark(e.timeNs, y: g.y + 3, h: lh - 6, cls: "etcd-ev", fill: "#333", title: "\(e.kind) \(e.detail.text)")
            }
            g.close()
            g.y += lh
        }

        /// A load balancer: per backend and server, UP (green) or DOWN, with the check results
        /// that flipped it on hover.
        static func proxyLanes(_ host: String, _ svc: String, _ mine: [TimelineEntry], _ s: RunStory, initialPrimary: String?, into g: inout SVG) {
            let lh = HTMLReport.laneH - 4
            let states = mine.filter { $0.kind == Kind.serverState && $0.component == svc }
            var backends: [String] = []
            for e in states { if let b = e.detail["backend"]?.stringValue, !backends.contains(b) { backends.append(b) } }
            for b in ["write", "read"] where !backends.contains(b) { backends.append(b) }
            let dbHosts = s.hosts.filter { $0.services.contains("postgres") }.map(\.name)
            for b in backends {
                let inBackend = states.filter { $0.detail["backend"]?.stringValue == b }
                if inBackend.isEmpty && b == "read" { continue }
                for server in dbHosts {
                    let flips = inBackend.filter { $0.detail["server"]?.stringValue == server }
                    g.open("\(host)/\(svc) \(b)/\(server)")
                    g.label("  \(svc) \(b)/\(server)", y: g.y + 10, indent: 14)
                    // Before its first change a server is in the steady state the run starts in.
                    var up = flips.first.map { !($0.detail["up"]?.boolValue ?? false) } ?? (b == "write" ? server == initialPrimary : server != initialPrimary)
                    var since: Nanos = 0
                    func emit(_ until: Nanos, why: String) {
                        if until > since {
                            g.span(since, until, y: g.y + 2, h: lh - 3, cls: up ? "srv-up" : "srv-down", fill: up ? "#2e9e44" : "#e9c3c3",
                                   title: "\(svc) \(host): Server \(b)/\(server) \(up ? "UP" : "DOWN") from \(TextClock.clock(since))\(why)")
                        }
                        since = until
                    }
                    var why = ""
                    for f in flips {
                        emit(f.timeNs, why: why)
                        up = f.detail["up"]?.boolValue ?? up
                        why = " (checks: \(f.detail["checks"]?.stringValue ?? ""))"
                    }
                    emit(s.durationNs, why: why)
                    g.close()
                    g.y += lh
                }
            }
        }

        /// The clients: acknowledged writes per bucket above the line, failures (by cause) and
        /// indeterminate writes below it; lost writes as black ticks where they were
        /// acknowledged; the median and worst latency as a band on a log scale.
        static func drawClients(_ s: RunStory, into g: inout SVG) {
            let series = s.series
            guard series.count > 0 else { return }
            let bucket = series.bucketNs
            let maxOK = max(1, series.acked.max() ?? 1)
            let failedTotal = (0..<series.count).map { i in series.failed.reduce(0) { $0 + ($1.indices.contains(i) ? $1[i] : 0) } + series.indeterminate[i] }
            let maxBad = max(1, failedTotal.max() ?? 1)
            let upH = 60.0, downH = 30.0, latH = 34.0
            g.y += 6
            g.open("clients", cls: "clients")
            g.label("clients", y: g.y + 11, cls: "host")
            g.label("  acknowledged/s (max \(maxOK))", y: g.y + 26, indent: 14)
            let base = g.y + upH
            for i in 0..<series.count where series.acked[i] > 0 {
                let h = Double(series.acked[i]) / Double(maxOK) * (upH - 4)
                let t = Nanos(i) * bucket
                g.span(t, t + bucket, y: base - h, h: h, cls: "w-ok", fill: "#2e9e44",
                       title: "\(TextClock.clock(t)): \(series.acked[i]) acknowledged"
                           + (series.blocked[i] > 0 ? ", \(series.blocked[i]) of them after waiting over 1 s" : ""))
            }
            g.body.append("<line x1=\"\(SVG.n(HTMLReport.labelW))\" x2=\"\(SVG.n(HTMLReport.labelW + HTMLReport.plotW))\" y1=\"\(SVG.n(base))\" y2=\"\(SVG.n(base))\" stroke=\"#555\" stroke-width=\"0.5\"/>")
            g.label("  failed/s (max \(maxBad))", y: base + 14, indent: 14)
            let reds = ["#d1495b", "#e07a5f", "#f2a541", "#9b2226", "#bc6c25", "#6d6875"]
            for i in 0..<series.count where failedTotal[i] > 0 {
                var y = base
                let t = Nanos(i) * bucket
                for c in WriteSeries.Cause.allCases {
                    let v = series.failed[c.rawValue].indices.contains(i) ? series.failed[c.rawValue][i] : 0
                    guard v > 0 else { continue }
                    let h = Double(v) / Double(maxBad) * (downH - 2)
                    g.span(t, t + bucket, y: y, h: h, cls: "w-fail w-\(c.key)", fill: reds[c.rawValue], title: "\(TextClock.clock(t)): \(v) failed (\(c.label))")
                    y += h
                }
                if series.indeterminate[i] > 0 {
                    let h = Double(series.indeterminate[i]) / Double(maxBad) * (downH - 2)
                    g.span(t, t + bucket, y: y, h: h, cls: "w-ind", fill: "#888", title: "\(TextClock.clock(t)): \(series.indeterminate[i]) indeterminate (the connection broke during COMMIT)")
                }
            }
            for t in series.lostAtNs { g.mark(t, y: base - 8, h: 16, cls: "w-lost", fill: "#000", title: "a lost write: acknowledged at \(TextClock.clock(t)), not in the final history", w: 1.5) }
            g.y = base + downH + 4
            // Latency: log scale from 0.1 ms to 100 s.
            g.label("  latency p50 / max", y: g.y + 14, indent: 14)
            func ly(_ us: Int32) -> Double {
                let v = max(0.1, Double(us) / 1000)   // ms
                let f = (log(v) / log(10) + 1) / 6    // 0.1 ms … 100 s
                return g.y + latH - max(0, min(1, f)) * latH
            }
            for i in 0..<series.count where series.maxUs[i] > 0 {
                let t = Nanos(i) * bucket
                let yMax = ly(series.maxUs[i]), yMed = ly(series.p50Us[i])
                g.span(t, t + bucket, y: yMax, h: max(1, yMed - yMax), cls: "lat", fill: "#a06cd5aa",
                       title: "\(TextClock.clock(t)): latency p50 \(ms(series.p50Us[i])), max \(ms(series.maxUs[i]))")
            }
            for (label, us) in [("1 ms", Int32(1000)), ("1 s", Int32(1_000_000))] {
                let y = ly(us)
                g.body.append("<line x1=\"\(SVG.n(HTMLReport.labelW))\" x2=\"\(SVG.n(HTMLReport.labelW + HTMLReport.plotW))\" y1=\"\(SVG.n(y))\" y2=\"\(SVG.n(y))\" stroke=\"#0002\" stroke-dasharray=\"3 3\"/>")
                g.body.append("<text x=\"\(SVG.n(HTMLReport.labelW - 30))\" y=\"\(SVG.n(y + 3))\">\(label)</text>")
            }
            g.y += latH + 4
            for t in series.indeterminateAtNs.prefix(500) { g.mark(t, y: g.y, h: 6, cls: "w-ind-mark", fill: "#888", title: "indeterminate write at \(TextClock.clock(t))", w: 1.5) }
            g.y += 8
            g.close()
        }

        static func ms(_ us: Int32) -> String { us >= 1_000_000 ? String(fixed: Double(us) / 1e6, decimals: 2) + " s" : String(fixed: Double(us) / 1000, decimals: 2) + " ms" }
    }
}
