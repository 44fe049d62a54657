import Testing
import Foundation

/// The README's examples print what the README shows (the parts that are a function of the
/// scenario and seed: everything but wall-clock time). The sweep example takes minutes in a
/// debug build; `.ci/run` checks it with the release build (Tests/readme_sweep.sh).
@Suite("The README's examples", .serialized)
struct ReadmeTests {
    static func readme() throws -> String { try String(contentsOfFile: packageRoot.appendingPathComponent("README.md").path, encoding: .utf8) }

    /// The fenced block that follows the line containing `marker`.
    static func block(after marker: String, in text: String) throws -> [String] {
        let r = try #require(text.range(of: marker), "README has no \(marker)")
        let rest = text[r.upperBound...]
        let open = try #require(rest.range(of: "```\n"))
        let body = rest[open.upperBound...]
        let close = try #require(body.range(of: "\n```"))
        return body[..<close.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test("simctl run scenarios/partition.yml prints the README's sample (in order; '...' elides)")
    func runSample() throws {
        let sample = try Self.block(after: "`simctl run Scenarios/partition.yml` prints:", in: try Self.readme())
        let db = tmp("readme.sqlite")
        let r = try simctl(["run", "scenarios/partition.yml", "--db", db])
        #expect(r.code == 0, "\(r.err)")
        let out = r.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var k = 0
        for (n, line) in sample.enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t == "..." || t.hasSuffix("...") && n == 2 { continue }
            // The header's wall-clock figures vary; its scenario, seed, events and trace hash do not.
            if n == 0 { #expect(out.first?.hasPrefix("partition — seed 1, 10m simulated in ") == true); k = 1; continue }
            if n == 1 {
                let words = line.split(separator: " ")
                #expect(out.count > 1 && out[1].hasPrefix("  \(words[0]) events (") && out[1].hasSuffix(String(words.last!)), "\(out.prefix(2))")
                k = 2
                continue
            }
            if line.hasPrefix("ok — run ") { #expect(out.contains { $0.hasPrefix("ok — run 1 stored in ") }); continue }
            guard let at = out[k...].firstIndex(of: line) else {
                Issue.record("README line \(n + 1) of the sample is not in the output (in order): \(line)")
                continue
            }
            k = at + 1
        }
    }

    @Test("simctl list 1 --at 2m30s and simctl history 1 print the README's tables")
    func listAndHistory() throws {
        let text = try Self.readme()
        let db = tmp("readme2.sqlite")
        _ = try simctl(["run", "scenarios/partition.yml", "--db", db])
        let list = try simctl(["list", "1", "--at", "2m30s", "--db", db])
        let history = try simctl(["history", "1", "--db", db])
        let wantList = try Self.block(after: "simctl history 1              # patronictl history\n```", in: text)
        #expect(list.out.split(separator: "\n").map(String.init) == wantList.filter { !$0.isEmpty }, "\(list.out)")
        let wantHistory = try Self.block(after: "promotion as `patronictl history` does, the LSN as PostgreSQL prints it:", in: text)
        #expect(history.out.split(separator: "\n").map(String.init) == wantHistory.filter { !$0.isEmpty }, "\(history.out)")
    }

    @Test("the README's commands parse: every `simctl ...` line of a sh block is a valid command line")
    func commandsParse() throws {
        let text = try Self.readme()
        var inSh = false, commands: [String] = []
        var pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```sh") { inSh = true; continue }
            if line.hasPrefix("```") { inSh = false; continue }
            guard inSh else { continue }
            var l = line.components(separatedBy: "  #").first ?? line
            l = l.trimmingCharacters(in: .whitespaces)
            if l.hasSuffix("\\") { pending += String(l.dropLast()) + " "; continue }
            l = pending + l
            pending = ""
            if l.hasPrefix("simctl ") { commands.append(l) }
        }
        #expect(commands.count >= 7, "\(commands)")
        for c in commands {
            // Every command's arguments must parse: ask for its help with the same words.
            let words = shellWords(String(c.dropFirst("simctl ".count)))
            guard let sub = words.first else { continue }
            let r = try simctl([sub, "--help"])
            #expect(r.code == 0, "README command '\(c)': '\(sub)' is not a simctl command")
            for w in words where w.hasPrefix("--") {
                #expect(r.out.contains(w.split(separator: "=").first.map(String.init) ?? w), "README command '\(c)': \(w) is not an option of \(sub)")
            }
        }
    }

    func shellWords(_ s: String) -> [String] {
        var out: [String] = [], cur = "", quote: Character? = nil
        for ch in s {
            if let q = quote { if ch == q { quote = nil } else { cur.append(ch) }; continue }
            if ch == "'" || ch == "\"" { quote = ch; continue }
            if ch == " " { if !cur.isEmpty { out.append(cur); cur = "" }; continue }
            cur.append(ch)
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }
}
