import Testing
@testable import SimCore

@Suite("Durations and sizes")
struct DurationTests {
    static let parseCases: [(String, Nanos)] = [
        ("100ms", 100 * Time.ms), ("3s", 3 * Time.s), ("1m30s", 90 * Time.s), ("2h", 2 * Time.h),
        ("1.5s", 1500 * Time.ms), ("250us", 250 * Time.us), ("0s", 0), ("1h2m3s", 3723 * Time.s),
        ("10ns", 10), ("1d", 24 * Time.h), (" 5s ", 5 * Time.s), ("1_000ms", Time.s),
    ]
    static let formatCases: [(Nanos, String)] = [
        (90 * Time.s, "1m30s"), (100 * Time.ms, "100ms"), (1500 * Time.ms, "1.5s"), (0, "0s"),
        (2 * Time.h, "2h"), (250 * Time.us, "250us"), (Time.h + Time.s, "1h1s"), (37_250 * Time.ms, "37.25s"),
    ]

    @Test("parses the forms users write", arguments: parseCases)
    func parses(text: String, expected: Nanos) throws {
        #expect(try DurationText.parse(text) == expected)
    }

    @Test("a bare number counts in the key's own unit, and only if the key has one")
    func bareNumbers() throws {
        #expect(try DurationText.parse("30", bareUnit: Time.s) == 30 * Time.s)
        #expect(try DurationText.parse("3000", bareUnit: Time.ms) == 3 * Time.s)
        #expect(throws: DurationText.ParseError.missingUnit) { try DurationText.parse("30") }
    }

    @Test("rejects what is not a duration", arguments: ["thirty", "", "-3s", "1s2m", "3 parsecs", "s", "1.2.3s", "5x"])
    func rejects(text: String) {
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse(text) }
    }

    @Test("prints the shortest exact form", arguments: formatCases)
    func formats(ns: Nanos, expected: String) {
        #expect(DurationText.format(ns) == expected)
    }

    @Test("format and parse round-trip over many values")
    func roundTrip() throws {
        var rng = Rng(seed: 7)
        for _ in 0..<2000 {
            let ms = Int64(rng.below(10_000_000))
            let ns = ms * Time.ms
            #expect(try DurationText.parse(DurationText.format(ns)) == ns)
        }
    }

    @Test("byte sizes use PostgreSQL's 1024-based units")
    func bytes() throws {
        #expect(try ByteText.parse("1MB") == 1_048_576)
        #expect(try ByteText.parse("16MB") == 16 << 20)
        #expect(try ByteText.parse("512kB") == 512 << 10)
        #expect(try ByteText.parse("1048576") == 1_048_576)
        #expect(try ByteText.parse("1GiB") == 1 << 30)
        #expect(try ByteText.parse("0") == 0)
        #expect(throws: ByteText.ParseError.self) { try ByteText.parse("lots") }
        #expect(throws: ByteText.ParseError.self) { try ByteText.parse("-1MB") }
        #expect(ByteText.format(1_048_576) == "1MB")
        #expect(ByteText.format(1536 << 10) == "1536kB")
        #expect(ByteText.format(100) == "100B")
    }
}
