import SimCore

/// A `pgbouncer.ini` (pgbouncer(5)): `[section]` headers and `key = value` lines, `;` and `#`
/// comments.
struct PgBouncerFile {
    struct Entry { var section: String; var key: String; var value: String; var line: Int; var column: Int }
    var file: String
    var entries: [Entry] = []

    static func parse(_ cfg: ConfigFile, _ r: FileReader) -> PgBouncerFile {
        var f = PgBouncerFile(file: cfg.path)
        var section = ""
        var n = 0
        for raw in cfg.text.split(separator: "\n", omittingEmptySubsequences: false) {
            n += 1
            let s = String(raw).trimmingCharactersInSet()
            if s.isEmpty || s.hasPrefix(";") || s.hasPrefix("#") { continue }
            if s.hasPrefix("[") {
                guard s.hasSuffix("]") else { r.error(n, 1, "", "expected a section such as [pgbouncer], got \"\(s)\""); continue }
                section = String(s.dropFirst().dropLast()).trimmingCharactersInSet().lowercased()
                continue
            }
            guard let eq = s.firstIndex(of: "=") else { r.error(n, 1, section, "expected key = value, got \"\(s)\""); continue }
            let key = String(s[..<eq]).trimmingCharactersInSet()
            let value = String(s[s.index(after: eq)...]).trimmingCharactersInSet()
            let col = (String(raw).firstIndex(of: "=").map { String(raw).distance(from: String(raw).startIndex, to: $0) } ?? 0) + 2
            if section.isEmpty { r.error(n, 1, key, "'\(key)' before any [section]"); continue }
            f.entries.append(Entry(section: section, key: key, value: value, line: n, column: col))
        }
        return f
    }
}

/// A cloud load balancer's health check, written as the provider's API names it: Linode
/// NodeBalancer (`check_interval`, `check_timeout`, `check_attempts`, `check_path`) or an AWS
/// target group (`HealthCheckIntervalSeconds`, `HealthyThresholdCount`, ...), in YAML or JSON.
enum CloudLBFile {
    static let keys: [String: String] = [
        "check_interval": "check_interval", "HealthCheckIntervalSeconds": "check_interval", "interval": "check_interval",
        "check_timeout": "check_timeout", "HealthCheckTimeoutSeconds": "check_timeout", "timeout": "check_timeout",
        "check_attempts": "unhealthy_threshold", "UnhealthyThresholdCount": "unhealthy_threshold", "unhealthy_threshold": "unhealthy_threshold",
        "HealthyThresholdCount": "healthy_threshold", "healthy_threshold": "healthy_threshold",
        "check_path": "check_path", "HealthCheckPath": "check_path", "path": "check_path",
    ]
    static let ignored = ["check", "HealthCheckProtocol", "protocol", "port", "HealthCheckPort", "check_passive", "algorithm",
                          "stickiness", "label", "region", "cipher_suite", "check_body", "Matcher", "HealthCheckEnabled"]

    static func parse(_ cfg: ConfigFile, _ r: FileReader, into b: inout TreeBuilder) {
        let root: YNode
        do {
            guard let n = try YNode.loadConfig(cfg.text) else { r.error(1, 1, "", "the file is empty; expected the load balancer's health-check settings"); return }
            root = n
        } catch {
            if case .syntax(let line, let col, let msg) = error { r.error(line, col, "", "YAML syntax error: \(msg)") }
            return
        }
        guard let es = root.entries else { r.error(root.line, root.column, "", "expected a mapping such as {check_interval: 5, check_timeout: 2, check_path: /primary}"); return }
        for e in es {
            if let k = keys[e.key], let s = e.value.scalar {
                b.set(["lb", k], r.value(s, line: e.value.line, column: e.value.column, key: e.key))
            } else if ignored.contains(e.key) {
                r.note(e.keyLine, e.key, "the check's protocol and port are Patroni's REST API (HTTP on 8008)")
            } else if let s = Suggest.closest(e.key, in: keys.keys.sorted() + ignored) {
                r.error(e.keyLine, e.keyColumn, e.key, "unknown health-check setting '\(e.key)'; did you mean '\(s)'?")
            } else {
                r.note(e.keyLine, e.key, "not a health-check setting simctl models")
            }
        }
    }
}
