import SimCore

/// Named noise environments. Every figure cites where it comes from, or says it is an
/// assumption; `docs/noise-presets.md` holds the research behind them ([Sn] are its sources).
/// Sub-millisecond disturbances (Go's stop-the-world GC in etcd, under 100 µs since Go 1.8
/// [S15]) are left out: far below any timeout here, they would only cost events.
public enum NoisePresets {
    public static let names = ["bare-metal-lan", "cloud-vm", "noisy-hypervisor"]

    static func perDay(_ n: Double) -> Double { n / 86400 }
    static func perYear(_ n: Double) -> Double { n / (365 * 86400) }
    static func ms(_ v: Double) -> Double { v * 1e6 }
    static func s(_ v: Double) -> Double { v * 1e9 }
    static func logn(_ median: Double, _ p99: Double) -> NoiseSize { NoiseSize(.lognormal(median: median, p99: p99)) }
    static func uni(_ a: Double, _ b: Double, time: Bool = true) -> NoiseSize { NoiseSize(.uniform(a, b), isTime: time) }

    /// The preset's sources on a topology (a group it lacks, such as proxies, is skipped).
    public static func sources(_ name: String, _ topo: Topology) -> [NoiseSource] {
        func hosts(_ svcs: [Service]) -> [HostRef] { topo.hosts.filter { h in svcs.contains { h.runs($0) } }.map { .named($0.name) } }
        func procs(_ svc: Service) -> [NoiseTarget] { hosts([svc]).map { .proc($0, svc) } }
        let everyHost = topo.hosts.map { NoiseTarget.host(.named($0.name)) }
        let disks = topo.hosts.filter { $0.runs(.etcd) || $0.runs(.postgres) }.map { NoiseTarget.host(.named($0.name)) }
        // Links a failover depends on: DB ↔ etcd, DB ↔ DB, proxy ↔ DB (both ways, once each).
        let db = hosts([.patroni]), etcd = hosts([.etcd]), proxy = hosts([.haproxy, .envoy, .lb])
        var seen: [(HostRef, HostRef)] = []
        for (a, b) in [(db, etcd), (db, db), (proxy, db)] { NoiseTarget.links(a, b, seen: &seen) }
        let links = seen.map { NoiseTarget.link($0.0, $0.1) }
        let primaryPg: [NoiseTarget] = db.isEmpty ? [] : [.proc(.role(.primary), .postgres)]
        func src(_ name: String, _ kind: NoiseKind, _ rate: Double, _ d: NoiseSize, _ size: NoiseSize? = nil, _ t: [NoiseTarget],
                 together: Bool = false, _ cite: String) -> NoiseSource {
            NoiseSource(name: name, kind: kind, ratePerSecond: rate, duration: d, size: size, targets: t, together: together, source: cite)
        }
        var out: [NoiseSource]
        switch name {
        case "bare-metal-lan":
            out = [
                src("etcd slow fsync", .slowFsync, perDay(0.1), logn(ms(200), s(2)), uni(ms(20), ms(300)), procs(.etcd),
                    "assumption: rare on dedicated disks (co-located backup, SSD garbage collection); Red Hat: \"disk activity from other processes can cause long fsync latencies\" [S9]"),
                src("etcd disk stall", .diskStall, perDay(0.005), uni(s(1), s(3)), nil, procs(.etcd),
                    "assumption: a tail event (failing SSD, RAID cache flush); 1 s is etcd's \"slow fdatasync\" threshold (wal.go warnSyncDuration) [S5]"),
                src("latency spike", .latencySpike, perDay(1), logn(ms(100), s(2)), uni(ms(1), ms(10)), links,
                    "assumption: switch buffer microbursts; no published per-link rate"),
                src("loss burst", .lossBurst, perDay(0.05), logn(s(2), s(60)), uni(0.2, 1, time: false), links,
                    "assumption anchored on a production data-centre year (maintenance and router failures causing connectivity loss) [S23]"),
                src("host stall", .pause, perDay(0.02), logn(ms(300), s(5)), nil, everyHost,
                    "assumption: CPU starvation is etcd's second most common cause of heartbeat warnings [S2]; rare on bare metal"),
                src("slow queries", .slowQueries, perDay(0.2), uni(s(60), s(600)), logn(ms(200), s(3)), primaryPg,
                    "assumption: nothing published; the mechanism is a Patroni maintainer's \"Postgres is terribly slow and can't respond in time to monitoring queries\" [S25]"),
            ]
        case "cloud-vm":
            out = [
                src("etcd slow fsync", .slowFsync, perDay(1), logn(s(1), s(30)), uni(ms(50), s(2)), procs(.etcd),
                    "shape from AWS's EBS latency-injection templates (50 ms to 15 s) [S12] and multi-second \"apply entries took too long\" on EC2 [S13]; rate: assumption"),
                src("block storage I/O pause", .diskStall, perDay(0.01), logn(s(10), s(60)), nil, disks,
                    "AWS EBS \"Intermittent Latency\" template (10–30 s spikes) [S12]; VolumeStalledIOCheck after 60 s paused [S14]; rate: assumption"),
                src("latency spike", .latencySpike, perDay(1), logn(ms(200), s(5)), uni(ms(2), ms(50)), links,
                    "assumption: noisy neighbours on the NIC; the etcd mixin calls a peer RTT p99 over 150 ms slow [S4]"),
                src("loss burst", .lossBurst, perDay(0.1), logn(s(3), s(60)), uni(0.05, 1, time: false), links,
                    "assumption, anchored as bare metal's [S23] plus maintenance blips"),
                src("maintenance pause", .pause, perYear(4), uni(s(2), s(10)), nil, everyHost,
                    "Azure: \"Most nonzero-impact maintenance pauses the VM for less than 10 seconds\" [S17]; rate: assumption"),
                src("memory-preserving maintenance", .pause, perYear(0.67), uni(s(20), s(30)), nil, everyHost,
                    "Azure: \"no more than once every 18 months ... pause the VM for about 30 seconds\" [S18]"),
                src("live migration blackout", .pause, perYear(12), logn(ms(200), s(3)), nil, everyHost,
                    "Google Cloud live migration blackout (\"the amount of time your VM is paused\") [S26]; figures read off a graph: assumption"),
                src("slow queries", .slowQueries, perDay(0.5), uni(s(60), s(900)), logn(ms(500), s(5)), primaryPg,
                    "assumption: EBS/PD queueing slows PostgreSQL; a demotion tied to a slow disk in Patroni issue 3199 [S29]"),
            ]
        default:  // noisy-hypervisor
            out = [
                src("etcd slow fsync", .slowFsync, perDay(5), logn(s(2), s(60)), uni(ms(100), s(3)), procs(.etcd),
                    "etcd on VMware: \"sync duration of 2.463669091s, expected less than 1s\" [S30]; \"WAL fsync reaching 500ms\" [S31]; rate: assumption"),
                src("datastore stall", .diskStall, perDay(0.05), logn(s(5), s(120)), nil, disks, together: true,
                    "Broadcom KB: \"Storage or application throughput (I/O) drops to 0 during the scheduled backup window\" [S32]; hits every VM on the datastore; lengths: assumption"),
                src("latency spike", .latencySpike, perDay(10), logn(ms(300), s(10)), uni(ms(5), ms(200)), links,
                    "assumption: vCPUs not scheduled to run the network stack (CPU ready)"),
                src("loss burst", .lossBurst, perDay(0.5), logn(s(2), s(30)), uni(0.05, 0.5, time: false), links, "assumption"),
                src("snapshot stun", .pause, perDay(1.5), logn(ms(400), s(4)), nil, everyHost,
                    "vSphere \"vm was stunned for 437796 us\" on consecutive days [S32], \"vm stopped for 3711025 us\" [S35]; Patroni issue 3407 \"demoting master while taking vm snapshot\" [S36]"),
                src("live migration switchover", .pause, perDay(0.1), logn(ms(50), s(1)), nil, everyHost,
                    "QEMU's default 30 ms migration downtime [S37]; ~500 ms for a busy guest [S38]; rate: assumption"),
                src("slow queries", .slowQueries, perDay(2), uni(s(60), s(1800)), logn(s(1), s(10)), primaryPg,
                    "assumption: a shared datastore plus CPU ready; mechanism as in [S25]"),
            ]
        }
        return out.filter { !$0.targets.isEmpty }
    }
}
