import SimCore
import Recording

/// A sweep's settings: for each key, the values to try. `--set patroni.ttl=20,30,45` is a list,
/// `--set patroni.ttl=20..60/5` a range (inclusive), `--set patroni.loop_wait=5s..10s/1s` and
/// `--set patroni.maximum_lag_on_failover=0..16MB/4MB` ranges with units. A `--set` with one
/// value is a fixed override applied to every run.
public struct Grid: Sendable, Equatable {
    public struct Axis: Sendable, Equatable {
        public var key: String
        public var values: [String]
    }
    /// The swept keys, in the order given; the first varies slowest.
    public var axes: [Axis] = []
    /// Single-valued overrides, as typed (`key=value`).
    public var fixed: [String] = []

    public init() {}

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses the `--set` arguments. The same key twice is an error (say both values in one list).
    public static func parse(_ sets: [String]) throws(ParseError) -> Grid {
        var g = Grid()
        var seen: Set<String> = []
        for s in sets {
            guard let eq = s.firstIndex(of: "="), eq != s.startIndex else {
                throw ParseError(message: "--set \(s): expected key=value, key=v1,v2,... or key=a..b/step")
            }
            let key = String(s[..<eq]).trimmingCharactersInSet()
            let rhs = String(s[s.index(after: eq)...])
            guard seen.insert(key).inserted else { throw ParseError(message: "--set \(key) is given twice; list its values in one --set (\(key)=a,b,c)") }
            let values = try expand(key: key, rhs)
            if values.count == 1 { g.fixed.append("\(key)=\(values[0])") } else { g.axes.append(Axis(key: key, values: values)) }
        }
        return g
    }

    /// The values one `--set` right-hand side stands for.
    static func expand(key: String, _ rhs: String) throws(ParseError) -> [String] {
        let items = splitTopLevel(rhs)
        var out: [String] = []
        for item in items {
            let t = item.trimmingCharactersInSet()
            if t.isEmpty { throw ParseError(message: "--set \(key)=\(rhs): an empty value in the list") }
            if let r = t.range(of: "..") { out += try range(key: key, String(t[..<r.lowerBound]), String(t[r.upperBound...])) } else { out.append(t) }
        }
        if out.count > 10_000 { throw ParseError(message: "--set \(key): \(out.count) values; a sweep axis is limited to 10000") }
        return out
    }

    /// Commas split values except inside parentheses or quotes (`FIRST 1 (a,b)` is one value).
    static func splitTopLevel(_ s: String) -> [String] {
        var parts: [String] = []
        var cur = ""
        var depth = 0
        var quote: Character? = nil
        for c in s {
            if let q = quote { cur.append(c); if c == q { quote = nil }; continue }
            switch c {
            case "\"", "'": quote = c; cur.append(c)
            case "(", "[": depth += 1; cur.append(c)
            case ")", "]": depth -= 1; cur.append(c)
            case "," where depth == 0: parts.append(cur); cur = ""
            default: cur.append(c)
            }
        }
        parts.append(cur)
        return parts
    }

    /// `a..b/step`, inclusive, in the unit the bounds are written in: plain numbers, durations
    /// (`5s..30s/5s`) or sizes (`0..64MB/16MB`). The values print in the same form.
    static func range(key: String, _ a: String, _ rest: String) throws(ParseError) -> [String] {
        let what = "--set \(key)=\(a)..\(rest)"
        let parts = rest.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ParseError(message: "\(what): a range needs a step, as in 20..60/5") }
        let b = parts[0], step = parts[1]
        func numbers() -> (Double, Double, Double)? {
            guard let x = Double(a), let y = Double(b), let s = Double(step) else { return nil }
            return (x, y, s)
        }
        if let (x, y, s) = numbers() {
            try check(x, y, s, what)
            let n = Int(((y - x) / s + 1e-9).rounded(.down))
            let integral = [a, b, step].allSatisfy { Int64($0) != nil }
            return (0...n).map { i in
                let v = x + Double(i) * s
                return integral ? String(Int64(v.rounded())) : String(trimmed: v, decimals: 6)
            }
        }
        if let x = try? DurationText.parse(a, bareUnit: nil), let y = try? DurationText.parse(b, bareUnit: nil),
           let s = try? DurationText.parse(step, bareUnit: nil) {
            try check(Double(x), Double(y), Double(s), what)
            return stride(from: x, through: y, by: Int(s)).map { DurationText.format($0) }
        }
        let zeroOr: (String) -> Int64? = { t in t == "0" ? 0 : (try? ByteText.parse(t)) }
        if let x = zeroOr(a), let y = zeroOr(b), let s = zeroOr(step), [a, b, step].contains(where: { $0.contains(where: \.isLetter) }) {
            try check(Double(x), Double(y), Double(s), what)
            return stride(from: x, through: y, by: Int(s)).map { $0 == 0 ? "0" : ByteText.format($0) }
        }
        throw ParseError(message: "\(what): bounds and step must be numbers (20..60/5), durations (5s..30s/5s) or sizes (0..64MB/16MB), in the same kind")
    }

    static func check(_ x: Double, _ y: Double, _ s: Double, _ what: String) throws(ParseError) {
        if s <= 0 { throw ParseError(message: "\(what): the step must be positive") }
        if y < x { throw ParseError(message: "\(what): the range runs backwards") }
        if (y - x) / s > 10_000 { throw ParseError(message: "\(what): more than 10000 values") }
    }

    /// Every combination, first axis slowest: each a list of (key, value).
    public var points: [[(key: String, value: String)]] {
        var out: [[(key: String, value: String)]] = [[]]
        for a in axes {
            out = out.flatMap { p in a.values.map { v in p + [(key: a.key, value: v)] } }
        }
        return out
    }

    public var pointCount: Int { axes.reduce(1) { $0 * $1.values.count } }

    /// The grid as stored in the `sweeps` table.
    public var json: JSON {
        .array(axes.map { a in .object([("key", .string(a.key)), ("values", .array(a.values.map(JSON.string)))]) })
    }
}
