/// Virtual time. Every instant and duration in simctl is an `Int64` count of nanoseconds;
/// names carry the unit last (`ttlNs`, `latencyNsMax`). Nothing in the simulation reads the
/// wall clock.
public typealias Nanos = Int64

public enum Time {
    public static let ns: Nanos = 1
    public static let us: Nanos = 1_000
    public static let ms: Nanos = 1_000_000
    public static let s: Nanos = 1_000_000_000
    public static let m: Nanos = 60 * s
    public static let h: Nanos = 60 * m
    public static let d: Nanos = 24 * h

    /// Seconds as a `Double`, for reports only.
    @inlinable public static func seconds(_ t: Nanos) -> Double { Double(t) / 1e9 }

    /// Rounds a `Double` number of seconds to nanoseconds.
    @inlinable public static func fromSeconds(_ s: Double) -> Nanos { Nanos((s * 1e9).rounded()) }
}

/// Parsing and printing of durations the way users write them: `100ms`, `3s`, `1m30s`, `2h`,
/// `1.5s`, `250us`. A compound duration is a run of number+unit pairs, largest unit first.
public enum DurationText {
    public enum ParseError: Error, Equatable {
        case empty
        case malformed
        case negative
        case missingUnit
        case overflow
    }

    static let units: [(String, Nanos)] = [
        ("ns", Time.ns), ("us", Time.us), ("µs", Time.us), ("ms", Time.ms),
        ("s", Time.s), ("m", Time.m), ("h", Time.h), ("d", Time.d),
    ]

    /// Parses `text`. A bare number (no unit) is accepted only when `bareUnit` is given: then it
    /// counts in that unit, as the real configuration key does (Patroni's `ttl: 30` is seconds,
    /// HAProxy's `inter 3000` is milliseconds).
    public static func parse(_ text: String, bareUnit: Nanos? = nil) throws(ParseError) -> Nanos {
        let t = text.trimmingCharactersInSet()
        if t.isEmpty { throw .empty }
        if t.hasPrefix("-") { throw .negative }
        let chars = Array(t.unicodeScalars)
        var i = 0
        var total: Double = 0
        var sawUnit = false
        var pairs = 0
        var lastUnit: Nanos = .max
        while i < chars.count {
            let numStart = i
            while i < chars.count, (chars[i] >= "0" && chars[i] <= "9") || chars[i] == "." || chars[i] == "_" { i += 1 }
            if i == numStart { throw .malformed }
            let numText = String(String.UnicodeScalarView(chars[numStart..<i])).replacingUnderscores()
            guard let value = Double(numText), value.isFinite else { throw .malformed }
            let unitStart = i
            while i < chars.count, (chars[i] >= "a" && chars[i] <= "z") || chars[i] == "µ" { i += 1 }
            let unitText = String(String.UnicodeScalarView(chars[unitStart..<i]))
            pairs += 1
            if unitText.isEmpty {
                // Only a lone bare number is allowed, and only where the key has a bare unit.
                guard pairs == 1, i == chars.count else { throw .malformed }
                guard let bare = bareUnit else { throw .missingUnit }
                total = value * Double(bare)
                break
            }
            guard let unit = units.first(where: { $0.0 == unitText })?.1 else { throw .malformed }
            if unit >= lastUnit { throw .malformed }  // "1s2m" or "1s1s" is not a duration
            lastUnit = unit
            sawUnit = true
            total += value * Double(unit)
        }
        _ = sawUnit
        if total > Double(Int64.max / 2) { throw .overflow }
        return Nanos(total.rounded())
    }

    /// Prints the shortest exact compound form: `1m30s`, `250ms`, `1.5s` for 1500 ms,
    /// `0s` for zero. Negative durations print with a leading minus.
    public static func format(_ ns: Nanos) -> String {
        if ns == 0 { return "0s" }
        if ns < 0 { return "-" + format(-ns) }
        if ns < Time.s {
            if ns % Time.ms == 0 { return "\(ns / Time.ms)ms" }
            if ns % Time.us == 0 { return "\(ns / Time.us)us" }
            if ns >= Time.ms { return trimmed(Double(ns) / Double(Time.ms)) + "ms" }
            return "\(ns)ns"
        }
        var rest = ns
        var out = ""
        for (suffix, unit) in [("d", Time.d), ("h", Time.h), ("m", Time.m)] where rest >= unit {
            out += "\(rest / unit)\(suffix)"
            rest %= unit
        }
        if rest > 0 {
            if rest % Time.s == 0 { out += "\(rest / Time.s)s" }
            else if out.isEmpty || rest >= Time.s { out += trimmed(Double(rest) / Double(Time.s)) + "s" }
            else { out += format(rest) }
        }
        return out
    }

    /// Seconds with up to three decimals and no trailing zeros: `37.25`, `2`, `0.5`.
    public static func seconds3(_ ns: Nanos) -> String { trimmed(Double(ns) / 1e9) }

    static func trimmed(_ v: Double) -> String {
        String(trimmed: v, decimals: 3)
    }
}

extension String {
    /// `decimals` fixed decimals, locale-free and deterministic (no Foundation):
    /// `String(fixed: 1.5, decimals: 3)` is `1.500`.
    public init(fixed v: Double, decimals: Int) {
        var unit: Int64 = 1
        for _ in 0..<decimals { unit *= 10 }
        let scaled = Int64((abs(v) * Double(unit)).rounded())
        var f = String(scaled % unit)
        while f.count < decimals { f = "0" + f }
        self = (v < 0 && scaled != 0 ? "-" : "") + String(scaled / unit) + (decimals > 0 ? "." + f : "")
    }

    /// Up to `decimals` decimals, trailing zeros trimmed: `1.5`, `2`.
    public init(trimmed v: Double, decimals: Int) {
        var s = String(fixed: v, decimals: decimals)
        while s.contains("."), s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        self = s
    }

    /// Trims spaces and tabs at both ends.
    public func trimmingCharactersInSet() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }

    func replacingUnderscores() -> String { String(self.filter { $0 != "_" }) }
}
