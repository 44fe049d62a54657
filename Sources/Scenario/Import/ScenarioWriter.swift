import SimCore

/// Writes an imported cluster as a scenario file: every imported value with a comment naming
/// the file, line and setting it came from, a default workload, an example fault, and the
/// settings not modelled with why.
public enum ScenarioWriter {
    static let sectionOrder = ["topology", "patroni", "postgresql", "etcd", "haproxy", "keepalived", "pgbouncer", "lb"]

    public static func scenario(_ c: ImportedCluster, name: String? = nil) -> String {
        let title = name ?? (c.scope.isEmpty ? "my-cluster" : c.scope)
        var out = ""
        out += "# Imported by simctl import from \(c.sources.joined(separator: ", ")).\n"
        out += "# Each value is the real files' (the comment names where it came from); what they do not\n"
        out += "# set runs with Patroni's, etcd's and HAProxy's own defaults. Run it as it is:\n"
        out += "#   simctl run <this file>\n"
        out += "name: \(scalar(title, quoted: false))\n"
        out += "description: >\n"
        out += "  The cluster \(title) as its configuration files describe it (simctl import), under\n"
        out += "  simctl's default write load.\n"
        out += "seed: 1\n"
        out += "duration: 10m\n"
        let entries = c.tree.entries ?? []
        for key in sectionOrder {
            guard let e = entries.first(where: { $0.key == key }) else { continue }
            out += "\(key):\n"
            block(e.value, indent: 1, into: &out)
        }
        out += "# simctl's default workload: set it to your application's (writes per second, connections).\n"
        out += "workload: { clients: 4, rate: 50/s }\n"
        out += "# An example fault: the primary's host loses power two minutes in and comes back three\n"
        out += "# minutes later. Uncomment it (and remove the []), or add it when running:\n"
        out += "#   simctl run <this file> --set 'faults[0]={at: 2m, crash: primary, for: 3m}'\n"
        out += "faults: []\n"
        out += "#  - { at: 2m, crash: primary, for: 3m }\n"
        let warnings = c.diagnostics.filter { $0.severity == .warning }
        if !warnings.isEmpty {
            out += "\n# Warnings:\n"
            for w in warnings { out += "#   \(w.description.replacingOccurrences("\n", " "))\n" }
        }
        if !c.notes.isEmpty {
            out += "\n# Read but not modelled, and why it does not change failover timing or data loss:\n"
            for n in c.notes { out += "#   \(n.description)\n" }
        }
        return out
    }

    static func block(_ n: YNode, indent: Int, into out: inout String) {
        let pad = String(repeating: "  ", count: indent)
        guard let es = n.entries else { return }
        for e in es {
            switch e.value.kind {
            case .scalar(let s, let q):
                out += line(pad + "\(e.key): " + scalar(s, quoted: q), e.value)
            case .sequence(let items):
                if items.allSatisfy({ $0.scalar != nil }) {
                    let body = "[" + items.map { scalar($0.scalar!, quoted: $0.isQuoted) }.joined(separator: ", ") + "]"
                    out += line(pad + "\(e.key): " + body, items.first)
                } else {
                    out += pad + "\(e.key):\n"
                    for i in items { out += pad + "  - " + flow(i) + "\n" }
                }
            case .mapping:
                out += pad + "\(e.key):\n"
                block(e.value, indent: indent + 1, into: &out)
            }
        }
    }

    /// A line with its origin as a comment, aligned for reading.
    static func line(_ text: String, _ n: YNode?) -> String {
        guard let n, let o = n.origin else { return text + "\n" }
        let width = max(text.count + 2, 34)
        return text + String(repeating: " ", count: width - text.count) + "# \(o.file):\(n.line) \(o.key)\n"
    }

    static func flow(_ n: YNode) -> String {
        switch n.kind {
        case .scalar(let s, let q): return scalar(s, quoted: q)
        case .sequence(let items): return "[" + items.map(flow).joined(separator: ", ") + "]"
        case .mapping(let es): return "{ " + es.map { "\($0.key): " + flow($0.value) }.joined(separator: ", ") + " }"
        }
    }

    /// A scalar as YAML needs it: quoted when the source quoted it or when it would not read
    /// back as the same string.
    static func scalar(_ s: String, quoted: Bool) -> String {
        let special: Set<Character> = [":", "#", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`", "<", "="]
        if quoted || s.isEmpty || s.contains(where: { special.contains($0) }) || s.first == " " || s.last == " " || s.first == "-" && s.count > 1 && !(s.dropFirst().allSatisfy(\.isNumber)) {
            var e = ""
            for ch in s {
                switch ch {
                case "\"": e += "\\\""
                case "\\": e += "\\\\"
                default: e.append(ch)
                }
            }
            return "\"" + e + "\""
        }
        return s
    }
}
