/// JUnit XML, the form CI systems show as tests: one `<testcase>` per scenario, with a
/// `<failure>` listing what failed (expectations on a seed, a moved percentile).
public struct JUnitCase: Sendable {
    public var name: String
    public var className: String
    public var seconds: Double
    public var failures: [String]
    public var notes: [String]
    /// The scenario file (JUnit's `file` attribute, which CI systems link to).
    public var file: String?
    /// The failure's one-line message (default: the first failure).
    public var headline: String?
    /// The case could not run (bad input): an `<error>`.
    public var error: String?
    public init(name: String, className: String, seconds: Double, failures: [String], notes: [String] = [],
                file: String? = nil, headline: String? = nil, error: String? = nil) {
        self.name = name
        self.className = className
        self.seconds = seconds
        self.failures = failures
        self.notes = notes
        self.file = file
        self.headline = headline
        self.error = error
    }
}

public enum JUnit {
    public static func xml(suite: String, cases: [JUnitCase]) -> String {
        let failures = cases.filter { !$0.failures.isEmpty }.count
        let errors = cases.filter { $0.error != nil }.count
        let total = cases.reduce(0) { $0 + $1.seconds }
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<testsuites name=\"\(esc(suite))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(sec(total))\">\n"
        s += "  <testsuite name=\"\(esc(suite))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"0\" time=\"\(sec(total))\">\n"
        for c in cases {
            s += "    <testcase classname=\"\(esc(c.className))\" name=\"\(esc(c.name))\"\(c.file.map { " file=\"\(esc($0))\"" } ?? "") time=\"\(sec(c.seconds))\""
            if c.failures.isEmpty && c.notes.isEmpty && c.error == nil { s += "/>\n"; continue }
            s += ">\n"
            if let e = c.error {
                let first = e.split(separator: "\n").first.map(String.init) ?? e
                s += "      <error message=\"\(esc(first))\" type=\"input\">\(esc(e))</error>\n"
            }
            if !c.failures.isEmpty {
                let first = c.headline ?? c.failures[0]
                s += "      <failure message=\"\(esc(first))\" type=\"regression\">\(esc(c.failures.joined(separator: "\n")))</failure>\n"
            }
            if !c.notes.isEmpty { s += "      <system-out>\(esc(c.notes.joined(separator: "\n")))</system-out>\n" }
            s += "    </testcase>\n"
        }
        s += "  </testsuite>\n</testsuites>\n"
        return s
    }

    static func sec(_ v: Double) -> String { String(trimmed: v, decimals: 3) }

    static func esc(_ t: String) -> String {
        var o = ""
        for c in t.unicodeScalars {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&apos;"
            default:
                // XML 1.0 forbids most control characters.
                if c.value < 0x20 && c != "\n" && c != "\t" && c != "\r" { continue }
                o.unicodeScalars.append(c)
            }
        }
        return o
    }
}
