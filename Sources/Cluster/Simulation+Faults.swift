import SimCore
import SimNet
import Recording
import Scenario

/// What `for:` has to undo when it runs out.
enum FaultUndo {
    case restartHosts([Int])
    case startProcs([UInt32])
    case resume([UInt32])
    case uncut([(Int, Int)])
    case links([(Int, Int, LinkSpec)])
    case fsync([(UInt32, Latency)])
    case resumeCluster
    case replayResume(Int)
    case startRepaired(Int)
    case stopUnstuck(Int)
}

extension Simulation {
    /// Applies fault `i` (or undoes it when its `for:` ran out).
    func applyFault(_ i: Int, undoing: Bool) {
        let f = scenario.faults[i]
        if undoing {
            guard let u = undo.removeValue(forKey: i) else { return }
            applyUndo(u)
            if let r = faultRecordIndex[i] { rec.faults[r].endNs = now }
            rec.log(now, "", "fault", Kind.faultEnd, .object([("index", .int(Int64(f.index))), ("kind", .string(f.action.kind))]))
            return
        }
        var resolved: [String] = []
        var u: FaultUndo? = nil
        switch f.action {
        case .crash(let h):
            if let hi = resolve(h) {
                resolved.append(hosts[hi].name)
                crashHost(hi)
                u = .restartHosts([hi])
            }
        case .restart(let t):
            if t.service == nil, let hi = resolve(t.host) {
                resolved.append(hosts[hi].name)
                if hosts[hi].up { crashHost(hi) }
                powerOn(hi)
            } else if let p = resolveProc(t) {
                resolved.append(procName(p))
                restartProcess(p)
            }
        case .kill(let t):
            if let p = resolveProc(t) {
                resolved.append(procName(p))
                killProcess(p)
                u = .startProcs([p])
            }
        case .stop(let t):
            if let p = resolveProc(t) {
                resolved.append(procName(p))
                stopProcessGracefully(p)
                u = .startProcs([p])
            }
        case .start(let t):
            if let p = resolveProc(t) {
                resolved.append(procName(p))
                if kernel.status(of: p) == .down, hosts[host(of: p)].up { startProcess(p, initial: false) }
            }
        case .pause(let t):
            let ps = resolveProcs(t)
            resolved = ps.map(procName)
            for p in ps { pauseProcess(p) }
            u = .resume(ps)
        case .resume(let t):
            let ps = resolveProcs(t)
            resolved = ps.map(procName)
            for p in ps { resumeProcess(p) }
        case .partition(let groups):
            let gs = groups.map { $0.compactMap(resolve) }
            resolved = gs.map { "[" + $0.map { hosts[$0].name }.joined(separator: ",") + "]" }
            var cuts: [(Int, Int)] = []
            for a in 0..<gs.count { for b in 0..<gs.count where a != b { for x in gs[a] { for y in gs[b] where x != y { cuts.append((x, y)) } } } }
            for (x, y) in cuts { fabric.cut(x, y) }
            u = .uncut(cuts)
        case .partitionOneWay(let from, let to):
            let fs = from.compactMap(resolve), ts = to.compactMap(resolve)
            resolved = ["[" + fs.map { hosts[$0].name }.joined(separator: ",") + "]->[" + ts.map { hosts[$0].name }.joined(separator: ",") + "]"]
            var cuts: [(Int, Int)] = []
            for x in fs { for y in ts where x != y { cuts.append((x, y)) } }
            for (x, y) in cuts { fabric.cut(x, y) }
            u = .uncut(cuts)
        case .heal:
            fabric.healAll()
            resolved.append("all")
            // Every partition is gone, and so are the undo records of partitions still running.
            for (k, v) in undo.sorted(by: { $0.key < $1.key }) { if case .uncut = v { undo.removeValue(forKey: k) } }
        case .isolate(let h):
            if let hi = resolve(h) {
                resolved.append(hosts[hi].name)
                var cuts: [(Int, Int)] = []
                for o in hosts.indices where o != hi { cuts.append((hi, o)); cuts.append((o, hi)) }
                for (x, y) in cuts { fabric.cut(x, y) }
                u = .uncut(cuts)
            }
        case .loseDisk(let t):
            if t.service == nil, let hi = resolve(t.host) {
                resolved.append(hosts[hi].name)
                crashHost(hi)
                for (_, p) in hosts[hi].procs { loseDiskModel(p) }
                u = .restartHosts([hi])
            } else if let p = resolveProc(t) {
                resolved.append(procName(p))
                killProcess(p)
                loseDiskModel(p)
                // `for:` starts the process again (on an empty data directory).
                u = .startProcs([p])
            }
        case .link(let from, let to, let lat, let loss, let both):
            if let a = resolve(from), let b = resolve(to) {
                resolved.append("\(hosts[a].name)\(both ? "<->" : "->")\(hosts[b].name)")
                var old: [(Int, Int, LinkSpec)] = []
                for (x, y) in both ? [(a, b), (b, a)] : [(a, b)] {
                    let prev = baseLink(x, y)
                    old.append((x, y, prev))
                    var spec = prev
                    if let lat { spec.latency = lat }
                    if let loss { spec.loss = loss }
                    setLinkBase(x, y, spec)
                }
                u = .links(old)
            }
        case .addReplica(let m):
            // The new machine is switched on; its services start once it has booted, and its
            // Patroni, finding an empty data directory, clones it from the leader.
            if let n = dbNames.firstIndex(of: m), !hosts[dbHost[n]].up {
                resolved.append(m)
                powerOn(dbHost[n])
            }
        case .replayPause(let h):
            // The operator's psql on the standby's host: a local request to its server.
            if let hi = resolve(h), let n = dbHost.firstIndex(of: hi), isUp(pgProc[n]) {
                resolved.append(hosts[hi].name)
                pgRequest(n, .replayPause(true))
                u = .replayResume(n)
            }
        case .startFails(let h, let why):
            // The files are broken whether or not the server runs: the next start fails.
            if let hi = resolve(h), let n = dbHost.firstIndex(of: hi) {
                resolved.append(hosts[hi].name)
                pg[n].startFailure = why
                u = .startRepaired(n)
            }
        case .stopHangs(let h):
            if let hi = resolve(h), let n = dbHost.firstIndex(of: hi) {
                resolved.append(hosts[hi].name)
                pg[n].setShutdownHang(true, self)
                u = .stopUnstuck(n)
            }
        case .slowDisk(let t, let lat):
            if let p = resolveProc(t) {
                resolved.append(procName(p))
                if let prev = setFsyncBase(p, lat) { u = .fsync([(p, prev)]) }
            }
        default:
            if let r = operatorAction(f.action) { resolved.append(r) } else { u = nil }
            if case .pauseCluster = f.action { u = .resumeCluster }
        }
        let disrupts = f.action.disruptsService && !resolved.isEmpty
        rec.faults.append(FaultRecord(index: f.index, kind: f.action.kind, target: f.action.targetText,
                                      resolved: resolved.joined(separator: " "), startNs: now, endNs: nil, disrupts: disrupts))
        faultRecordIndex[i] = rec.faults.count - 1
        rec.log(now, resolved.count == 1 && !resolved[0].contains("[") ? String(resolved[0].split(separator: "/").first ?? "") : "", "fault", Kind.faultStart,
                .object([("index", .int(Int64(f.index))), ("kind", .string(f.action.kind)), ("target", .string(f.action.targetText)),
                         ("resolved", .string(resolved.isEmpty ? "(nothing: no such role now)" : resolved.joined(separator: " ")))]))
        if let u, let d = f.forNs {
            undo[i] = u
            kernel.schedule(after: d, to: Kernel<Ev>.world, .faultUndo(i))
        } else if let d = f.forNs, case .heal = f.action {
            _ = d
        }
    }

    func applyUndo(_ u: FaultUndo) {
        switch u {
        case .restartHosts(let hs): for h in hs where !hosts[h].up { powerOn(h) }
        case .startProcs(let ps):
            for p in ps where kernel.status(of: p) == .down && hosts[host(of: p)].up { startProcess(p, initial: false) }
        case .resume(let ps): for p in ps { resumeProcess(p) }
        case .uncut(let cuts): for (x, y) in cuts { fabric.uncut(x, y) }
        case .links(let old): for (x, y, spec) in old { setLinkBase(x, y, spec) }
        case .fsync(let old): for (p, lat) in old { _ = setFsyncBase(p, lat) }
        case .resumeCluster: _ = operatorAction(.resumeCluster)
        case .replayResume(let n): if isUp(pgProc[n]) { pgRequest(n, .replayPause(false)) }
        // The file is fixed; a full pg_wal is a different repair.
        case .startRepaired(let n): if pg[n].startFailure != .walDiskFull { pg[n].startFailure = nil }
        case .stopUnstuck(let n): pg[n].setShutdownHang(false, self)
        }
    }

    // MARK: - Resolution

    func procName(_ p: UInt32) -> String { "\(hosts[host(of: p)].name)/\(procs[Int(p)].service.rawValue)" }

    /// A host reference as it stands now; roles resolve through the models' current state.
    func resolve(_ h: HostRef) -> Int? {
        switch h {
        case .named(let n): return hostIndex(n)
        case .role(let r): return resolveRole(r)
        }
    }

    func resolveProc(_ t: Target) -> UInt32? {
        guard let hi = resolve(t.host), let svc = t.service else { return nil }
        return proc(hi, svc == .postgres ? .postgres : svc)
    }

    /// A host target means every process on it; a process target means that one.
    func resolveProcs(_ t: Target) -> [UInt32] {
        guard let hi = resolve(t.host) else { return [] }
        if let svc = t.service { return proc(hi, svc).map { [$0] } ?? [] }
        return hosts[hi].procs.map(\.1)
    }

    // MARK: - Host and process lifecycle

    /// Power loss: every process dies at once and nothing is sent (no RST, no FIN); peers find
    /// out through their own timeouts. What was not on disk is gone.
    func crashHost(_ h: Int) {
        guard hosts[h].up else { return }
        hosts[h].up = false
        fabric.setHostUp(h, false)
        // A machine without power runs no watchdog: the device's timer is gone with it (it
        // would otherwise "reset" the dead host and power it on before the fault ends).
        watchdogs[h].powerLost(self)
        for (_, p) in hosts[h].procs where kernel.status(of: p) != .down {
            kernel.stop(p)
            crashModel(p)
            fabric.processDied(p)
        }
        rec.log(now, hosts[h].name, "host", "host_down")
    }

    /// Power on: the host answers again at once; its services start after the boot time.
    func powerOn(_ h: Int) {
        guard !hosts[h].up else { return }
        hosts[h].up = true
        fabric.setHostUp(h, true)
        rec.log(now, hosts[h].name, "host", "host_up")
        kernel.schedule(after: bootNs, to: Kernel<Ev>.world, .boot(h))
    }

    /// How long a host takes from power-on to starting its services.
    var bootNs: Nanos { 20 * Time.s }

    func boot(_ h: Int) {
        guard hosts[h].up else { return }
        for (_, p) in hosts[h].procs where kernel.status(of: p) == .down { startProcess(p, initial: false) }
    }

    /// SIGKILL on a live host: the kernel resets the process's connections.
    func killProcess(_ p: UInt32) {
        pendingProcessStop.remove(p)
        guard kernel.status(of: p) != .down else { return }
        kernel.stop(p)
        crashModel(p)
        fabric.processDied(p)
        rec.log(now, hosts[host(of: p)].name, procs[Int(p)].service.rawValue, "process_killed")
    }

    /// SIGTERM: the model runs its shutdown; it calls `processExited` when done.
    func stopProcessGracefully(_ p: UInt32) {
        guard kernel.status(of: p) != .down else { return }
        if kernel.status(of: p) == .paused { kernel.resume(p) }
        rec.log(now, hosts[host(of: p)].name, procs[Int(p)].service.rawValue, "process_stopping")
        if !gracefulStopModel(p) { processExited(p) }
    }

    /// A model finished its graceful shutdown.
    func processExited(_ p: UInt32) {
        pendingProcessStop.remove(p)
        guard kernel.status(of: p) != .down else { return }
        kernel.stop(p)
        crashModel(p)
        fabric.processDied(p)
        rec.log(now, hosts[host(of: p)].name, procs[Int(p)].service.rawValue, "process_stopped")
        if pendingRestart.remove(p) != nil, hosts[host(of: p)].up { startProcess(p, initial: false) }
    }

    func restartProcess(_ p: UInt32) {
        if kernel.status(of: p) == .down {
            if hosts[host(of: p)].up { startProcess(p, initial: false) }
            return
        }
        pendingRestart.insert(p)
        stopProcessGracefully(p)
    }

    func startProcess(_ p: UInt32, initial: Bool) {
        kernel.start(p)
        fabric.drainAcceptQueue(p)
        if !initial { rec.log(now, hosts[host(of: p)].name, procs[Int(p)].service.rawValue, "process_started") }
        startModel(p, initial: initial)
    }

    func pauseProcess(_ p: UInt32) {
        guard kernel.status(of: p) == .running else { return }
        kernel.pause(p)
        rec.log(now, hosts[host(of: p)].name, procs[Int(p)].service.rawValue, "process_paused")
        // A frozen primary accepts no writes (split brain counts instances that do).
        if procs[Int(p)].service == .postgres, pg[procs[Int(p)].model].isWritable { logWritable(procs[Int(p)].model, false, why: "frozen") }
    }

    func logWritable(_ n: Int, _ w: Bool, why: String) {
        rec.log(now, dbNames[n], "postgres", Kind.pgWritable, Detail.pgWritable(w, fork: pg[n].fork, timeline: pg[n].timeline, why: why))
    }

    func resumeProcess(_ p: UInt32) {
        guard kernel.status(of: p) == .paused else { return }
        kernel.resume(p)
        // The process accepts what its kernel queued while it was frozen.
        fabric.drainAcceptQueue(p)
        rec.log(now, hosts[host(of: p)].name, procs[Int(p)].service.rawValue, "process_resumed")
        if procs[Int(p)].service == .postgres, pg[procs[Int(p)].model].isWritable { logWritable(procs[Int(p)].model, true, why: "resumed") }
    }
}
