import SimCore
/// `synchronous_standby_names`, parsed as PostgreSQL parses it (syncrep_gram.y):
/// `FIRST n (a, b)` (priority), `ANY n (a, b)` (quorum), `n (a, b)` (= FIRST n), a bare list
/// `a, b` (= FIRST 1), `*` matching any standby, names optionally double-quoted; empty means no
/// synchronous replication.
public struct SyncStandbyNames: Sendable, Equatable {
    public enum Method: Sendable, Equatable { case priority, quorum }
    public var method: Method
    public var num: Int
    public var names: [String]

    public static let none = SyncStandbyNames(method: .priority, num: 0, names: [])
    public var isEmpty: Bool { names.isEmpty || num == 0 }

    public init(method: Method, num: Int, names: [String]) {
        self.method = method
        self.num = num
        self.names = names
    }

    /// nil for text PostgreSQL would reject.
    public static func parse(_ text: String) -> SyncStandbyNames? {
        var s = Substring(text)
        func skipSpace() { while let c = s.first, c == " " || c == "\t" { s.removeFirst() } }
        skipSpace()
        if s.isEmpty { return SyncStandbyNames.none }
        var method = Method.priority
        var explicitNum: Int? = nil
        let upper = s.uppercased()
        if upper.hasPrefix("FIRST ") || upper.hasPrefix("ANY ") {
            method = upper.hasPrefix("ANY") ? .quorum : .priority
            s = s.dropFirst(method == .quorum ? 3 : 5)
            skipSpace()
            var digits = ""
            while let c = s.first, c.isNumber { digits.append(c); s.removeFirst() }
            guard let n = Int(digits) else { return nil }
            explicitNum = n
            skipSpace()
            guard s.first == "(" else { return nil }
        } else if let c = s.first, c.isNumber {
            var digits = ""
            while let c = s.first, c.isNumber { digits.append(c); s.removeFirst() }
            skipSpace()
            if s.first == "(" { explicitNum = Int(digits) } else { s = Substring(digits) + s }
        }
        var body = s
        if body.first == "(" {
            guard body.last == ")" else { return nil }
            body = body.dropFirst().dropLast()
        } else if explicitNum != nil {
            return nil
        }
        var names: [String] = []
        for part in body.split(separator: ",", omittingEmptySubsequences: false) {
            var n = part.trimmingCharacters()
            if n.hasPrefix("\"") && n.hasSuffix("\"") && n.count >= 2 { n = String(n.dropFirst().dropLast()) }
            if n.isEmpty { return nil }
            names.append(n)
        }
        let num = explicitNum ?? 1
        if num < 1 { return nil }
        return SyncStandbyNames(method: method, num: num, names: names)
    }

    /// Priority of a standby (its position in the list, 1-based; `*` matches anyone at its
    /// position); nil when not listed.
    public func priority(of name: String) -> Int? {
        for (i, n) in names.enumerated() where n == "*" || n.lowercased() == name.lowercased() { return i + 1 }
        return nil
    }

    /// The text PostgreSQL would show, with names quoted as Patroni quotes them.
    public var text: String {
        if isEmpty { return "" }
        let list = names.map { $0 == "*" ? "*" : "\"\($0)\"" }.joined(separator: ",")
        return method == .quorum ? "ANY \(num) (\(list))" : "FIRST \(num) (\(list))"
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
