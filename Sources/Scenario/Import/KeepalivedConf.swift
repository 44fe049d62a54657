import SimCore

/// A `keepalived.conf` (keepalived.conf(5)): nested `keyword args { ... }` blocks, `#` and `!`
/// comments. simctl reads the `vrrp_instance` that fronts HAProxy and the `vrrp_script` it tracks.
struct KeepalivedFile {
    struct Block {
        var words: [HAProxyFile.Token]
        var children: [Block] = []
        var keyword: String { words.first?.text ?? "" }
        func arg(_ i: Int) -> HAProxyFile.Token? { words.count > i ? words[i] : nil }
    }

    var file: String
    var blocks: [Block] = []

    static func parse(_ cfg: ConfigFile, _ r: FileReader) -> KeepalivedFile {
        var f = KeepalivedFile(file: cfg.path)
        var tokens: [HAProxyFile.Token] = []
        var n = 0
        for raw in cfg.text.split(separator: "\n", omittingEmptySubsequences: false) {
            n += 1
            var line = String(raw)
            if let bang = line.firstIndex(of: "!") { line = String(line[..<bang]) }
            // Braces are words of their own even when written against a word (`chk {`).
            for t in HAProxyFile.tokens(line, number: n) {
                var text = t.text, col = t.column
                while let i = text.firstIndex(where: { $0 == "{" || $0 == "}" }) {
                    let before = String(text[..<i])
                    if !before.isEmpty { tokens.append(.init(text: before, line: n, column: col)) }
                    tokens.append(.init(text: String(text[i]), line: n, column: col + before.count))
                    col += before.count + 1
                    text = String(text[text.index(after: i)...])
                }
                if !text.isEmpty { tokens.append(.init(text: text, line: n, column: col)) }
            }
            tokens.append(.init(text: "\n", line: n, column: 0))
        }
        var i = 0
        f.blocks = block(tokens, &i, depth: 0, r)
        return f
    }

    /// Statements up to the matching `}`: one per line, a `{` opening children.
    static func block(_ t: [HAProxyFile.Token], _ i: inout Int, depth: Int, _ r: FileReader) -> [Block] {
        var out: [Block] = []
        var words: [HAProxyFile.Token] = []
        while i < t.count {
            let tok = t[i]
            i += 1
            switch tok.text {
            case "\n":
                if !words.isEmpty { out.append(Block(words: words)); words = [] }
            case "{":
                var b = Block(words: words)
                words = []
                b.children = block(t, &i, depth: depth + 1, r)
                out.append(b)
            case "}":
                if !words.isEmpty { out.append(Block(words: words)) }
                if depth == 0 { r.error(tok.line, tok.column, "", "unexpected '}'") }
                return out
            default: words.append(tok)
            }
        }
        if depth > 0 { r.error(t.last?.line ?? 1, 1, "", "a '{' block is not closed") }
        if !words.isEmpty { out.append(Block(words: words)) }
        return out
    }
}
