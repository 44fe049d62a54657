import SimCore

/// An `haproxy.cfg`, read with HAProxy's own grammar (configuration.txt §2–§5: sections,
/// keywords, `default-server` and server options; a bare time is milliseconds).
struct HAProxyFile {
    struct Token { var text: String; var line: Int; var column: Int }
    struct Option { var value: Token?; var name: Token }

    struct Server {
        var name: Token
        var address: String
        var options: [String: Option] = [:]
        var flags: Set<String> = []
    }

    struct Proxy {
        var kind: String            // defaults, frontend, backend, listen
        var name: Token
        /// `option httpchk` / `http-check send`: method and path.
        var checkMethod: String?
        var checkPath: Token?
        var expectStatus: Token?
        var defaultServer: [String: Option] = [:]
        var timeouts: [String: Token] = [:]
        var retries: Token?
        var redispatch: Token?
        var balance: Token?
        var mode: Token?
        var servers: [Server] = []
        var defaultBackend: String?
    }

    var file: String
    var proxies: [Proxy] = []
    var spreadChecks: Token?

    static let sections = ["global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "mailers",
                           "program", "http-errors", "cache", "ring", "crt-store", "traces", "log-forward"]
    /// Server options with a value (configuration.txt §5.2).
    static let valued = ["inter", "fastinter", "downinter", "fall", "rise", "port", "addr", "on-marked-down", "on-marked-up",
                         "maxconn", "minconn", "maxqueue", "weight", "slowstart", "observe", "error-limit", "on-error", "id",
                         "resolvers", "resolve-prefer", "init-addr", "agent-port", "agent-inter", "cookie", "check-sni",
                         "sni", "ca-file", "crt", "pool-max-conn", "pool-purge-delay", "source", "track", "proto",
                         "max-reuse", "namespace", "agent-check", "agent-send", "health-check-addr"]
    static let timeKeys = ["inter", "fastinter", "downinter", "slowstart", "pool-purge-delay", "agent-inter"]

    /// Splits a line into words as HAProxy does: blanks separate, `#` starts a comment,
    /// quotes group, a backslash escapes.
    static func tokens(_ line: String, number: Int) -> [Token] {
        var out: [Token] = []
        var cur = "", start = 0, col = 0
        var quote: Character? = nil, inWord = false, escape = false
        for ch in line {
            col += 1
            if escape { cur.append(ch); escape = false; continue }
            if ch == "\\" { escape = true; if !inWord { inWord = true; start = col }; continue }
            if let q = quote {
                if ch == q { quote = nil } else { cur.append(ch) }
                continue
            }
            if ch == "\"" || ch == "'" { quote = ch; if !inWord { inWord = true; start = col }; continue }
            if ch == "#" { break }
            if ch == " " || ch == "\t" || ch == "\r" {
                if inWord { out.append(Token(text: cur, line: number, column: start)); cur = ""; inWord = false }
                continue
            }
            if !inWord { inWord = true; start = col }
            cur.append(ch)
        }
        if inWord { out.append(Token(text: cur, line: number, column: start)) }
        return out
    }

    static func parse(_ cfg: ConfigFile, _ r: FileReader) -> HAProxyFile {
        var f = HAProxyFile(file: cfg.path)
        var current: Proxy? = nil
        var section = ""
        var ignored: [String: (line: Int, words: [String])] = [:]
        var lineNo = 0
        func flush() {
            if let p = current { f.proxies.append(p) }
            current = nil
        }
        for raw in cfg.text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let t = tokens(String(raw), number: lineNo)
            guard let kw = t.first else { continue }
            if sections.contains(kw.text) {
                // A section keyword starts a new section wherever it is indented.
                if ["global", "defaults", "frontend", "backend", "listen"].contains(kw.text) {
                    flush()
                    section = kw.text
                    if kw.text != "global" {
                        let name = t.count > 1 ? t[1] : Token(text: "", line: kw.line, column: kw.column)
                        if kw.text != "defaults" && name.text.isEmpty {
                            r.error(kw.line, kw.column, kw.text, "'\(kw.text)' needs a name")
                        }
                        current = Proxy(kind: kw.text, name: name)
                    }
                } else {
                    flush()
                    section = kw.text
                    r.note(kw.line, kw.text, "this section does not take part in routing or checks")
                }
                continue
            }
            switch section {
            case "global":
                if kw.text == "spread-checks" {
                    f.spreadChecks = t.count > 1 ? t[1] : nil
                } else {
                    ignored["global", default: (kw.line, [])].words.append(kw.text)
                }
            case "defaults", "frontend", "backend", "listen":
                if current != nil { keyword(t, &current!, section, &ignored, r) }
            case "":
                r.error(kw.line, kw.column, kw.text, "'\(kw.text)' outside a section; expected global, defaults, frontend, backend or listen first")
            default: break
            }
        }
        flush()
        for (sec, v) in ignored.sorted(by: { ($0.value.line, $0.key) < ($1.value.line, $1.key) }) {
            var seen: [String] = []
            for w in v.words where !seen.contains(w) { seen.append(w) }
            r.note(v.line, sec, "\(seen.joined(separator: ", ")): process, logging and client-side settings do not change checks or routing")
        }
        return f
    }

    static func keyword(_ t: [Token], _ p: inout Proxy, _ section: String, _ ignored: inout [String: (line: Int, words: [String])], _ r: FileReader) {
        let kw = t[0]
        let where_ = p.kind == "defaults" ? "defaults" : "\(p.kind) \(p.name.text)"
        func arg(_ i: Int) -> Token? { t.count > i ? t[i] : nil }
        switch kw.text {
        case "option":
            guard let o = arg(1) else { r.error(kw.line, kw.column, where_, "'option' needs a name"); return }
            switch o.text {
            case "httpchk":
                // `option httpchk` (OPTIONS /), `option httpchk <uri>`, `option httpchk <meth> <uri> [<ver>]`.
                if let a = arg(2) {
                    if a.text.hasPrefix("/") { p.checkMethod = "OPTIONS"; p.checkPath = a } else {
                        p.checkMethod = a.text
                        p.checkPath = arg(3) ?? Token(text: "/", line: a.line, column: a.column)
                    }
                } else {
                    p.checkMethod = "OPTIONS"
                    p.checkPath = Token(text: "/", line: o.line, column: o.column)
                }
            case "redispatch": p.redispatch = o
            default:
                // tcplog, dontlognull, tcpka, http-server-close, ...: logging and connection
                // handling that do not change checks or routing.
                ignored[where_, default: (kw.line, [])].words.append("option " + o.text)
            }
        case "http-check":
            guard let a = arg(1) else { return }
            if a.text == "send" {
                var i = 2
                while i + 1 < t.count {
                    if t[i].text == "meth" { p.checkMethod = t[i + 1].text }
                    if t[i].text == "uri" { p.checkPath = t[i + 1] }
                    i += 2
                }
            } else if a.text == "expect" {
                if arg(2)?.text == "status", let code = arg(3) { p.expectStatus = code } else if let x = arg(2) {
                    r.note(kw.line, where_ + ": http-check expect " + x.text, "only 'expect status' is modelled; Patroni answers 200 or 503")
                }
            } else {
                ignored[where_, default: (kw.line, [])].words.append("http-check " + a.text)
            }
        case "default-server":
            var unused = Set<String>()
            serverOptions(t, from: 1, into: &p.defaultServer, flags: &unused, where_: where_, r)
        case "server":
            guard let name = arg(1), let addr = arg(2) else { r.error(kw.line, kw.column, where_, "'server' needs a name and an address"); return }
            var s = Server(name: name, address: addr.text)
            var flags = Set<String>()
            serverOptions(t, from: 3, into: &s.options, flags: &flags, where_: "\(where_): server \(name.text)", r)
            s.flags = flags
            p.servers.append(s)
        case "timeout":
            guard let which = arg(1), let v = arg(2) else { r.error(kw.line, kw.column, where_, "'timeout' needs a name and a time"); return }
            _ = time(v, "timeout \(which.text)", where_, r)
            p.timeouts[which.text] = v
        case "retries": p.retries = arg(1)
        case "balance": p.balance = arg(1)
        case "mode": p.mode = arg(1)
        case "default_backend": p.defaultBackend = arg(1)?.text
        case "use_backend":
            r.note(kw.line, where_ + ": use_backend", "content switching is not modelled; the frontend's default_backend is used")
        case "maxconn":
            r.note(kw.line, where_ + ": maxconn", "connections beyond it queue in HAProxy; simctl's clients stay below it")
        case "bind", "log", "stats", "capture", "acl", "tcp-request", "http-request", "http-response", "description", "no",
             "monitor-uri", "errorfile", "compression", "fullconn", "hash-type", "cookie", "stick-table", "stick":
            ignored[where_, default: (kw.line, [])].words.append(kw.text)
        default:
            ignored[where_, default: (kw.line, [])].words.append(kw.text)
        }
    }

    static func serverOptions(_ t: [Token], from: Int, into opts: inout [String: Option], flags: inout Set<String>, where_: String, _ r: FileReader) {
        var i = from
        while i < t.count {
            let k = t[i]
            if valued.contains(k.text) {
                guard i + 1 < t.count else { r.error(k.line, k.column, where_, "'\(k.text)' needs a value"); return }
                let v = t[i + 1]
                if timeKeys.contains(k.text) { _ = time(v, k.text, where_, r) }
                if ["fall", "rise", "port", "maxconn", "weight"].contains(k.text), Int(v.text) == nil {
                    r.error(v.line, v.column, where_, "'\(k.text) \(v.text)': expected a whole number")
                }
                opts[k.text] = Option(value: v, name: k)
                i += 2
            } else {
                opts[k.text] = Option(value: nil, name: k)
                flags.insert(k.text)
                i += 1
            }
        }
    }

    /// A time as HAProxy reads it: a number with an optional unit (us, ms, s, m, h, d); a bare
    /// number is milliseconds.
    @discardableResult
    static func time(_ v: Token, _ key: String, _ where_: String, _ r: FileReader) -> Nanos? {
        let ok = v.text.first?.isNumber == true
        if ok, let ns = try? DurationText.parse(v.text, bareUnit: Time.ms) { return ns }
        r.error(v.line, v.column, where_, "'\(key) \(v.text)': expected a time such as 3s (a bare number is milliseconds)")
        return nil
    }
}
