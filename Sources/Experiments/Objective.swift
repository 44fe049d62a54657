import SimCore

/// `--objective 'min rto.p99 where rpo.max_writes == 0 and split_brain.runs == 0'`: which
/// setting is best. A small language: `min|max METRIC [where COND (and COND)*]`, a condition
/// being `METRIC (==|!=|<|<=|>|>=) NUMBER` (a number may carry a duration unit: `30s`). Metric
/// names are `SettingStats.metricNames`.
public struct Objective: Sendable, Equatable {
    public enum Direction: String, Sendable { case min, max }
    public struct Condition: Sendable, Equatable {
        public var metric: String
        public var op: String
        public var value: Double
        func holds(_ s: SettingStats) -> Bool {
            guard let v = s.metric(metric) else { return false }
            switch op {
            case "==": return v == value
            case "!=": return v != value
            case "<": return v < value
            case "<=": return v <= value
            case ">": return v > value
            default: return v >= value
            }
        }
    }
    public var direction: Direction
    public var metric: String
    public var conditions: [Condition]
    public var text: String

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ text: String) throws(ParseError) -> Objective {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        func fail(_ why: String) -> ParseError {
            ParseError(description: "--objective '\(text)': \(why); expected e.g. 'min rto.p99 where rpo.max_writes == 0' (metrics: \(SettingStats.metricNames.joined(separator: ", ")))")
        }
        guard words.count >= 2, let dir = Direction(rawValue: words[0].lowercased()) else { throw fail("start with min or max and a metric") }
        guard SettingStats.metricNames.contains(words[1]) else { throw fail("unknown metric \(words[1])") }
        var conds: [Condition] = []
        var i = 2
        if i < words.count {
            guard words[i].lowercased() == "where" else { throw fail("expected 'where' after the metric, got '\(words[i])'") }
            i += 1
            while true {
                guard i + 2 < words.count else { throw fail("incomplete condition") }
                let m = words[i], op = words[i + 1], v = words[i + 2]
                guard SettingStats.metricNames.contains(m) else { throw fail("unknown metric \(m)") }
                guard ["==", "!=", "<", "<=", ">", ">="].contains(op) else { throw fail("unknown comparison \(op)") }
                let value: Double
                if let d = Double(v) { value = d } else if let ns = try? DurationText.parse(v) { value = Time.seconds(ns) } else { throw fail("\(v) is not a number") }
                conds.append(Condition(metric: m, op: op, value: value))
                i += 3
                if i == words.count { break }
                guard words[i].lowercased() == "and" else { throw fail("expected 'and' between conditions, got '\(words[i])'") }
                i += 1
            }
        }
        return Objective(direction: dir, metric: words[1], conditions: conds, text: text)
    }

    /// The best setting among those meeting every condition (ties: the first in grid order).
    public func best(_ settings: [SettingStats]) -> SettingStats? {
        var best: (SettingStats, Double)? = nil
        for s in settings where conditions.allSatisfy({ $0.holds(s) }) {
            guard let v = s.metric(metric) else { continue }
            if let b = best, direction == .min ? !(v < b.1) : !(v > b.1) { continue }
            best = (s, v)
        }
        return best?.0
    }
}
