#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SimCore

/// Where the files a scenario's `cluster:` section names are read from.
public struct FileSource: Sendable {
    public let read: @Sendable (String) -> String?
    public init(read: @escaping @Sendable (String) -> String?) { self.read = read }

    /// No files: a scenario given as text only.
    public static let none = FileSource { _ in nil }

    /// The file system. A path that is not a readable regular file reads as nil.
    public static let disk = FileSource { path in
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n > 0 { bytes += buf[0..<n] }
            if n < buf.count { break }
            // Every growing table has a limit: a configuration file is small.
            if bytes.count > 16 << 20 { return nil }
        }
        if ferror(f) != 0 { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension ScenarioLoader {
    static let clusterKeys = ["patroni", "haproxy", "etcd", "keepalived", "pgbouncer", "lb", "nodes", "etcd_version"]

    /// `cluster: {patroni: [conf/node1.yml, ...], haproxy: conf/haproxy.cfg, etcd: [...]}`: the
    /// real files, read and imported; the sections they produce sit under the scenario's own
    /// keys, which win (so `--set patroni.ttl=20` and a scenario's `haproxy: {inter: 1s}` still
    /// apply). Paths are relative to the scenario file.
    static func expandCluster(_ root: inout YNode, file: String, files: FileSource, _ r: Reader) -> [ImportNote] {
        guard let cn = root["cluster"] else { return [] }
        guard let f = r.mapping(cn, "cluster", allowed: clusterKeys, required: ["patroni"],
                                what: "a mapping of real configuration files such as {patroni: [conf/node1.yml], haproxy: conf/haproxy.cfg}") else { return [] }
        let dir = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : ""
        func paths(_ key: String) -> [ConfigFile] {
            guard let n = f[key] else { return [] }
            let items: [YNode] = n.items ?? [n]
            var out: [ConfigFile] = []
            for (i, item) in items.enumerated() {
                let p = n.items == nil ? f.path(key) : Reader.join(f.path(key), i)
                guard let rel = r.string(item, p), !rel.isEmpty else { continue }
                let full = rel.hasPrefix("/") || dir.isEmpty ? rel : dir + "/" + rel
                guard let text = files.read(full) else {
                    r.error(item, p, "cannot read '\(rel)'" + (full == rel ? "" : " (looked for \(full))"))
                    continue
                }
                out.append(ConfigFile(path: full, text: text))
            }
            return out
        }
        var input = ImportInput()
        input.patroni = paths("patroni")
        input.haproxy = paths("haproxy")
        input.etcd = paths("etcd")
        input.keepalived = paths("keepalived")
        input.pgbouncer = paths("pgbouncer").first
        input.lb = paths("lb").first
        r.field(f, "nodes", { r.int($0, $1, min: 1, max: 9) }) { input.nodes = Int($0) }
        r.field(f, "etcd_version", { r.oneOf($0, $1, ["3.4", "3.5", "3.6"]) }) { input.etcdVersion = $0 }
        if r.hasErrors { return [] }
        let imported = ClusterImport.run(input)
        r.diagnostics += imported.diagnostics
        var rest = root
        if case .mapping(let es) = rest.kind { rest.kind = .mapping(es.filter { $0.key != "cluster" }) }
        root = merge(imported.tree, rest)
        return imported.notes
    }

    /// `over` on top of `base`: mappings merge key by key, anything else is replaced.
    static func merge(_ base: YNode, _ over: YNode) -> YNode {
        guard case .mapping(var be) = base.kind, case .mapping(let oe) = over.kind else { return over }
        for e in oe {
            if let i = be.firstIndex(where: { $0.key == e.key }) {
                let line = e.keyLine, col = e.keyColumn
                be[i].value = merge(be[i].value, e.value)
                be[i].keyLine = line
                be[i].keyColumn = col
            } else {
                be.append(e)
            }
        }
        var out = over
        out.kind = .mapping(be)
        return out
    }
}
