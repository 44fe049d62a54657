// swift-tools-version: 6.1
import PackageDescription

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
        .target(name: "SimCore"),
        .executableTarget(name: "simctl", dependencies: ["SimCore"]),
        .target(name: "SimNet", dependencies: ["SimCore"]),
        .testTarget(name: "SimCoreTests", dependencies: ["SimCore"]),
        .testTarget(name: "SimNetTests", dependencies: ["SimNet"]),
    ]
)
