import Testing
import SimCore
@testable import Scenario

/// `noise:` as users write it: presets on any topology, sizes in every form, and one clear
/// message (file, line, column, key) for each mistake.
@Suite struct NoiseLoaderTests {
    func scenario(_ noise: String, duration: String = "10m") -> String {
        """
        name: n
        duration: \(duration)
        topology: etcd-separate
        noise:
        \(noise)
        """
    }

    @Test(arguments: NoisePresets.names)
    func everyPresetLoadsAndCitesItsFigures(preset: String) throws {
        let s = try load(scenario("  preset: \(preset)")).get()
        #expect(s.noise.preset == preset)
        #expect(s.noise.sources.count >= 6)
        for src in s.noise.sources {
            #expect(!src.source.isEmpty, "\(preset): \(src.name) says where its figures come from")
            #expect(!src.targets.isEmpty)
            #expect(src.ratePerSecond > 0)
        }
        // etcd-separate: etcd's own hosts carry the fsync noise, the links join DB and etcd hosts.
        let fsync = try #require(s.noise.sources.first { $0.kind == .slowFsync })
        #expect(fsync.targets == [.proc(.named("etcd1"), .etcd), .proc(.named("etcd2"), .etcd), .proc(.named("etcd3"), .etcd)])
        #expect(s.noise.eventsPerYear > 100)
    }

    @Test func sizesInEveryForm() throws {
        let s = try load(scenario("""
              method: episodes
              episode: { at: 90s }
              sources:
                - { kind: pause, on: [primary/patroni, etcd_leader], rate: 2/d, duration: { median: 1s, p99: 10s } }
                - { kind: slow_fsync, on: etcd1, rate: 1/w, duration: { mean: 30s }, fsync: { min: 50ms, max: 2s } }
                - { kind: loss_burst, between: [db, [etcd1, etcd2]], pick: all, rate: 6/y, duration: 5s, loss: 0.3, name: switch }
            """)).get()
        #expect(s.noise.method == .episodes)
        #expect(s.noise.episodeAtNs == 90 * Time.s)
        let p = s.noise.sources[0]
        #expect(p.targets == [.proc(.role(.primary), .patroni), .host(.role(.etcdLeader))])
        #expect(p.duration == NoiseSize(.lognormal(median: 1e9, p99: 10e9)))
        #expect(abs(p.ratePerSecond - 2.0 / 86400) < 1e-12)
        #expect(s.noise.sources[1].targets == [.host(.named("etcd1"))])
        #expect(s.noise.sources[1].size == NoiseSize(.uniform(50e6, 2e9)))
        let l = s.noise.sources[2]
        #expect(l.together && l.name == "switch" && l.size == NoiseSize(.fixed(0.3), isTime: false))
        #expect(l.targets.count == 6)
    }

    @Test(arguments: [
        ("    - { kind: pauze, on: patroni, rate: 1/d, duration: 1s }", "x.yml:6:15: noise.sources[0].kind: expected one of", "did you mean 'pause'?"),
        ("    - { kind: pause, on: patroni, rate: often, duration: 1s }", "noise.sources[0].rate: expected a rate such as 2/d", "got \"often\""),
        ("    - { kind: pause, rate: 1/d, duration: 1s }", "noise.sources[0]: pause needs 'on:'", ""),
        ("    - { kind: latency_spike, between: [db, etcd], rate: 1/d, duration: 1s }", "noise.sources[0]: latency_spike needs 'latency'", ""),
        ("    - { kind: pause, on: patroni, rate: 1/d, duration: 1s, loss: 0.5 }", "noise.sources[0].loss: 'loss' does not apply to pause", ""),
        ("    - { kind: loss_burst, between: [db], rate: 1/d, duration: 1s, loss: 0.5 }", "noise.sources[0].between: expected two sides", ""),
        ("    - { kind: loss_burst, between: [db, etcd], rate: 1/d, duration: 1s, loss: 1.5 }", "noise.sources[0].loss: must be at most 1", ""),
        ("    - { kind: disk_stall, on: haproxy1, rate: 1/d, duration: 1s }", "'haproxy1' runs neither etcd nor PostgreSQL", ""),
        ("    - { kind: pause, on: db9/patroni, rate: 1/d, duration: 1s }", "unknown host 'db9'", ""),
        ("    - { kind: pause, on: patroni, rate: 1/d, duration: { median: 2s, p99: 1s } }", "noise.sources[0].duration.p99: must not be below the median", ""),
        ("    - { kind: pause, on: patroni, rate: 1/d, duration: { median: 2s } }", "noise.sources[0].duration: expected a duration", ""),
    ])
    func mistakesAreNamed(line: String, message: String, also: String) {
        let errs = errors(scenario("  sources:\n" + line))
        #expect(errs.contains { $0.contains(message) && (also.isEmpty || $0.contains(also)) }, "\(errs)")
    }

    @Test func badPresetAndShortEpisodes() {
        #expect(errors(scenario("  preset: cloud")).contains { $0.contains("noise.preset: expected one of bare-metal-lan, cloud-vm, noisy-hypervisor") })
        let e = errors(scenario("  preset: cloud-vm\n  method: episodes", duration: "90s"))
        #expect(e.contains { $0.contains("an episode needs a minute after its event") }, "\(e)")
    }

    @Test func anEpisodesSourceByNameOrNumberAndItsAllocation() throws {
        let base = "  preset: cloud-vm\n  method: episodes\n  episode: { at: 60s, "
        let s = try load(scenario(base + "source: memory-preserving maintenance, allocation: uniform }")).get()
        #expect(s.noise.episodeSource.map { s.noise.sources[$0].name } == "memory-preserving maintenance")
        #expect(s.noise.episodeAllocation == .uniform)
        #expect(try load(scenario(base + "source: 1 }")).get().noise.episodeSource == 0)
        #expect(try load(scenario(base + "at: 60s }".replacingOccurrences(of: "at: 60s }", with: "} "))).get().noise.episodeAllocation == .adaptive)
        let e = errors(scenario(base + "source: solar flare }"))
        #expect(e.contains { $0.contains("noise.episode.source: no noise source with a target is called 'solar flare'; expected one of 'etcd slow fsync'") }, "\(e)")
        #expect(errors(scenario(base + "allocation: neyman }")).contains { $0.contains("noise.episode.allocation: expected one of uniform, adaptive") })
    }
}
