import SimCore

/// Reads typed values out of a `YNode` tree, collecting one diagnostic per problem instead of
/// stopping at the first: a user fixing a scenario sees every mistake at once.
final class Reader {
    let file: String
    var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }
    static func join(_ path: String, _ index: Int) -> String { path + "[\(index)]" }

    func error(_ n: YNode, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(.error, file: n.origin?.file ?? file, line: n.line, column: n.column,
                                      path: n.origin?.key ?? path, message: message, override: n.override))
    }

    func warning(_ n: YNode, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(.warning, file: n.origin?.file ?? file, line: n.line, column: n.column,
                                      path: n.origin?.key ?? path, message: message, override: n.override))
    }

    // MARK: - Mappings

    /// A mapping's entries, checked against the keys a section allows.
    struct Fields {
        let node: YNode
        let path: String
        let entries: [YNode.Entry]
        subscript(key: String) -> YNode? { entries.first { $0.key == key }?.value }
        func has(_ key: String) -> Bool { entries.contains { $0.key == key } }
        func path(_ key: String) -> String { Reader.join(path, key) }
    }

    /// Checks that `n` is a mapping whose keys are all in `allowed` (an unknown key is an error
    /// with a "did you mean" suggestion) and that every key in `required` is present.
    func mapping(_ n: YNode, _ path: String, allowed: [String], required: [String] = [], what: String? = nil) -> Fields? {
        guard let entries = n.entries else {
            error(n, path, "expected \(what ?? "a mapping") with keys such as \(allowed.prefix(4).joined(separator: ", ")), got \(n.shapeDescription)")
            return nil
        }
        for e in entries where !allowed.contains(e.key) {
            var msg = "unknown key '\(e.key)'"
            if let s = Suggest.closest(e.key, in: allowed) { msg += "; did you mean '\(s)'?" } else {
                msg += "; expected one of: \(allowed.joined(separator: ", "))"
            }
            let keyNode = YNode(.scalar(e.key, quoted: false), line: e.keyLine, column: e.keyColumn, override: e.value.override)
            error(keyNode, Reader.join(path, e.key), msg)
        }
        for r in required where !entries.contains(where: { $0.key == r }) {
            error(n, path.isEmpty ? r : path, path.isEmpty ? "missing required key '\(r)'" : "missing required key '\(r)'")
        }
        return Fields(node: n, path: path, entries: entries)
    }

    func list(_ n: YNode, _ path: String, what: String) -> [YNode]? {
        if let items = n.items { return items }
        error(n, path, "expected a list of \(what), got \(n.shapeDescription)")
        return nil
    }

    // MARK: - Scalars

    func scalar(_ n: YNode, _ path: String, expected: String) -> String? {
        if let s = n.scalar { return s }
        error(n, path, "expected \(expected), got \(n.shapeDescription)")
        return nil
    }

    func string(_ n: YNode, _ path: String) -> String? { scalar(n, path, expected: "a string") }

    /// The longest setting any component takes (HAProxy's timers stop at 2^31 ms, 24.8 days):
    /// anything longer is a typo, and would overflow the clock once multiplied by `fall`.
    static let maxSetting: Nanos = 30 * Time.d

    func duration(_ n: YNode, _ path: String, bareUnit: Nanos? = nil, min: Nanos = 0, max: Nanos = Reader.maxSetting, allowZero: Bool = true) -> Nanos? {
        let example = bareUnit == Time.s ? "30 (seconds) or 30s" : bareUnit == Time.ms ? "100 (milliseconds) or 100ms" : "30s or 1m30s"
        guard let s = scalar(n, path, expected: "a duration such as \(example)") else { return nil }
        do {
            let v = try DurationText.parse(s, bareUnit: bareUnit)
            if v == 0 && !allowZero { error(n, path, "must be greater than zero, got \"\(s)\""); return nil }
            if v < min { error(n, path, "must be at least \(DurationText.format(min)), got \"\(s)\""); return nil }
            if v > max { error(n, path, "must be at most \(DurationText.format(max)), got \"\(s)\""); return nil }
            return v
        } catch .negative {
            error(n, path, "a duration cannot be negative, got \"\(s)\"")
        } catch .overflow {
            error(n, path, "must be at most \(DurationText.format(max)), got \"\(s)\"")
        } catch .missingUnit {
            error(n, path, "expected a duration with a unit such as 30s or 1m30s, got \"\(s)\"")
        } catch {
            self.error(n, path, "expected a duration such as \(example), got \"\(s)\"")
        }
        return nil
    }

    func int(_ n: YNode, _ path: String, min: Int64? = nil, max: Int64? = nil) -> Int64? {
        guard let s = scalar(n, path, expected: "a whole number") else { return nil }
        let clean = s.replacingOccurrences("_", "")
        let v: Int64?
        if clean.hasPrefix("0x") { v = Int64(clean.dropFirst(2), radix: 16) } else { v = Int64(clean) }
        guard let v else { error(n, path, "expected a whole number, got \"\(s)\""); return nil }
        if let lo = min, v < lo { error(n, path, "must be at least \(lo), got \(v)"); return nil }
        if let hi = max, v > hi { error(n, path, "must be at most \(hi), got \(v)"); return nil }
        return v
    }

    func uint64(_ n: YNode, _ path: String) -> UInt64? {
        guard let s = scalar(n, path, expected: "a whole number") else { return nil }
        let clean = s.replacingOccurrences("_", "")
        let v = clean.hasPrefix("0x") ? UInt64(clean.dropFirst(2), radix: 16) : UInt64(clean)
        guard let v else { error(n, path, "expected a non-negative whole number, got \"\(s)\""); return nil }
        return v
    }

    func double(_ n: YNode, _ path: String, min: Double? = nil, max: Double? = nil) -> Double? {
        guard let s = scalar(n, path, expected: "a number") else { return nil }
        var text = s
        var scale = 1.0
        if text.hasSuffix("%") { text.removeLast(); scale = 0.01 }
        guard let raw = Double(text), raw.isFinite else { error(n, path, "expected a number, got \"\(s)\""); return nil }
        let v = raw * scale
        if let lo = min, v < lo { error(n, path, "must be at least \(lo), got \(s)"); return nil }
        if let hi = max, v > hi { error(n, path, "must be at most \(hi), got \(s)"); return nil }
        return v
    }

    /// YAML 1.1 booleans as PostgreSQL and Patroni accept them: true/false, on/off, yes/no.
    func bool(_ n: YNode, _ path: String) -> Bool? {
        guard let s = scalar(n, path, expected: "true or false") else { return nil }
        switch s.lowercased() {
        case "true", "on", "yes", "1": return true
        case "false", "off", "no", "0": return false
        default:
            error(n, path, "expected true or false, got \"\(s)\"")
            return nil
        }
    }

    func bytes(_ n: YNode, _ path: String, allowMinusOne: Bool = false) -> Int64? {
        guard let s = scalar(n, path, expected: "a size such as 1MB or 1048576") else { return nil }
        if allowMinusOne, s.trimmingCharactersInSet() == "-1" { return -1 }
        do { return try ByteText.parse(s) } catch .negative {
            error(n, path, "a size cannot be negative, got \"\(s)\"")
        } catch {
            self.error(n, path, "expected a size such as 1MB or 1048576 (bytes), got \"\(s)\"")
        }
        return nil
    }

    /// A rate per second: `200/s`, `200`, `12000/m`. Returns events per second. Zero is
    /// allowed (none); otherwise at least one a day (a rarer one sends nothing in any run, and
    /// its interval would not fit the clock) and at most a million a second.
    func rate(_ n: YNode, _ path: String) -> Double? {
        guard let s = scalar(n, path, expected: "a rate such as 200/s") else { return nil }
        let parts = s.split(separator: "/", maxSplits: 1).map { String($0).trimmingCharactersInSet() }
        guard let v = Double(parts[0]), v.isFinite, v >= 0 else {
            error(n, path, "expected a rate such as 200/s, got \"\(s)\"")
            return nil
        }
        let perSecond: Double
        if parts.count == 1 { perSecond = v } else {
            switch parts[1] {
            case "s": perSecond = v
            case "m", "min": perSecond = v / 60
            case "h": perSecond = v / 3600
            case "d": perSecond = v / 86400
            default:
                error(n, path, "expected a rate such as 200/s, got \"\(s)\"")
                return nil
            }
        }
        if perSecond > 0 && perSecond < 1.0 / 86400 {
            error(n, path, "must be 0 or at least 1/d, got \"\(s)\"")
            return nil
        }
        if perSecond > 1_000_000 {
            error(n, path, "must be at most 1000000/s, got \"\(s)\"")
            return nil
        }
        return perSecond
    }

    /// A byte rate: `100MB/s`, `1GB/s`. Returns bytes per second.
    func byteRate(_ n: YNode, _ path: String) -> Double? {
        guard let s = scalar(n, path, expected: "a rate such as 100MB/s") else { return nil }
        var body = s.trimmingCharactersInSet()
        if body.hasSuffix("/s") { body.removeLast(2) } else {
            error(n, path, "expected a rate such as 100MB/s, got \"\(s)\"")
            return nil
        }
        guard let b = try? ByteText.parse(body), b > 0 else {
            error(n, path, "expected a positive rate such as 100MB/s, got \"\(s)\"")
            return nil
        }
        return Double(b)
    }

    func oneOf(_ n: YNode, _ path: String, _ choices: [String]) -> String? {
        guard let s = scalar(n, path, expected: "one of \(choices.joined(separator: ", "))") else { return nil }
        if choices.contains(s) { return s }
        var msg = "expected one of \(choices.joined(separator: ", ")), got \"\(s)\""
        if let sug = Suggest.closest(s, in: choices) { msg += "; did you mean '\(sug)'?" }
        error(n, path, msg)
        return nil
    }

    /// Reads `key` from `f` with `read` if present, and hands the value to `set`.
    func field<T>(_ f: Fields, _ key: String, _ read: (YNode, String) -> T?, _ set: (T) -> Void) {
        guard let n = f[key] else { return }
        if let v = read(n, f.path(key)) { set(v) }
    }
}

extension String {
    func replacingOccurrences(_ a: Character, _ b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}
