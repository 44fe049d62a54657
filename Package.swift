// swift-tools-version: 6.1
import PackageDescription

// The simulation's hot modules run without dynamic exclusivity checks in release builds: every
// access to a class's stored property otherwise costs a runtime call (measured: a third of the
// kernel's time). Debug builds, which the tests use, keep the checks, but optimize the hot
// modules: `swift test` simulates thousands of minutes, and -O made it 6.6× faster (a swarm of
// 40 scenarios: 23 s → 3.5 s) for a few seconds more of build.
let hot: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
                           .unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "simctl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "simctl", targets: ["simctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    targets: [
        // Foundation: virtual time, randomness, the event kernel; the network between hosts.
        .target(name: "SimCore", swiftSettings: hot),
        .target(name: "SimNet", dependencies: ["SimCore"], swiftSettings: hot),
        // What a run records (timeline, writes, faults); Analysis reads only this.
        .target(name: "Recording", dependencies: ["SimCore"]),
        // The component models. Each is a set of value types driven by its own events; they
        // talk to the world through small environment protocols, never to each other directly.
        // The components' settings, with their real names and defaults: what a scenario sets and
        // the models run with (no model code, so that the scenario, analysis and report layers
        // do not link the models).
        .target(name: "Settings", dependencies: ["SimCore"]),
        .target(name: "Etcd", dependencies: ["SimCore", "Settings", "Recording"], swiftSettings: hot),
        .target(name: "Postgres", dependencies: ["SimCore", "Settings", "Recording"], swiftSettings: hot),
        .target(name: "Patroni", dependencies: ["SimCore", "Settings", "Recording", "Etcd", "Postgres"], swiftSettings: hot),
        .target(name: "Traffic", dependencies: ["SimCore", "Settings", "Recording", "Postgres", "Patroni"], swiftSettings: hot),
        // YAML → typed scenario with file:line:col diagnostics.
        .target(name: "Scenario", dependencies: ["SimCore", "Settings", .product(name: "Yams", package: "Yams")]),
        // The world: builds hosts and processes from a scenario and runs them on the kernel.
        .target(name: "Cluster", dependencies: ["SimCore", "Settings", "SimNet", "Recording", "Etcd", "Postgres", "Patroni", "Traffic", "Scenario"], swiftSettings: hot),
        .target(name: "Analysis", dependencies: ["SimCore", "Settings", "Recording", "Scenario"]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "Store", dependencies: ["CSQLite", "SimCore", "Recording", "Analysis"]),
        .target(name: "Report", dependencies: ["SimCore", "Settings", "Recording", "Analysis", "Scenario"]),
        // Many runs at once: sweeps over settings and seeds, regression checks, merges.
        .target(name: "Experiments", dependencies: ["SimCore", "Settings", "Recording", "Scenario", "Cluster", "Analysis", "Store"]),
        .executableTarget(name: "simctl", dependencies: [
            "SimCore", "Settings", "Scenario", "Cluster", "Analysis", "Store", "Report", "Experiments",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "SimCoreTests", dependencies: ["SimCore"]),
        .testTarget(name: "SimNetTests", dependencies: ["SimNet"]),
        .testTarget(name: "ScenarioTests", dependencies: ["Settings", "Scenario", "SimCore", "Patroni", "Traffic"]),
        .testTarget(name: "EtcdTests", dependencies: ["Settings", "Etcd", "SimNet", "Recording"]),
        .testTarget(name: "PostgresTests", dependencies: ["Settings", "Postgres", "SimNet", "Recording"]),
        .testTarget(name: "AnalysisTests", dependencies: ["Settings", "Analysis", "Recording", "Scenario", "SimCore"]),
        .testTarget(name: "ClusterTests", dependencies: ["Settings", "Cluster", "Analysis", "Recording", "Scenario", "SimCore", "Experiments", "Patroni", "Etcd"]),
        .testTarget(name: "StoreTests", dependencies: ["Settings", "Store", "Cluster", "Analysis", "Recording", "Scenario", "SimCore"]),
        // What users read: golden text (the report, patronictl list and history), the HTML page's SVG.
        .testTarget(name: "ReportTests", dependencies: ["Settings", "Report", "Cluster", "Analysis", "Recording", "Scenario", "SimCore"],
                    exclude: ["Golden"]),
        // Runs the built `simctl` as a separate process (exit codes, determinism across processes).
        .testTarget(name: "CLITests", dependencies: ["simctl"]),
        .testTarget(name: "FuzzTests", dependencies: ["Settings", "Experiments", "Scenario", "SimCore"]),
        .testTarget(name: "PatroniTests", dependencies: ["Settings", "Patroni", "Etcd", "Postgres", "Recording", "SimCore"]),
        .testTarget(name: "TrafficTests", dependencies: ["Settings", "Traffic", "Patroni", "Postgres", "Recording", "SimCore"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Settings", "Experiments", "Store", "Cluster", "Analysis", "Recording", "Scenario", "SimCore"]),
    ]
)
