/// A small JSON value with deterministic printing (keys in the order given, numbers without
/// locale), used for timeline details, the `--json` summary and the store's JSON columns.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool { a.text == b.text }

    public subscript(key: String) -> JSON? {
        if case .object(let kv) = self { return kv.first { $0.0 == key }?.1 }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d): return Int64(d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }

    /// Compact JSON text.
    public var text: String {
        var s = ""
        write(into: &s, indent: nil, level: 0)
        return s
    }

    /// Indented JSON text (two spaces).
    public var pretty: String {
        var s = ""
        write(into: &s, indent: "  ", level: 0)
        return s
    }

    func write(into s: inout String, indent: String?, level: Int) {
        switch self {
        case .null: s += "null"
        case .bool(let b): s += b ? "true" : "false"
        case .int(let i): s += String(i)
        case .double(let d): s += JSON.number(d)
        case .string(let str): JSON.quote(str, into: &s)
        case .array(let a):
            if a.isEmpty { s += "[]"; return }
            s += "["
            for (i, v) in a.enumerated() {
                if i > 0 { s += "," }
                if let ind = indent { s += "\n" + String(repeating: ind, count: level + 1) }
                v.write(into: &s, indent: indent, level: level + 1)
            }
            if let ind = indent { s += "\n" + String(repeating: ind, count: level) }
            s += "]"
        case .object(let kv):
            if kv.isEmpty { s += "{}"; return }
            s += "{"
            for (i, (k, v)) in kv.enumerated() {
                if i > 0 { s += "," }
                if let ind = indent { s += "\n" + String(repeating: ind, count: level + 1) }
                JSON.quote(k, into: &s)
                s += indent == nil ? ":" : ": "
                v.write(into: &s, indent: indent, level: level + 1)
            }
            if let ind = indent { s += "\n" + String(repeating: ind, count: level) }
            s += "}"
        }
    }

    /// Numbers: integers print without a decimal point; others with up to 6 significant
    /// decimals, no exponent for ordinary magnitudes (deterministic across locales).
    public static func number(_ d: Double) -> String {
        if !d.isFinite { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        let scaled = (d * 1_000_000).rounded() / 1_000_000
        if scaled == scaled.rounded(), abs(scaled) < 1e15 { return String(Int64(scaled)) }
        var txt = String(scaled)
        if txt.contains("e") {
            txt = String(trimmed: scaled, decimals: 6)
        }
        return txt
    }

    static func quote(_ str: String, into s: inout String) {
        s += "\""
        for u in str.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    s.unicodeScalars.append(u)
                }
            }
        }
        s += "\""
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral v: String) { self = .string(v) }
    public init(integerLiteral v: Int64) { self = .int(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
    public init(floatLiteral v: Double) { self = .double(v) }
}
