/// Byte sizes as users write them in PostgreSQL and Patroni settings: `1MB`, `16MB`, `512kB`,
/// `1048576`. Units are powers of 1024, as PostgreSQL defines `kB`, `MB`, `GB`, `TB`
/// (its docs: "Valid memory units are B, kB, MB, GB, and TB", multiplier 1024); the IEC
/// spellings `KiB`, `MiB`, `GiB` are accepted as synonyms.
public enum ByteText {
    public enum ParseError: Error, Equatable { case empty, malformed, negative, overflow }

    static let units: [(String, Int64)] = [
        ("B", 1), ("kB", 1 << 10), ("KB", 1 << 10), ("KiB", 1 << 10),
        ("MB", 1 << 20), ("MiB", 1 << 20), ("GB", 1 << 30), ("GiB", 1 << 30),
        ("TB", 1 << 40), ("TiB", 1 << 40),
    ]

    public static func parse(_ text: String) throws(ParseError) -> Int64 {
        let t = text.trimmingCharactersInSet()
        if t.isEmpty { throw .empty }
        if t.hasPrefix("-") { throw .negative }
        var numEnd = t.startIndex
        while numEnd < t.endIndex, t[numEnd].isNumber || t[numEnd] == "." || t[numEnd] == "_" {
            numEnd = t.index(after: numEnd)
        }
        let numText = String(t[..<numEnd]).replacingUnderscores()
        let unitText = String(t[numEnd...]).trimmingCharactersInSet()
        guard !numText.isEmpty, let value = Double(numText), value.isFinite else { throw .malformed }
        var mult: Int64 = 1
        if !unitText.isEmpty {
            guard let u = units.first(where: { $0.0 == unitText }) else { throw .malformed }
            mult = u.1
        }
        let total = value * Double(mult)
        if total > 9.0e18 { throw .overflow }
        return Int64(total.rounded())
    }

    /// The largest unit that divides exactly: `1MB`, `16MB`, `1536kB`, `100B`.
    public static func format(_ bytes: Int64) -> String {
        if bytes == 0 { return "0B" }
        for (name, mult) in [("TB", Int64(1) << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)]
        where bytes % mult == 0 {
            return "\(bytes / mult)\(name)"
        }
        return "\(bytes)B"
    }
}
