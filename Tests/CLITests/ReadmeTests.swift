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

    @Test("Simulate your own cluster: import, validate and run print what the README shows; a mistyped file prints its errors")
    func importSection() throws {
        let text = try Self.readme()
        let out = tmp("my-cluster.yml")
        let seed = ["node1.yml", "node2.yml", "node3.yml"].map { "Examples/seed002/" + $0 }
        let etcd = ["etcd-node1.conf", "etcd-node2.conf", "etcd-node3.conf"].map { "Examples/seed002/" + $0 }
        let imp = try simctl(["import", "--patroni"] + seed + ["--etcd"] + etcd + ["--haproxy", "Examples/seed002/haproxy.cfg", "-o", out])
        #expect(imp.code == 0, "\(imp.err)")
        #expect(imp.err.contains("wrote \(out): 5 hosts, 15 settings not modelled (listed at its end); run it with: simctl run \(out)"), "\(imp.err)")
        #expect(text.contains("wrote my-cluster.yml: 5 hosts, 15 settings not modelled"))
        let written = try String(contentsOfFile: out, encoding: .utf8)
        let yaml = try Self.block(after: "each setting simctl read but does not model, with why:", in: text)
        for line in yaml where !line.hasSuffix("...") && !line.isEmpty {
            #expect(written.contains(line + "\n"), "README line not in the imported scenario: \(line)")
        }
        #expect(try simctl(["validate", out]).code == 0)
        let run = try simctl(["run", out, "--no-store", "--set", "faults[0]={at: 2m, crash: primary, for: 3m}"])
        let rto = try Self.block(after: "The run reports with your names and keys", in: text)
        #expect(run.out.contains(rto[0]), "\(run.out)")
        // The mistakes the README shows, made in copies of the same files.
        let dir = tmp("mistyped")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in seed + etcd + ["Examples/seed002/haproxy.cfg"] {
            var t = try String(contentsOfFile: packageRoot.appendingPathComponent(f).path, encoding: .utf8)
            if f.hasSuffix("haproxy.cfg") { t = t.replacingOccurrences(of: "default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions\n    server node1 {{NODE1_IP}}:5432 maxconn 100 check port 8008\n    server node2 {{NODE2_IP}}:5432 maxconn 100 check port 8008\n    server node3 {{NODE3_IP}}:5432 maxconn 100 check port 8008\n\n# --- FRONTEND: READ", with: "default-server inter 3x fall 3 rise 2 on-marked-down shutdown-sessions\n    server node1 {{NODE1_IP}}:5432 maxconn 100 check port 8008\n    server node2 {{NODE2_IP}}:5432 maxconn 100 check port 8008\n    server node3 {{NODE3_IP}}:5432 maxconn 100 check port 8008\n\n# --- FRONTEND: READ") }
            if f.hasSuffix("node2.yml") { t = t.replacingOccurrences(of: "loop_wait: 10", with: "loop_wiat: 10") }
            try writeFile(dir + "/" + (f as NSString).lastPathComponent, t)
        }
        let errs = try Self.block(after: "and nothing is written (exit 2):", in: text)
        let bad = try simctl(["import", "--patroni"] + seed.map { dir + "/" + ($0 as NSString).lastPathComponent }
                             + ["--haproxy", dir + "/haproxy.cfg", "-o", dir + "/out.yml"])
        #expect(bad.code == 2 && !FileManager.default.fileExists(atPath: dir + "/out.yml"))
        for line in errs.prefix(2) { #expect(bad.err.contains(dir + "/" + line), "\(bad.err)") }
        // The value error shows once the unknown keys are fixed.
        var t1 = try String(contentsOfFile: dir + "/node1.yml", encoding: .utf8)
        t1 = t1.replacingOccurrences(of: "ttl: 30", with: "ttl: thirty")
        try writeFile(dir + "/node1.yml", t1)
        let bad2 = try simctl(["import", "--patroni", dir + "/node1.yml", "--haproxy", "Examples/seed002/haproxy.cfg"])
        #expect(bad2.code == 2 && bad2.err.contains(dir + "/" + errs[2]), "\(bad2.err)")
    }
}
