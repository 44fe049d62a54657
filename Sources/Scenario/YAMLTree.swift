import SimCore
import Yams

/// A YAML node with its position: our own small, `Sendable` copy of Yams' composed tree, so that
/// a parsed file can be shared by a sweep's threads, overridden by `--set`, and every value
/// keeps the line and column it came from.
public struct YNode: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A scalar's text, and whether it was quoted (a quoted `"on"` is never a boolean).
        case scalar(String, quoted: Bool)
        case mapping([Entry])
        case sequence([YNode])
    }

    public struct Entry: Sendable, Equatable {
        public var key: String
        public var keyLine: Int
        public var keyColumn: Int
        public var value: YNode
    }

    public var kind: Kind
    public var line: Int
    public var column: Int
    /// Set on values that came from `--set` rather than the file: the override's text.
    public var override: String?
    /// Set on values imported from a real configuration file (`patroni.yml`, `haproxy.cfg`):
    /// problems found later name that file, its line and its own key, not the scenario's.
    public var origin: Origin?

    public struct Origin: Sendable, Equatable {
        public var file: String
        /// The setting in the real file's own terms: `bootstrap.dcs.ttl`, `backend pg_primary: inter`.
        public var key: String
        public init(file: String, key: String) { self.file = file; self.key = key }
    }

    public init(_ kind: Kind, line: Int = 0, column: Int = 0, override: String? = nil, origin: Origin? = nil) {
        self.kind = kind
        self.line = line
        self.column = column
        self.override = override
        self.origin = origin
    }

    public var scalar: String? { if case .scalar(let s, _) = kind { return s } else { return nil } }
    public var isQuoted: Bool { if case .scalar(_, let q) = kind { return q } else { return false } }
    public var entries: [Entry]? { if case .mapping(let e) = kind { return e } else { return nil } }
    public var items: [YNode]? { if case .sequence(let s) = kind { return s } else { return nil } }

    public subscript(key: String) -> YNode? { entries?.first { $0.key == key }?.value }

    /// What the node is, for "got ..." in messages.
    public var shapeDescription: String {
        switch kind {
        case .scalar(let s, _): return "\"\(s)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }
}

public enum YAMLLoadError: Error {
    case syntax(line: Int, column: Int, message: String)
}

extension YNode {
    /// Composes `text` and converts it. Syntax errors carry libyaml's line and column.
    public static func load(_ text: String) throws(YAMLLoadError) -> YNode? {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            switch e {
            case .scanner(let ctx, let problem, let mark, _), .parser(let ctx, let problem, let mark, _),
                 .composer(let ctx, let problem, let mark, _):
                let extra = ctx.map { " (\($0.text) at \($0.mark.line):\($0.mark.column))" } ?? ""
                throw .syntax(line: mark.line, column: mark.column, message: problem + extra)
            case .duplicatedKeysInMapping(let dups, let ctx):
                throw .syntax(line: ctx.mark.line, column: ctx.mark.column,
                              message: "duplicate key \(dups.map { "'\($0)'" }.joined(separator: ", ")) in a mapping")
            default:
                throw .syntax(line: 1, column: 1, message: String(describing: e))
            }
        } catch {
            throw .syntax(line: 1, column: 1, message: String(describing: error))
        }
        guard let node else { return nil }
        // Aliases share nodes in Yams' tree; expanded, a few lines can stand for billions
        // ("billion laughs"). A scenario or a configuration file has a few thousand at most.
        var budget = maxNodes
        let out = convert(node, budget: &budget)
        if budget < 0 {
            throw .syntax(line: 1, column: 1, message: "the file expands to more than \(maxNodes) YAML nodes (anchors and aliases that repeat each other?)")
        }
        return out
    }

    /// Every growing table has a limit: the nodes a file may expand to.
    public static let maxNodes = 200_000

    static func convert(_ n: Node, budget: inout Int) -> YNode {
        let line = n.mark?.line ?? 0, col = n.mark?.column ?? 0
        budget -= 1
        if budget < 0 { return YNode(.scalar("", quoted: false), line: line, column: col) }
        switch n {
        case .scalar(let s):
            let quoted = s.style == .singleQuoted || s.style == .doubleQuoted
            return YNode(.scalar(s.string, quoted: quoted), line: line, column: col)
        case .mapping(let m):
            var entries: [Entry] = []
            for (k, v) in m {
                let key = k.scalar?.string ?? String(describing: k)
                entries.append(Entry(key: key, keyLine: k.mark?.line ?? line, keyColumn: k.mark?.column ?? col, value: convert(v, budget: &budget)))
                if budget < 0 { break }
            }
            return YNode(.mapping(entries), line: line, column: col)
        case .sequence(let s):
            var items: [YNode] = []
            for x in s {
                items.append(convert(x, budget: &budget))
                if budget < 0 { break }
            }
            return YNode(.sequence(items), line: line, column: col)
        case .alias:
            // Anchors and aliases are not part of the scenario language.
            return YNode(.scalar("*alias", quoted: false), line: line, column: col)
        }
    }
}

// MARK: - Overrides

/// One `--set key.path=value`. The value is read as YAML, so `--set faults[0].at=3m`,
/// `--set workload='{clients: 8, rate: 400/s}'` and `--set patroni.synchronous_mode=true` all work.
public struct OverrideError: Error, Sendable {
    public var message: String
    public init(_ m: String) { message = m }
}

public struct Override: Sendable, Equatable {
    public var path: [PathStep]
    public var text: String
    public var raw: String

    public enum PathStep: Sendable, Equatable, CustomStringConvertible {
        case key(String)
        case index(Int)
        public var description: String {
            switch self {
            case .key(let k): return k
            case .index(let i): return "[\(i)]"
            }
        }
    }

    public static func pathString(_ p: [PathStep]) -> String {
        var s = ""
        for step in p {
            switch step {
            case .key(let k): s += s.isEmpty ? k : "." + k
            case .index(let i): s += "[\(i)]"
            }
        }
        return s
    }

    /// Parses `a.b[2].c=value`. Returns nil with a reason for a malformed override.
    public static func parse(_ raw: String) -> Result<Override, OverrideError> {
        guard let eq = raw.firstIndex(of: "=") else {
            return .failure(OverrideError("expected key.path=value"))
        }
        let pathText = String(raw[..<eq]).trimmingCharactersInSet()
        let value = String(raw[raw.index(after: eq)...])
        var steps: [PathStep] = []
        for part in pathText.split(separator: ".", omittingEmptySubsequences: false) {
            var p = Substring(part)
            let keyEnd = p.firstIndex(of: "[") ?? p.endIndex
            let key = String(p[..<keyEnd])
            if key.isEmpty && keyEnd == p.startIndex && steps.isEmpty {
                return .failure(OverrideError("the key path is empty"))
            }
            if !key.isEmpty { steps.append(.key(key)) } else if p.first != "[" {
                return .failure(OverrideError("empty key in '\(pathText)'"))
            }
            p = p[keyEnd...]
            while p.first == "[" {
                guard let close = p.firstIndex(of: "]"), let i = Int(p[p.index(after: p.startIndex)..<close]), i >= 0 else {
                    return .failure(OverrideError("expected an index such as [0] in '\(pathText)'"))
                }
                steps.append(.index(i))
                p = p[p.index(after: close)...]
            }
            if !p.isEmpty { return .failure(OverrideError("unexpected '\(p)' in '\(pathText)'")) }
        }
        if steps.isEmpty { return .failure(OverrideError("the key path is empty")) }
        return .success(Override(path: steps, text: value, raw: raw))
    }
}

extension YNode {
    /// Applies an override, creating mappings along the path where keys are missing. Returns an
    /// error message when the path runs into a scalar or past a list's end.
    public mutating func apply(_ o: Override) -> String? {
        var value: YNode
        do {
            value = try YNode.load(o.text) ?? YNode(.scalar("", quoted: false))
        } catch {
            value = YNode(.scalar(o.text, quoted: false))
        }
        value.markOverride(o.raw)
        return set(o.path[...], value, raw: o.raw)
    }

    mutating func markOverride(_ raw: String) {
        override = raw
        line = 0
        column = 0
        switch kind {
        case .scalar: break
        case .mapping(var es):
            for i in es.indices { es[i].value.markOverride(raw); es[i].keyLine = 0; es[i].keyColumn = 0 }
            kind = .mapping(es)
        case .sequence(var items):
            for i in items.indices { items[i].markOverride(raw) }
            kind = .sequence(items)
        }
    }

    mutating func set(_ path: ArraySlice<Override.PathStep>, _ value: YNode, raw: String) -> String? {
        guard let step = path.first else {
            self = value
            return nil
        }
        let rest = path.dropFirst()
        switch step {
        case .key(let k):
            var es: [Entry]
            switch kind {
            case .mapping(let e): es = e
            case .scalar(let s, _) where s.isEmpty || s == "~" || s == "null": es = []
            case .scalar:
                // A scalar where a mapping is needed: `topology: etcd-colocated` overridden by
                // `--set topology.db_nodes=5` turns into `{preset: etcd-colocated, db_nodes: 5}`.
                es = [Entry(key: "preset", keyLine: line, keyColumn: column, value: self)]
            case .sequence: return "'\(k)' is inside a list; use an index such as [0]"
            }
            if let i = es.firstIndex(where: { $0.key == k }) {
                if let err = es[i].value.set(rest, value, raw: raw) { return err }
            } else {
                var child = YNode(.scalar("", quoted: false), override: raw)
                if let err = child.set(rest, value, raw: raw) { return err }
                es.append(Entry(key: k, keyLine: 0, keyColumn: 0, value: child))
            }
            kind = .mapping(es)
        case .index(let i):
            guard case .sequence(var items) = kind else { return "[\(i)] applied to something that is not a list" }
            if i == items.count {
                var child = YNode(.scalar("", quoted: false), override: raw)
                if let err = child.set(rest, value, raw: raw) { return err }
                items.append(child)
            } else if i < items.count {
                if let err = items[i].set(rest, value, raw: raw) { return err }
            } else {
                return "index [\(i)] is past the end of a list of \(items.count)"
            }
            kind = .sequence(items)
        }
        return nil
    }
}
