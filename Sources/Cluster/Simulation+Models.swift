import SimCore
import Settings
import SimNet
import Recording
import Scenario
import Etcd
import Postgres
import Patroni

/// The world's side of each model: creation, seeding the steady state, start, crash, graceful
/// stop, lost disk, and which host holds which role.
extension Simulation {
    /// Creates the models' shared state before any process exists.
    func prepareModels() {
        let topo = scenario.topology
        etcdNames = topo.etcdHosts
        dbNames = topo.dbHosts
        pgAnswers = Array(repeating: [], count: dbNames.count)
        etcdShared = EtcdShared(config: scenario.etcd, names: etcdNames, recorder: rec)
        pValues = PatroniValues(names: dbNames)
        keys = ClusterKeys(keys: etcdShared.keys, prefix: scenario.patroni.keyPrefix, members: dbNames)
        etcdShared.observedKey = keys.leader
        let values = pValues!
        etcdShared.valueName = { values.holderName($0) }
        let observer = DCSObserver(rec: rec, keys: keys, values: values, names: dbNames)
        dcsObserver = observer
        etcdShared.onChange = { observer.changed($0, $1) }
        etcdShared.onLeaseRenew = { observer.renewed($0, $1, ttlSeconds: $2) }
        watchdogs = topo.hosts.indices.map { h in
            WatchdogDevice(host: h, hostName: topo.hosts[h].name, present: scenario.patroni.watchdog.hasDevice(on: topo.hosts[h].name))
        }
        rootFork = walHistory.newFork(parent: nil, switchLsn: 0, timeline: 1, host: topo.initialPrimary, at: 0)
    }

    func addModel(_ svc: Service, host: Int, proc: UInt32) -> Int {
        let name = hosts.count < scenario.topology.hosts.count ? scenario.topology.hosts[host].name : ""
        let streamName = scenario.topology.streamName(host)
        switch svc {
        case .etcd:
            let slot = etcd.count
            etcd.append(EtcdMember(slot: slot, shared: etcdShared, rng: streams.stream("host/\(streamName)/etcd")))
            etcdProc.append(proc)
            return slot
        case .postgres:
            let n = pg.count
            var pc = scenario.postgresql
            pc.permanentSlotNames = scenario.patroni.permanentSlots
            pg.append(PgInstance(node: n, config: pc, rng: streams.stream("host/\(streamName)/postgres")))
            configuredSyncNames.append(.none)
            pgProc.append(proc)
            dbHost.append(host)
            return n
        case .patroni:
            let n = patroni.count
            // `etcd3.hosts`: what the client reloads its member list from (`_load_machines_cache`).
            let configured = scenario.patroni.etcdHosts[name].map { hs in hs.compactMap { etcdNames.firstIndex(of: $0) } }
            let client = EtcdClient(proc: proc, members: Array(etcdNames.indices), configured: configured, retryTimeoutNs: scenario.patroni.retryTimeoutNs,
                                    ttlSeconds: scenario.patroni.ttl, rng: streams.stream("host/\(streamName)/patroni/etcd-client"))
            let dcs = PatroniDCS(client: client, shared: etcdShared, keys: keys, values: pValues, me: n, config: scenario.patroni)
            patroni.append(PatroniNode(node: n, name: name, members: Array(dbNames.indices), config: scenario.patroni, dcs: dcs,
                                       values: pValues, rng: streams.stream("host/\(streamName)/patroni")))
            patroniProc.append(proc)
            return n
        default:
            return addTrafficModel(svc, host: host, proc: proc)
        }
    }

    /// Seeds etcd with Patroni's keys and PostgreSQL with its data, as if the cluster had been
    /// running for a while: each Patroni holds a lease with its member key on it, and the
    /// initial primary's lease holds the leader key too.
    func seedSteadyState() {
        guard let primary = dbNames.firstIndex(of: scenario.topology.initialPrimary) else { return }
        // Members that join mid-run (`add_replica`) are not part of the cluster yet.
        joining = dbNames.map { scenario.joiningMembers.contains($0) }
        var ops: [EntryOp] = dbNames.indices.filter { !joining[$0] }.map { .leaseGrant(steadyLease($0), ttlSeconds: Int64(scenario.patroni.ttl)) }
        ops += [
            .put(keys.initialize, pValues.intern(.initialize, key: keys.initialize), lease: 0),
            .put(keys.config, pValues.intern(.config(scenario.patroni), key: keys.config), lease: 0),
            .put(keys.leader, pValues.intern(.leader(primary), key: keys.leader), lease: steadyLease(primary)),
            .put(keys.status, pValues.intern(.status(optime: seedLsn), key: keys.status), lease: 0),
        ]
        let replicas = dbNames.indices.filter { $0 != primary && !joining[$0] }
        var sync: [Int] = []
        if scenario.patroni.synchronousMode != .off {
            // As the primary's last cycle chose them: not nosync, members without nofailover
            // first, then the higher sync_priority (`_ReplicaList`).
            let tags = { (i: Int) in self.scenario.patroni.tags(for: self.dbNames[i]) }
            // A cascaded standby is not in the primary's pg_stat_replication: never synchronous.
            let ordered = replicas.filter { !tags($0).nosync && initialUpstream($0, primary: primary) == primary }.sorted { a, b in
                if tags(a).nofailover != tags(b).nofailover { return !tags(a).nofailover }
                if tags(a).syncPriority != tags(b).syncPriority { return tags(a).syncPriority > tags(b).syncPriority }
                return a < b
            }
            let count = scenario.patroni.synchronousNodeCount
            if scenario.patroni.synchronousMode == .quorum {
                // Quorum commit's steady state (`QuorumStateResolver`): every eligible standby is
                // a voter (those with nofailover only up to the replication factor), ANY numsync
                // of them acknowledge, and a race must see the rest.
                for r in ordered where !tags(r).nofailover || sync.count < count { sync.append(r) }
                sync.sort()
                let numsync = min(count, sync.count)
                ops.append(.put(keys.sync, pValues.intern(.sync(leader: primary, standbys: sync, quorum: sync.count - numsync), key: keys.sync), lease: 0))
            } else {
                sync = Array(ordered.prefix(count))
                ops.append(.put(keys.sync, pValues.intern(.sync(leader: primary, standbys: sync), key: keys.sync), lease: 0))
            }
        }
        // Every member's key, as its last cycle before the run wrote it, on its Patroni's lease:
        // without them the primary's first cycle would not see its replicas as sync candidates.
        for i in dbNames.indices where !joining[i] {
            let tags = scenario.patroni.tags(for: dbNames[i])
            let data = MemberData(role: i == primary ? .primary : .replica, state: .running, xlogLocation: seedLsn, timeline: 1,
                                  streaming: i != primary, nofailover: tags.nofailover, failoverPriority: tags.failoverPriority,
                                  nosync: tags.nosync, syncPriority: tags.syncPriority, pause: scenario.patroni.pause, checkpointAfterPromote: true)
            var seeded = data
            seeded.nostream = tags.nostream
            if let rf = tags.replicatefrom, let u = dbNames.firstIndex(of: rf), !joining[u] { seeded.replicatefrom = u }
            ops.append(.put(keys.members[i], pValues.intern(.member(seeded), key: keys.members[i]), lease: steadyLease(i)))
        }
        let gids = ops.map { etcdShared.newOp($0) }
        for i in etcd.indices { etcd[i].seed(gids) }
        // The timeline starts with who holds the key (the analysis reads the old primary there).
        rec.log(0, dbNames[primary], "etcd", Kind.leaderKey, Detail.leaderKey(holder: dbNames[primary], cause: "held at start", revision: 0))
        dcsObserver.seeded(ops)
        for i in pg.indices {
            pg[i].seed(fork: rootFork, timeline: 1, lsn: seedLsn, primary: i == primary)
            if joining[i] { pg[i].seedEmpty() }
            // Patroni has run long enough to have made every member's slots (use_slots): one
            // for each other member and each permanent slot, all caught up.
            else if scenario.patroni.useSlots {
                let ids = dbNames.indices.filter { $0 != i && !joining[$0] && !scenario.patroni.tags(for: dbNames[$0]).nostream }.map { Int16($0) }
                    + scenario.patroni.permanentSlots.indices.map { Int16(-1 - $0) }
                pg[i].seedSlots(ids, at: seedLsn)
            }
        }
        initialSync = sync
        initialPrimaryNode = primary
        // The archive has the history up to here.
        if scenario.postgresql.archiveMode { walArchive.archive(rootFork, upTo: seedLsn) }
    }

    /// Whom replica `n` streams from at the start: its `replicatefrom` member when that one is
    /// part of the cluster (`_get_node_to_follow`), else the primary.
    func initialUpstream(_ n: Int, primary: Int) -> Int? {
        if scenario.patroni.tags(for: dbNames[n]).nostream { return nil }
        guard let rf = scenario.patroni.tags(for: dbNames[n]).replicatefrom, let u = dbNames.firstIndex(of: rf),
              u != n, !joining[u] else { return primary }
        return u
    }

    /// The lease DB node `n`'s running Patroni holds at the start (ids below any etcd grants).
    func steadyLease(_ n: Int) -> LeaseID { LeaseID(n + 1) }

    /// The LSN every node's data starts at (64 MB of WAL history).
    var seedLsn: Int64 { 64 << 20 }

    func startModel(_ p: UInt32, initial: Bool) {
        let info = procs[Int(p)]
        switch info.service {
        case .etcd:
            etcd[info.model].start(self)
        case .postgres:
            if initial {
                // The run starts with PostgreSQL up: the primary, and its streaming replicas.
                let primary = initialPrimaryNode
                pg[info.model].bootRunning(asStandby: info.model != primary, upstream: info.model == primary ? nil : initialUpstream(info.model, primary: primary), self)
                if info.model == primary && !initialSync.isEmpty {
                    let quorum = scenario.patroni.synchronousMode == .quorum
                    let ssn = quorum
                        ? SyncStandbyNames(method: .quorum, num: min(scenario.patroni.synchronousNodeCount, initialSync.count), names: initialSync.map { dbNames[$0] }.sorted())
                        : SyncStandbyNames(method: .priority, num: initialSync.count, names: initialSync.map { dbNames[$0] })
                    configuredSyncNames[info.model] = ssn
                    pg[info.model].setSyncNames(ssn, self)
                }
            }
            syncListening(info.model)
            // Otherwise PostgreSQL waits for Patroni to start it.
        case .patroni:
            if initial {
                // Each daemon has been running for a while; its loop runs at its own phase.
                let phase = Nanos(patroniStartRng.below(UInt64(scenario.patroni.loopWaitNs)))
                patroni[info.model].startSteady(phase: phase, primary: info.model == initialPrimaryNode, lease: steadyLease(info.model), self)
            } else {
                patroni[info.model].start(self)
            }
        default:
            startTrafficModel(p, initial: initial)
        }
    }

    func crashModel(_ p: UInt32) {
        let info = procs[Int(p)]
        switch info.service {
        case .etcd: etcd[info.model].crash()
        case .postgres:
            pg[info.model].crash(self)
            syncListening(info.model)
        case .patroni:
            patroni[info.model].crash()
            pgAnswers[info.model].removeAll()   // answers to the dead process's queries
        default: crashTrafficModel(p)
        }
    }

    /// Begins a graceful stop (SIGTERM, `systemctl stop`); false when the process can exit at
    /// once. etcd transfers leadership first; Patroni runs its shutdown (stop PostgreSQL,
    /// release the leader key); PostgreSQL (`pg_ctl stop -m fast`) writes its shutdown
    /// checkpoint; the traffic processes close their connections.
    func gracefulStopModel(_ p: UInt32) -> Bool {
        let info = procs[Int(p)]
        switch info.service {
        case .etcd:
            etcd[info.model].stopGracefully(self)
            return true
        case .postgres:
            guard pg[info.model].state == .running || pg[info.model].state == .stopping else { return false }
            pendingProcessStop.insert(p)
            pg[info.model].stop(.fast, self)
            syncListening(info.model)
            return true
        case .patroni:
            guard patroni[info.model].running else { return false }
            kernel.schedule(after: 0, to: p, .patroni(.terminate))
            return true
        default:
            stopTrafficGracefully(p)
            return false
        }
    }

    func loseDiskModel(_ p: UInt32) {
        let info = procs[Int(p)]
        switch info.service {
        case .etcd: etcd[info.model].loseDisk()
        case .postgres:
            pg[info.model].loseDisk(self)
            syncListening(info.model)
        default: break
        }
    }

    func setFsyncModel(_ p: UInt32, _ lat: Latency) -> Latency? {
        let info = procs[Int(p)]
        switch info.service {
        case .etcd:
            let prev = etcd[info.model].fsync
            etcd[info.model].fsync = lat
            return prev
        case .postgres:
            let prev = pg[info.model].walFsync
            pg[info.model].walFsync = lat
            return prev
        default: return nil
        }
    }

    // MARK: - Roles

    /// The host holding a role now.
    func resolveRole(_ r: Role) -> Int? {
        switch r {
        case .primary:
            let writable = pg.indices.filter { pg[$0].isWritable && kernel.status(of: pgProc[$0]) != .down }
            if writable.count == 1 { return dbHost[writable[0]] }
            if let h = leaderKeyHolder(), writable.isEmpty || writable.contains(h) { return dbHost[h] }
            return writable.first.map { dbHost[$0] }
        case .replica:
            let primary = resolveRole(.primary)
            return pg.indices.first { pg[$0].isRunning && pg[$0].inRecovery && dbHost[$0] != primary }.map { dbHost[$0] }
        case .syncStandby:
            guard let view = currentClusterView(), let s = view.sync?.standbys.first else { return nil }
            return dbHost[s]
        case .etcdLeader:
            let leaders = etcd.indices.filter { etcd[$0].isLeader }
            return leaders.max { etcd[$0].term < etcd[$1].term }.map { Int(kernel.host(of: etcdProc[$0])) }
        case .etcdFollower:
            let l = resolveRole(.etcdLeader)
            return etcd.indices.map { Int(kernel.host(of: etcdProc[$0])) }.first { $0 != l && hosts[$0].up }
        }
    }

    /// The leader key's holder in the most advanced etcd member's applied state.
    func leaderKeyHolder() -> Int? {
        guard let view = currentClusterView() else { return nil }
        return view.leader?.member
    }

    func currentClusterView() -> ClusterView? {
        guard let m = etcd.indices.max(by: { etcd[$0].appliedIndex < etcd[$1].appliedIndex }) else { return nil }
        let kvs = etcdShared.keys.ids(withPrefix: etcdShared.keys.name(keys.prefix)).compactMap { k in etcd[m].value(k).map { (k, $0) } }
        return ClusterView.build(kvs, keys: keys, values: pValues)
    }

    // MARK: - Operator actions

    func operatorAction(_ a: FaultAction) -> String? {
        switch a {
        case .switchover(let leader, let candidate):
            let l = leader.flatMap { dbNames.firstIndex(of: $0) } ?? leaderKeyHolder()
            guard let target = l, isUp(patroniProc[target]) else { return nil }
            // A candidate may be a role (the etcd leader's host, say), resolved now.
            let cand = candidate.flatMap { c in dbNames.firstIndex(of: c) ?? Role(rawValue: c).flatMap(resolveRole).flatMap { h in dbHost.firstIndex(of: h) } }
            if let c = cand, c == target { return nil }  // already the primary
            deliverOperator(target, .switchover(leader: l, candidate: cand))
            return "\(dbNames[target])->\(cand.map { dbNames[$0] } ?? "any")"

        case .failover(let candidate):
            guard let c = dbNames.firstIndex(of: candidate), let target = anyRunningPatroni(prefer: c) else { return nil }
            deliverOperator(target, .failover(candidate: c))
            return candidate
        case .pauseCluster, .resumeCluster:
            guard let target = anyRunningPatroni(prefer: leaderKeyHolder()) else { return nil }
            if case .pauseCluster = a { deliverOperator(target, .setPause(true)) } else { deliverOperator(target, .setPause(false)) }
            return "cluster"
        case .editConfig(let c, let changed):
            guard let target = anyRunningPatroni(prefer: leaderKeyHolder()) else { return nil }
            editedConfigs.append(c)
            deliverOperator(target, .editConfig(editedConfigs.count - 1))
            return changed.joined(separator: ",")
        case .setTags(let m, let t):
            guard let n = dbNames.firstIndex(of: m), isUp(patroniProc[n]) else { return nil }
            editedTags.append(t)
            deliverOperator(n, .reloadTags(editedTags.count - 1))
            return m
        case .restartMember(let m):
            guard let n = dbNames.firstIndex(of: m), isUp(patroniProc[n]) else { return nil }
            deliverOperator(n, .restartPostgres)
            return m
        case .reinit(let m):
            guard let n = dbNames.firstIndex(of: m), isUp(patroniProc[n]) else { return nil }
            deliverOperator(n, .reinit)
            return m
        case .memberRemove(let m):
            guard let slot = etcdNames.firstIndex(of: m) else { return nil }
            etcdAdmin(.memberRemove(slot: slot))
            return m
        case .memberAdd(let m):
            guard let slot = etcdNames.firstIndex(of: m) else { return nil }
            // When etcd accepts the addition, the operator starts the member with an empty
            // data directory and --initial-cluster-state=existing (`etcdctlAnswered`).
            etcdAdmin(.memberAdd(slot: slot))
            return m
        default:
            return nil
        }
    }

    func isUp(_ p: UInt32) -> Bool { kernel.status(of: p) != .down }

    func delayedStart(_ p: UInt32) {
        if pendingEtcdRejoin.remove(p) != nil {
            if hosts[host(of: p)].up && !isUp(p) { startProcess(p, initial: false) }
        }
    }

    func anyRunningPatroni(prefer: Int?) -> Int? {
        if let p = prefer, isUp(patroniProc[p]) { return p }
        return patroni.indices.first { isUp(patroniProc[$0]) }
    }

    func deliverOperator(_ n: Int, _ a: OperatorAction) {
        kernel.schedule(after: 0, to: patroniProc[n], .patroni(.operatorAction(a)))
    }

    /// etcdctl member remove/add, sent to a running member (the leader if there is one). Its
    /// answer comes back as `etcdctlAnswer`.
    func etcdAdmin(_ op: EtcdRequest.Op) {
        let leader = etcd.indices.first { etcd[$0].isLeader }
        guard let m = leader ?? etcd.indices.first(where: { isUp(etcdProc[$0]) }) else {
            rec.log(now, "", "etcdctl", "etcdctl", .object([("command", .string(etcdctlText(op))), ("result", "context deadline exceeded (no etcd member is running)")]))
            return
        }
        etcdctlCommands.append(op)
        let req = UInt32(etcdctlCommands.count)
        kernel.schedule(after: 0, to: etcdProc[m], .etcd(.request(EtcdRequest(client: ClientRef(proc: Self.etcdctlProc, req: req), op: op))))
    }

    func etcdctlText(_ op: EtcdRequest.Op) -> String {
        switch op {
        case .memberAdd(let s): return "member add \(etcdNames[s])"
        case .memberRemove(let s): return "member remove \(etcdNames[s])"
        default: return "\(op)"
        }
    }

    /// etcd answered an etcdctl command; a successful `member add` is followed by the
    /// operator starting the new member.
    func etcdctlAnswered(_ req: UInt32, _ result: EtcdResponse.Result) {
        guard req >= 1, Int(req) <= etcdctlCommands.count else { return }
        let op = etcdctlCommands[Int(req) - 1]
        let text: String
        if case .error(let e) = result { text = e.message } else { text = "ok" }
        rec.log(now, "", "etcdctl", "etcdctl", .object([("command", .string(etcdctlText(op))), ("result", .string(text))]))
        guard case .memberAdd(let slot) = op, text == "ok" else { return }
        let p = etcdProc[slot]
        if kernel.status(of: p) != .down { killProcess(p) }
        etcd[slot].prepareRejoin()
        kernel.schedule(after: Time.s, to: Kernel<Ev>.world, .delayedStart(p))
        pendingEtcdRejoin.insert(p)
    }

    // MARK: - End of run

    func finalPgStates() -> [FinalPgState] {
        pg.indices.map { i in
            // A frozen (paused) server counts as not running: it accepts nothing until it resumes.
            FinalPgState(host: dbNames[i], running: pg[i].isRunning && kernel.status(of: pgProc[i]) == .running, primary: pg[i].isPrimary && isUp(pgProc[i]),
                         flushed: pg[i].hasData ? pg[i].durablePosition : .none, timeline: pg[i].timeline)
        }
    }

    /// The last position of history `fork` that every server with data has flushed (-1: some
    /// server's history does not contain it). A write at or before it survives whatever comes
    /// next short of every copy being destroyed: a promotion or a lossy crash branches at or
    /// after the flushed WAL of a server, and a server without data clones a current one.
    func durableLimit(_ fork: UInt32) -> Int64 {
        var limit = Int64.max
        for i in pg.indices where pg[i].hasData {
            guard let l = walHistory.forks.lineage(pg[i].durablePosition).first(where: { $0.fork == fork }) else { return -1 }
            limit = min(limit, l.limit)
        }
        return limit == Int64.max ? -1 : limit
    }
}
