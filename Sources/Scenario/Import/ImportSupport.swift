import SimCore

/// A real configuration file given to `simctl import` or named by a scenario's `cluster:`
/// section: its path as given (for messages) and its text.
public struct ConfigFile: Sendable {
    public var path: String
    public var text: String
    public init(path: String, text: String) { self.path = path; self.text = text }
}

/// A setting of a real file that simctl reads but does not model, with why. `simctl import`
/// lists them; nothing is dropped without a line here.
public struct ImportNote: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    /// The setting in the file's own terms (`postgresql.pg_hba`, `backend pg_primary: maxconn`).
    public var key: String
    public var why: String
    /// The same setting, with the same reason, in other files (the other nodes' patroni.yml).
    public var alsoIn: [String] = []
    public var description: String {
        "\(file):\(line)\(alsoIn.isEmpty ? "" : " (also " + alsoIn.joined(separator: ", ") + ")"): \(key): \(why)"
    }

    /// One line per setting and reason: the same note from several nodes' files, or a
    /// section's default inherited by several backends, is listed once.
    static func collapse(_ notes: [ImportNote]) -> [ImportNote] {
        var out: [ImportNote] = []
        for n in notes {
            if out.contains(where: { $0.file == n.file && ($0.line == n.line || $0.key == n.key) && $0.why == n.why }) { continue }
            if let i = out.firstIndex(where: { $0.key == n.key && $0.why == n.why && $0.file != n.file }) {
                if !out[i].alsoIn.contains(n.file) { out[i].alsoIn.append(n.file) }
                continue
            }
            out.append(n)
        }
        return out
    }
}

/// What the import of a set of files produces: the cluster as a tree in the scenario
/// language's own keys (each value keeping the file, line and key it came from), the
/// settings not modelled, and every problem found.
public struct ImportedCluster: Sendable {
    /// A mapping with the scenario's sections: topology, patroni, postgresql, etcd, haproxy,
    /// keepalived, pgbouncer, lb.
    public var tree = YNode(.mapping([]))
    public var notes: [ImportNote] = []
    public var diagnostics: [Diagnostic] = []
    /// The cluster's name (Patroni's `scope`).
    public var scope = ""
    public var sources: [String] = []
    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
}

/// Collects one file's findings in its own terms.
final class FileReader {
    let file: String
    var diagnostics: [Diagnostic] = []
    var notes: [ImportNote] = []

    init(file: String) { self.file = file }

    func error(_ line: Int, _ column: Int, _ key: String, _ message: String) {
        diagnostics.append(Diagnostic(.error, file: file, line: line, column: column, path: key, message: message))
    }
    func warning(_ line: Int, _ column: Int, _ key: String, _ message: String) {
        diagnostics.append(Diagnostic(.warning, file: file, line: line, column: column, path: key, message: message))
    }
    func note(_ line: Int, _ key: String, _ why: String) {
        notes.append(ImportNote(file: file, line: line, key: key, why: why))
    }

    /// A value for the scenario tree that remembers where it came from.
    func value(_ text: String, line: Int, column: Int, key: String, quoted: Bool = false) -> YNode {
        YNode(.scalar(text, quoted: quoted), line: line, column: column, origin: .init(file: file, key: key))
    }
}

/// Builds the scenario-language tree from assignments such as `patroni.ttl = 30`.
struct TreeBuilder {
    var root = YNode(.mapping([]))

    mutating func set(_ path: [String], _ value: YNode) {
        Self.set(&root, path[...], value)
    }

    /// Whether a value is present at `path`.
    func has(_ path: [String]) -> Bool { get(path) != nil }

    func get(_ path: [String]) -> YNode? {
        var n: YNode? = root
        for k in path { n = n?[k] }
        return n
    }

    private static func set(_ n: inout YNode, _ path: ArraySlice<String>, _ value: YNode) {
        guard let k = path.first else { n = value; return }
        var es = n.entries ?? []
        if let i = es.firstIndex(where: { $0.key == k }) {
            set(&es[i].value, path.dropFirst(), value)
        } else {
            var child = YNode(.mapping([]), line: value.line, column: value.column, origin: value.origin)
            set(&child, path.dropFirst(), value)
            es.append(YNode.Entry(key: k, keyLine: value.line, keyColumn: value.column, value: child))
        }
        n.kind = .mapping(es)
    }
}

/// Host and port out of `host:port`, `[v6]:port`, `http://host:port/path` or a bare host.
/// Placeholders such as `{{NODE1_IP}}` or `<ETCD_NODE_1_IP>` are opaque host names.
enum Address {
    static func host(_ raw: String) -> String {
        var s = raw.trimmingCharactersInSet()
        if let r = s.firstRange(of: "://") { s = String(s[r.upperBound...]) }
        if let slash = s.firstIndex(of: "/") { s = String(s[..<slash]) }
        if let at = s.lastIndex(of: "@") { s = String(s[s.index(after: at)...]) }
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") { return String(s[s.index(after: s.startIndex)..<close]) }
        // `{{X}}:5432`: the last colon separates the port (a placeholder has none inside).
        if let colon = s.lastIndex(of: ":"), s[s.index(after: colon)...].allSatisfy(\.isNumber) {
            return String(s[..<colon])
        }
        return s
    }

    static func port(_ raw: String) -> Int? {
        var s = raw.trimmingCharactersInSet()
        if let r = s.firstRange(of: "://") { s = String(s[r.upperBound...]) }
        if let slash = s.firstIndex(of: "/") { s = String(s[..<slash]) }
        guard let colon = s.lastIndex(of: ":") else { return nil }
        return Int(s[s.index(after: colon)...])
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Any-address listeners say nothing about which host they are on.
    static func isWildcard(_ host: String) -> Bool { host == "0.0.0.0" || host == "*" || host == "::" || host.isEmpty }
}

extension YNode {
    /// A mapping's entries; an empty value (`parameters:` with every line commented out) is an
    /// empty mapping, as Patroni reads it (`value or {}`).
    var configEntries: [Entry]? {
        if let e = entries { return e }
        if case .scalar(let s, false) = kind, ["", "~", "null"].contains(s) { return [] }
        return nil
    }

    /// Loads a real configuration file's YAML. Templated files carry placeholders such as
    /// `listen: {{NODE1_IP}}:8008`, which YAML would read as a flow mapping; they are kept
    /// as opaque text (the same width, so lines and columns stay true).
    static func loadConfig(_ text: String) throws(YAMLLoadError) -> YNode? {
        guard text.contains("{{") else { return try load(text) }
        let masked = text.replacingText("{{", with: "⟪⟪").replacingText("}}", with: "⟫⟫")
        return try load(masked).map { $0.unmasked() }
    }

    func unmasked() -> YNode {
        var n = self
        switch n.kind {
        case .scalar(let s, let q): n.kind = .scalar(s.unmaskedPlaceholders, quoted: q)
        case .mapping(var es):
            for i in es.indices { es[i].key = es[i].key.unmaskedPlaceholders; es[i].value = es[i].value.unmasked() }
            n.kind = .mapping(es)
        case .sequence(let items): n.kind = .sequence(items.map { $0.unmasked() })
        }
        return n
    }
}

extension String {
    func replacingText(_ a: String, with b: String) -> String {
        guard contains(a) else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) {
            out += rest[..<r.lowerBound]
            out += b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }

    var unmaskedPlaceholders: String { replacingText("⟪⟪", with: "{{").replacingText("⟫⟫", with: "}}") }
}
