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

/// Buffered line writer for `--trace`.
final class LineWriter {
    let file: UnsafeMutablePointer<FILE>
    var buffer = ""
    init?(path: String) {
        guard let f = fopen(path, "w") else { return nil }
        file = f
        buffer.reserveCapacity(1 << 16)
    }
    func write(_ line: String) {
        buffer += line
        buffer += "\n"
        if buffer.utf8.count > 1 << 16 { flush() }
    }
    func flush() {
        fputs(buffer, file)
        buffer.removeAll(keepingCapacity: true)
    }
    func close() {
        flush()
        fclose(file)
    }
}
