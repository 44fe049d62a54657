import Testing
import Foundation

/// `show`, `list`, `history` and the HTML report, through the built binary.
@Suite("Stored runs: show, list, history, HTML", .serialized)
struct StoredRunTests {
    func stored(_ file: String, db: String, extra: [String] = []) throws -> (Result, Int64) {
        let r = try simctl(["run", file, "--db", db] + extra)
        let id = try #require(r.out.split(separator: "\n").last { $0.contains("stored in") }.flatMap { line in
            line.split(separator: " ").firstIndex(of: "run").map { Int64(line.split(separator: " ")[$0 + 1])! }
        }, "\(r.out)")
        return (r, id)
    }

    @Test("show prints the report the run printed, from the store alone; --json too")
    func showEqualsRun() throws {
        let db = tmp("show.sqlite")
        let (r, id) = try stored("Scenarios/primary-crash.yml", db: db, extra: ["--seed", "4"])
        #expect(r.code == 0, "\(r.err)")
        let s = try simctl(["show", "\(id)", "--db", db])
        #expect(s.code == 0, "\(s.err)")
        #expect(s.out == r.out)
        let j1 = try simctl(["run", "Scenarios/primary-crash.yml", "--seed", "4", "--no-store", "--json"])
        let j2 = try simctl(["show", "\(id)", "--db", db, "--json"])
        let a = try JSONSerialization.jsonObject(with: Data(j1.out.utf8)) as? [String: Any]
        let b = try JSONSerialization.jsonObject(with: Data(j2.out.utf8)) as? [String: Any]
        #expect(a?["trace_hash"] as? String == b?["trace_hash"] as? String)
        #expect((a?["faults"] as? [[String: Any]])?.first?["rto_seconds"] as? Double == (b?["faults"] as? [[String: Any]])?.first?["rto_seconds"] as? Double)
    }

    @Test("list and history read the DCS as the run recorded it; LSNs as PostgreSQL prints them")
    func listAndHistory() throws {
        let db = tmp("list.sqlite")
        let (_, id) = try stored("Scenarios/primary-crash.yml", db: db, extra: ["--seed", "3"])
        let before = try simctl(["list", "\(id)", "--at", "1m", "--db", db])
        #expect(before.code == 0, "\(before.err)")
        #expect(before.out.contains("| Member | Host | Role    | State     | TL | Lag in MB |"))
        #expect(before.out.contains("| db1    | db1  | Leader  | running   |  1 |           |"))
        let after = try simctl(["list", "\(id)", "--at", "5m", "--db", db])
        #expect(after.out.contains("| db2    | db2  | Leader  | running   |  2 |           |"), "\(after.out)")
        let h = try simctl(["history", "\(id)", "--db", db])
        #expect(h.code == 0)
        #expect(h.out.range(of: #"\|  1 \| +[0-9A-F]+/[0-9A-F]+ \| no recovery target specified \| 2m3[0-9]\.[0-9]{3}s \| db2 "#, options: .regularExpression) != nil, "\(h.out)")
    }

    @Test("bad input to show, list, history: exit 2 with what was wrong, never a new empty store")
    func badInput() throws {
        let db = tmp("none.sqlite")
        let missing = try simctl(["show", "1", "--db", db])
        #expect(missing.code == 2)
        #expect(missing.err.contains("no such store"))
        #expect(!FileManager.default.fileExists(atPath: db))
        let real = tmp("bad.sqlite")
        let (_, id) = try stored("Scenarios/primary-crash.yml", db: real, extra: ["--seed", "2", "--set", "duration=6m"])
        let notThere = try simctl(["show", "\(id + 10)", "--db", real])
        #expect(notThere.code == 2)
        #expect(notThere.err.contains("no run \(id + 10) (runs are numbered 1 to \(id))"), "\(notThere.err)")
        let zero = try simctl(["history", "0", "--db", real])
        #expect(zero.code == 2)
        let at = try simctl(["list", "\(id)", "--at", "soon", "--db", real])
        #expect(at.code == 2)
        #expect(at.err.contains("--at soon"))
        let late = try simctl(["list", "\(id)", "--at", "1h", "--db", real])
        #expect(late.code == 2)
        #expect(late.err.contains("the run lasted 6m"))
    }

    @Test("run --html and show --html write one self-contained page; an unwritable path fails before the run")
    func html() throws {
        let db = tmp("html.sqlite"), page = tmp("run.html"), page2 = tmp("show.html")
        let (r, id) = try stored("Scenarios/partition.yml", db: db, extra: ["--html", page, "--set", "duration=4m"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("HTML report written: \(page)"))
        let s = try simctl(["show", "\(id)", "--db", db, "--html", page2])
        #expect(s.code == 0, "\(s.err)")
        let a = try String(contentsOfFile: page, encoding: .utf8), b = try String(contentsOfFile: page2, encoding: .utf8)
        // The page from the store is the page of the run (the run id is known to both).
        #expect(a == b)
        #expect(a.contains("<svg id=\"tl\""))
        let bad = try simctl(["run", "Scenarios/partition.yml", "--db", db, "--html", "/no/such/dir/x.html"])
        #expect(bad.code == 2)
        #expect(bad.err.contains("--html /no/such/dir/x.html: cannot write this file"))
        let count = try simctl(["show", "\(id + 1)", "--db", db])
        #expect(count.code == 2, "the failed run was not stored")
    }

    static var browser: Bool {
        ["chromium", "chromium-browser", "google-chrome"].contains { name in
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
        } && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
    }

    /// In a real browser (CI installs Chromium): the page's script runs without an error, the
    /// screenshot is not blank, a zoomed view renders.
    @Test("the HTML report renders in headless Chromium without script errors", .enabled(if: StoredRunTests.browser))
    func inBrowser() throws {
        let page = tmp("browser.html"), shot = tmp("browser.png")
        let r = try simctl(["run", "Scenarios/etcd-leader-loss.yml", "--no-store", "--html", page])
        #expect(r.code == 0, "\(r.err)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [packageRoot.appendingPathComponent("Tests/Browser/check_html.py").path, page, shot]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
    }
}

@Suite("Stores a user feeds in")
struct ForeignStoreTests {
    @Test("merge and --db refuse another program's SQLite file and a file that is not SQLite: exit 2, the file named, nothing written to it")
    func foreignStores() throws {
        let foreign = tmp("foreign.sqlite"), junk = tmp("junk.sqlite"), into = tmp("into.sqlite")
        let sh = Process()
        sh.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sh.arguments = ["sqlite3", foreign, "create table t(x); insert into t values (1);"]
        try sh.run()
        sh.waitUntilExit()
        try #require(sh.terminationStatus == 0, "sqlite3 is needed for this test")
        try writeFile(junk, String(repeating: "not a database\n", count: 400))
        let a = try simctl(["merge", foreign, "--into", into])
        #expect(a.code == 2 && a.err.contains("\(foreign): an SQLite database, but not a simctl store"), "\(a.err)")
        let b = try simctl(["merge", junk, "--into", into])
        #expect(b.code == 2 && b.err.contains(junk) && b.err.contains("not a database"), "\(b.err)")
        let c = try simctl(["run", "scenarios/partition.yml", "--db", foreign])
        #expect(c.code == 2 && c.err.contains("not a simctl store"))
        // Untouched: still one table.
        let check = Process()
        let pipe = Pipe()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["sqlite3", foreign, ".tables"]
        check.standardOutput = pipe
        try check.run()
        check.waitUntilExit()
        let tables = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines) == "t")
    }
}
