import SimCore
import Scenario
import Cluster
import Analysis

/// Mutated scenarios for checking that nothing a user feeds in crashes or hangs simctl: keys
/// deleted, duplicated and swapped, values of the wrong type, huge, tiny, zero and negative
/// numbers, anchors and aliases, tabs, control characters and junk. Seeded: the same seed
/// gives the same cases.
public struct ScenarioFuzzer {
    var rng: Rng
    public init(seed: UInt64) { rng = Rng(seed: seed ^ 0xF022_5EED) }

    static let junk = ["1e309", "1e-300", "-1", "0", "99999999999999999999", "0.0000000001/s", "1ns", "&a [1, 2]", "*a", "[]", "{}",
                       "~", "[[1e309], [db2, db3]]", "9999999h", "-5s", ".nan", ".inf", "1e18/s", "yes", "\u{0}", "\u{7}\u{1b}[2J",
                       "\u{FFFD}\u{FFFD}", "!!binary AAAA", "'unterminated", "{a: [", "1h1h", "0.5ms", "100%", "db9", "primary/etcd",
                       String(repeating: "x", count: 3000)]

    mutating func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }

    public mutating func mutate(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<(1 + pick(4)) where !lines.isEmpty {
            let i = pick(lines.count)
            switch pick(9) {
            case 0: lines.remove(at: i)                                  // a deleted key
            case 1: lines.insert(lines[pick(lines.count)], at: i)        // a duplicated key
            case 2: lines.swapAt(i, pick(lines.count))                   // swapped lines
            case 3, 4:                                                   // a value replaced
                if let colon = lines[i].firstIndex(of: ":") {
                    lines[i] = String(lines[i][...colon]) + " " + Self.junk[pick(Self.junk.count)]
                }
            case 5:                                                      // a number changed
                let digits = ["0", "-1", "999999999999", "1e12", "0.000001", "7"]
                if let d = lines[i].firstIndex(where: \.isNumber) {
                    var end = d
                    while end < lines[i].endIndex, lines[i][end].isNumber || lines[i][end] == "." { end = lines[i].index(after: end) }
                    lines[i].replaceSubrange(d..<end, with: digits[pick(digits.count)])
                }
            case 6:                                                      // junk inserted
                let s = lines[i]
                let at = s.index(s.startIndex, offsetBy: pick(s.count + 1))
                lines[i].insert(contentsOf: Self.junk[pick(Self.junk.count)], at: at)
            case 7: lines[i] = "\t" + lines[i]                           // a tab
            default:                                                     // an alias to a big anchor
                lines.insert("x0: &x0 [a, a, a, a, a, a, a, a]", at: 0)
                lines.insert("x1: &x1 [*x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0]", at: 1)
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// One problem a fuzz case found.
public struct FuzzProblem: Sendable, CustomStringConvertible {
    public var caseIndex: Int
    public var message: String
    public var text: String
    public var description: String { "case \(caseIndex): \(message)" }
    public init(caseIndex: Int, message: String, text: String) { self.caseIndex = caseIndex; self.message = message; self.text = text }
}

public enum FuzzCheck {
    /// Loads `text`; every message must have a position (or name its `--set`) and, unless it
    /// is a YAML syntax error, a key path. A scenario that loads is run for at most
    /// `runFor` of simulated time with a small event and wall budget: it must end (an abort
    /// names its limit).
    public static func check(_ text: String, index: Int, runFor: Nanos = 60 * Time.s, wallClock: @escaping () -> Double = { 0 }) -> [FuzzProblem] {
        var out: [FuzzProblem] = []
        switch ScenarioLoader.load(text: text, file: "fuzz.yml", files: .none) {
        case .failure(let e):
            if e.diagnostics.isEmpty { out.append(FuzzProblem(caseIndex: index, message: "rejected without a message", text: text)) }
            for d in e.diagnostics {
                let positioned = d.override != nil || d.line > 0
                let syntax = d.message.hasPrefix("YAML syntax error") || d.message.hasPrefix("the file is empty")
                    || d.message.contains("YAML nodes")
                if !positioned || (d.path.isEmpty && !syntax) {
                    out.append(FuzzProblem(caseIndex: index, message: "a message without a position or key path: \(d)", text: text))
                }
            }
        case .success(var s):
            s.durationNs = min(s.durationNs, runFor)
            s.faults = s.faults.filter { $0.atNs < s.durationNs }
            let sim = Simulation(scenario: s)
            sim.maxEvents = 20_000_000
            sim.maxWallSeconds = 20
            let run = sim.run(wallClock: wallClock)
            if run.events == 0 && s.durationNs > 0 && !s.topology.hosts.isEmpty {
                out.append(FuzzProblem(caseIndex: index, message: "a run with no events", text: text))
            }
            _ = Analyzer.analyze(run, scenario: s)
        }
        return out
    }
}
