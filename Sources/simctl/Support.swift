import ArgumentParser
import Foundation
import SimCore
import Scenario
import Store

/// Finds a scenario file as the user typed it. `scenarios/partition.yml` finds
/// `Scenarios/partition.yml`, and a missing `.yml` is tried too.
func resolveScenarioPath(_ typed: String) -> String? {
    var isDir: ObjCBool = false
    if let p = resolvePath(typed), FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue { return p }
    if !typed.hasSuffix(".yml") && !typed.hasSuffix(".yaml") { return resolveScenarioPath(typed + ".yml") }
    return nil
}

/// An existing file or folder as the user typed it, each path component that does not exist
/// matched case-insensitively against its folder.
func resolvePath(_ typed: String) -> String? {
    let fm = FileManager.default
    if fm.fileExists(atPath: typed) { return typed }
    var current = typed.hasPrefix("/") ? "/" : "."
    for part in typed.split(separator: "/").map(String.init) {
        let candidate = (current == "." ? "" : current == "/" ? "/" : current + "/") + part
        if fm.fileExists(atPath: candidate) { current = candidate; continue }
        guard let entries = try? fm.contentsOfDirectory(atPath: current),
              let match = entries.sorted().first(where: { $0.lowercased() == part.lowercased() }) else { return nil }
        current = (current == "." ? "" : current == "/" ? "/" : current + "/") + match
    }
    return current
}

/// Reads and loads a scenario, printing every diagnostic. Throws `ExitCode(2)` on bad input.
func loadScenario(_ typed: String, overrides: [String]) throws -> (Scenario, text: String, path: String) {
    guard let path = resolveScenarioPath(typed) else {
        throw InputError(message: "\(typed): no such scenario file (looked for it as typed and case-insensitively, with .yml)")
    }
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw InputError(message: "\(path): cannot read the file as UTF-8 text")
    }
    switch ScenarioLoader.load(text: text, file: path, overrides: overrides) {
    case .success(let s): return (s, text, path)
    case .failure(let e):
        for d in e.diagnostics { printErr(d.description) }
        let n = e.diagnostics.count
        printErr("\(path): \(n) problem\(n == 1 ? "" : "s"); nothing was run or stored")
        throw ExitCode(2)
    }
}

/// Like `loadScenario`, but returns the messages instead of printing them (for `check`, which
/// reports every bad file and writes them to JUnit).
func loadScenarioQuietly(_ typed: String) -> Result<(Scenario, String, String), LoadProblem> {
    guard let path = resolveScenarioPath(typed) else { return .failure(LoadProblem(lines: ["\(typed): no such scenario file"])) }
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        return .failure(LoadProblem(lines: ["\(path): cannot read the file as UTF-8 text"]))
    }
    switch ScenarioLoader.load(text: text, file: path, overrides: []) {
    case .success(let s): return .success((s, text, path))
    case .failure(let e): return .failure(LoadProblem(lines: e.diagnostics.map(\.description)))
    }
}

struct LoadProblem: Error { var lines: [String] }

/// Opens (creating its folder) the store at `path`; a path that cannot hold a database is bad input.
func openStore(_ path: String) throws -> Store {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw InputError(message: "--db \(path): cannot create the folder \(dir): \(error.localizedDescription)")
        }
    }
    do { return try Store(path: path) } catch {
        throw InputError(message: "--db \(path): cannot open the store: \(error)")
    }
}

/// `key=value` pairs of the overrides, for the runs table.
func overridePairs(_ overrides: [String]) -> [(String, String)] {
    overrides.map { o in
        guard let eq = o.firstIndex(of: "=") else { return (o, "") }
        return (String(o[..<eq]), String(o[o.index(after: eq)...]))
    }
}

/// Monotonic wall-clock seconds, for reporting how long a run took (never read by the simulation).
func wallSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func isTerminal(_ fd: Int32) -> Bool { isatty(fd) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil }

/// Buffered line writer for `--trace` and `--writes`.
final class LineWriter {
    let file: UnsafeMutablePointer<FILE>
    /// Bytes not yet written; `--trace` appends whole lines to it directly.
    var bytes: [UInt8] = []
    init?(path: String) {
        guard let f = fopen(path, "w") else { return nil }
        file = f
        bytes.reserveCapacity(1 << 17)
    }
    func write(_ line: String) {
        bytes.append(contentsOf: line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        flushIfFull()
    }
    func flushIfFull() { if bytes.count > 1 << 16 { flush() } }
    func flush() {
        bytes.withUnsafeBufferPointer { _ = fwrite($0.baseAddress, 1, $0.count, file) }
        bytes.removeAll(keepingCapacity: true)
    }
    func close() {
        flush()
        fclose(file)
    }
}

/// `--workers`: the number of cores unless given; at least one.
func workerCount(_ given: Int?) throws -> Int {
    guard let n = given else { return max(1, ProcessInfo.processInfo.activeProcessorCount) }
    guard n >= 1 else { throw InputError(message: "--workers \(n): need at least one worker") }
    return n
}

/// Where runs are recorded unless `--db` says otherwise.
let defaultStore = "Reports/simctl.sqlite"

/// Files as given, and the `.yml` files of folders (sorted); and what does not exist.
func collectFiles(_ items: [String]) -> (files: [String], missing: [String]) {
    var out: [String] = [], missing: [String] = []
    let fm = FileManager.default
    for item in items {
        var isDir: ObjCBool = false
        if let resolved = resolvePath(item), fm.fileExists(atPath: resolved, isDirectory: &isDir), isDir.boolValue {
            let entries = (try? fm.contentsOfDirectory(atPath: resolved)) ?? []
            out += entries.filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted().map { (resolved as NSString).appendingPathComponent($0) }
        } else if resolveScenarioPath(item) != nil {
            out.append(item)
        } else {
            missing.append(item)
        }
    }
    return (out, missing)
}
