import Testing
import Foundation

/// The rough edges a new user met (issue 12, section 5), each kept fixed.
@Suite("Friction found by a new user", .serialized)
struct FrictionTests {
    let tiny = """
        name: tiny
        duration: 70s
        topology: etcd-separate
        workload: { clients: 1, rate: 5/s }
        faults: [ { at: 20s, crash: db1 } ]
        expect: { rto: { max: 45s } }
        """

    func folder(_ files: [String: String]) throws -> String {
        let dir = tmp("scen")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try writeFile(dir + "/" + name, text) }
        return dir
    }

    @Test("check on a missing file or folder: exit 2 and a message naming it; with --junit an error case")
    func checkMissing() throws {
        let junit = tmp("missing.xml")
        let r = try simctl(["check", "no/such/folder", "--seeds", "1", "--junit", junit])
        #expect(r.code == 2)
        #expect(r.err.contains("no/such/folder: no such scenario file or folder"), "\(r.err)")
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.contains("<error message=\"no/such/folder: no such scenario file or folder\""))
    }

    @Test("an invalid scenario makes check write a JUnit error test case with the diagnostic")
    func checkInvalidJUnit() throws {
        let dir = try folder(["bad.yml": tiny.replacingOccurrences(of: "at: 20s", with: "at: soon")])
        let junit = tmp("bad.xml")
        let r = try simctl(["check", dir, "--seeds", "1", "--junit", junit])
        #expect(r.code == 2)
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.contains("name=\"bad\""))
        #expect(xml.contains("<error message=\"\(dir)/bad.yml:5:17: faults[0].at: expected a duration"), "\(xml)")
        #expect(xml.contains("errors=\"1\""))
    }

    @Test("a scenario missing from the baseline is reported, and fails with --strict; fewer seeds than the baseline warn")
    func strictAndSeeds() throws {
        let dir = try folder(["tiny.yml": tiny])
        let base = tmp("base.json")
        // A baseline with another scenario only.
        try writeFile(base, #"{"simctl_version":"t","tolerance":{"rto_relative":0.1,"rto_absolute_s":1,"lost_writes_increase":0},"scenarios":{"other":{"file":"x.yml","seeds":30,"first_seed":1,"faults":[],"lost_writes_mean":0,"lost_writes_max":0}}}"#)
        let plain = try simctl(["check", dir, "--seeds", "2", "--baseline", base])
        #expect(plain.code == 0, "\(plain.out)\(plain.err)")
        #expect(plain.out.contains("note: 1 scenario is not in \(base) and was not compared: tiny"), "\(plain.out)")
        let strict = try simctl(["check", dir, "--seeds", "2", "--baseline", base, "--strict"])
        #expect(strict.code == 1)
        #expect(strict.out.contains("failed: not in the baseline"))
        // Write a 3-seed baseline, then check over 2 seeds.
        let base2 = tmp("base2.json")
        _ = try simctl(["check", dir, "--seeds", "3", "--baseline", base2, "--update-baseline"])
        let fewer = try simctl(["check", dir, "--seeds", "2", "--baseline", base2])
        #expect(fewer.err.contains("warning: tiny: the baseline was measured over 3 seeds from 1; this check runs 2 from 1"), "\(fewer.err)")
        let fewerStrict = try simctl(["check", dir, "--seeds", "2", "--baseline", base2, "--strict"])
        #expect(fewerStrict.code == 1)
    }

    @Test("JUnit: the failure message is the headline, the class is the folder, the file is named, check says where it wrote")
    func junitShape() throws {
        let dir = try folder(["tiny.yml": tiny.replacingOccurrences(of: "max: 45s", with: "max: 1s")])
        let junit = tmp("shape.xml")
        let r = try simctl(["check", dir, "--seeds", "2", "--baseline", tmp("nobase.json"), "--junit", junit])
        #expect(r.code == 1)
        #expect(r.out.contains("JUnit written: \(junit)"))
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        let cls = dir.split(separator: "/").joined(separator: ".")
        #expect(xml.contains("classname=\"\(cls)\" name=\"tiny\" file=\"\(dir)/tiny.yml\""), "\(xml)")
        #expect(xml.contains("<failure message=\"rto.max failed on 2 of 2 seeds (first: seed 1: rto.max:"), "\(xml)")
    }

    @Test("--db with --no-store is a contradiction: exit 2, nothing run")
    func dbWithNoStore() throws {
        let db = tmp("x.sqlite")
        let r = try simctl(["run", "Scenarios/partition.yml", "--no-store", "--db", db])
        #expect(r.code == 2)
        #expect(r.err.contains("--no-store records nothing"))
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test("--help: paragraphs wrap to the terminal, not mid-sentence; --workers states its default once")
    func help() throws {
        for cmd in ["run", "show", "list", "history", "sweep", "check", "merge", "bench"] {
            let r = try simctl([cmd, "--help"])
            #expect(r.code == 0)
            // ArgumentParser wraps a paragraph to the width; a hard break inside one leaves a
            // short line followed by one that goes on in lower case.
            let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (a, b) in zip(lines, lines.dropFirst()) where !a.isEmpty && !b.isEmpty && !a.hasPrefix(" ") && !b.hasPrefix(" ") {
                let short = a.count < 50 && !a.hasSuffix(".") && !a.hasSuffix(":")
                #expect(!(short && b.first!.isLowercase), "\(cmd) --help breaks mid-sentence: \"\(a)\" / \"\(b)\"")
            }
        }
        let c = try simctl(["check", "--help"])
        // The option's help: from its line to the next option's.
        let after = c.out.components(separatedBy: "--workers <workers>").dropFirst().first ?? ""
        let workers = after.components(separatedBy: "\n  --").first ?? ""
        #expect(workers.components(separatedBy: "(default").count - 1 == 1, "\(workers)")
    }

    @Test("--trace writes structured JSON lines (fields, not Swift debug strings); --trace-filter keeps what matches")
    func trace() throws {
        let file = tmp("t.yml"), trace = tmp("t.jsonl"), filtered = tmp("f.jsonl")
        try writeFile(file, tiny)
        let r = try simctl(["run", file, "--no-store", "--trace", trace])
        #expect(r.code == 0, "\(r.err)")
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        #expect(lines.count > 1000)
        for l in lines.prefix(200) {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any], "\(l)")
            #expect(o["t_s"] != nil && o["host"] != nil && o["component"] != nil && o["event"] != nil)
        }
        #expect(!lines.contains { $0.contains("Patroni.") || $0.contains("PatroniInput") })
        let f = try simctl(["run", file, "--no-store", "--trace", filtered, "--trace-filter", "host=db1,component=patroni,event=patroni.timer"])
        #expect(f.code == 0, "\(f.err)")
        let kept = try String(contentsOfFile: filtered, encoding: .utf8).split(separator: "\n")
        #expect(!kept.isEmpty)
        #expect(kept.allSatisfy { $0.contains(#""host":"db1","component":"patroni","event":"patroni.timer."#) })
        let bad = try simctl(["run", file, "--no-store", "--trace", filtered, "--trace-filter", "colour=red"])
        #expect(bad.code == 2)
        #expect(bad.err.contains("unknown key 'colour'"))
    }

    @Test("HAProxy's vocabulary in the report: a server of a backend")
    func vocabulary() throws {
        let file = tmp("v.yml")
        try writeFile(file, tiny)
        let r = try simctl(["run", file, "--no-store"])
        #expect(r.out.contains("Server write/db1 is DOWN ("), "\(r.out)")
        #expect(!r.out.contains("frontend"))
    }

    @Test("a sweep names the effective settings, its worst runs with a replay command, and never recommends an adjusted value")
    func sweepTruth() throws {
        let file = tmp("s.yml"), db = tmp("s.sqlite"), csv = tmp("s.csv"), html = tmp("s.html")
        try writeFile(file, tiny)
        let r = try simctl(["sweep", file, "--set", "patroni.ttl=10,30", "--seeds", "2", "--db", db, "--objective", "min rto.p95",
                            "--csv", csv, "--html", html])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("ttl=10→20"), "\(r.out)")
        #expect(r.out.contains("simctl run \(file) --seed "))
        #expect(r.out.contains("--set patroni.ttl=10"))
        if r.out.contains("best (min rto.p95): ttl=10→20") { #expect(r.out.contains("set patroni.ttl=20")) }
        let c = try String(contentsOfFile: csv, encoding: .utf8)
        #expect(c.hasPrefix("patroni.ttl,patroni.ttl (effective),"))
        #expect(c.contains("\n10,20,"))
        let h = try String(contentsOfFile: html, encoding: .utf8)
        #expect(h.contains("data-setting=\"ttl=10→20\""))
        let j = try simctl(["sweep", file, "--set", "patroni.ttl=10,30", "--seeds", "2", "--db", db, "--resume", "--json"])
        let o = try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any]
        let first = (o?["settings"] as? [[String: Any]])?.first
        #expect((first?["effective"] as? [String: String])?["patroni.ttl"] == "20")
        #expect(((first?["worst"] as? [[String: Any]])?.count ?? 0) >= 1)
    }
}
