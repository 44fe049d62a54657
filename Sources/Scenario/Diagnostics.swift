/// One problem (or warning) in a scenario, with where it is.
///
/// Printed as `Scenarios/x.yml:12:5: faults[2].at: expected a duration such as 30s or 1m30s, got
/// "thirty"`. A value that came from `--set` prints the override instead of a position:
/// `--set patroni.ttl=abc: patroni.ttl: expected ...`.
public struct Diagnostic: Sendable, Equatable, Error, CustomStringConvertible {
    public enum Severity: Sendable { case error, warning }
    public var severity: Severity
    public var file: String
    public var line: Int
    public var column: Int
    public var path: String
    public var message: String
    public var override: String?

    public init(_ severity: Severity, file: String, line: Int, column: Int, path: String, message: String, override: String? = nil) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
        self.override = override
    }

    public var description: String {
        let prefix = severity == .warning ? "warning: " : ""
        let place: String
        if let o = override { place = "--set \(o)" } else { place = "\(file):\(line):\(column)" }
        let p = path.isEmpty ? "" : "\(path): "
        return "\(place): \(prefix)\(p)\(message)"
    }
}

/// The failure of a scenario to load: every problem found, in file order.
public struct ScenarioErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
}

enum Suggest {
    /// The closest allowed word, if close enough to be a likely typo.
    static func closest(_ word: String, in candidates: [String]) -> String? {
        var best: (String, Int)? = nil
        for c in candidates {
            let d = distance(word.lowercased(), c.lowercased())
            if best == nil || d < best!.1 { best = (c, d) }
        }
        guard let (c, d) = best else { return nil }
        let limit = max(1, min(3, c.count / 3))
        if d <= limit { return c }
        // A key that differs only by separators (`loop-wait` for `loop_wait`) or plural.
        let norm = { (s: String) in s.lowercased().filter { $0 != "_" && $0 != "-" } }
        if norm(word) == norm(c) || norm(word) == norm(c) + "s" || norm(word) + "s" == norm(c) { return c }
        return nil
    }

    /// Levenshtein distance with adjacent transpositions (optimal string alignment).
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[x.count][y.count]
    }
}
