import Testing
import Foundation
import SimCore
import Scenario
import Experiments

/// Mutated library scenarios through the loader and a short run: nothing crashes or hangs,
/// every message has a position and a key path. `simctl self-check fuzz` runs a larger budget.
@Suite("Fuzzing what users feed in")
struct ScenarioFuzzTests {
    static let library: [String] = {
        let dir = "Scenarios"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yml") }.sorted()
        return names.compactMap { FileSource.disk.read(dir + "/" + $0) }
    }()

    @Test("2,000 mutated scenarios: each loads or is refused with positioned messages; each one that loads runs 30 s to its end", arguments: 0..<4)
    func mutatedScenarios(slice: Int) {
        #expect(Self.library.count >= 20)
        var fuzzer = ScenarioFuzzer(seed: UInt64(slice))
        var loaded = 0, problems: [FuzzProblem] = []
        for k in 0..<500 {
            let text = fuzzer.mutate(Self.library[k % Self.library.count])
            let loads: Bool
            if case .success = ScenarioLoader.load(text: text, file: "fuzz.yml", files: .none) { loads = true } else { loads = false }
            if loads { loaded += 1 }
            problems += FuzzCheck.check(text, index: k, runFor: 30 * Time.s)
        }
        for p in problems.prefix(5) { Issue.record("\(p)\n---\n\(p.text)") }
        #expect(problems.isEmpty)
        // The mutations must not all be harmless or all fatal: both paths are exercised.
        #expect(loaded > 20 && loaded < 480)
    }

    @Test("the cases the issue found: a tiny rate, an alias bomb, huge and absurdly small values, a number for a host")
    func knownCases() {
        let base = "name: x\nduration: 2m\nworkload: { clients: 4, rate: 50/s }\n"
        let cases: [(String, String)] = [
            (base.replacingOccurrences(of: "50/s", with: "1e-300"), "must be 0 or at least 1/d"),
            (base.replacingOccurrences(of: "50/s", with: "0.0000000001/s"), "must be 0 or at least 1/d"),
            (base + "haproxy: { inter: 1ns }\n", "must be at least 1ms"),
            (base + "haproxy: { inter: 9999d }\n", "must be at most 30d"),
            (base.replacingOccurrences(of: "2m", with: "99999d"), "must be at most 400d"),
            (base + "faults: [{ at: 1m, partition: [[1e309], [db2, db3]] }]\n", "unknown host '1e309'"),
            (base + "lb: { check_interval: 100ms }\n", "must be at least 1s"),
            (base.replacingOccurrences(of: "clients: 4", with: "clients: 10000, read_clients: 5000, read_rate: 10/s"), "at most 10000"),
            ("a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + (1...8).map { "a\($0): &a\($0) [" + Array(repeating: "*a\($0 - 1)", count: 9).joined(separator: ", ") + "]" }.joined(separator: "\n") + "\n" + base,
             "more than 200000 YAML nodes"),
        ]
        for (text, want) in cases {
            guard case .failure(let e) = ScenarioLoader.load(text: text, file: "x.yml", files: .none) else {
                Issue.record("loads: \(text.prefix(120))"); continue
            }
            #expect(e.diagnostics.contains { $0.message.contains(want) }, "\(e.diagnostics.map(\.description))")
            #expect(e.diagnostics.allSatisfy { $0.line > 0 })
        }
    }
}
