import ArgumentParser
import Foundation
import Store

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine stores (the shards of a sweep, runs from several machines) into one.",
        discussion: """
        Sweeps are matched by their key, so the shards of one sweep become one sweep again; runs already present are skipped, so merging twice changes nothing. Then run the sweep command again with --resume --db INTO to print its table (and run anything still missing).

        Example: simctl merge shard1.sqlite shard2.sqlite --into Reports/simctl.sqlite
        """
    )

    @Argument(help: "Stores to read.")
    var sources: [String]

    @Option(help: "The store to write (created if missing).")
    var into: String

    func run() throws {
        let target = try openStore(into)
        var total = MergeStats()
        for s in sources {
            guard FileManager.default.fileExists(atPath: s) else { throw InputError(message: "\(s): no such store") }
            guard (s as NSString).standardizingPath != (into as NSString).standardizingPath else {
                throw InputError(message: "\(s): cannot merge a store into itself")
            }
            let st: MergeStats
            do { st = try target.merge(from: s) } catch {
                let text = "\(error)"
                throw InputError(message: text.hasPrefix(s) ? text : "\(s): \(text)")
            }
            print("\(s): \(st.runs) run\(st.runs == 1 ? "" : "s") added, \(st.skipped) already present, \(st.sweeps) new sweep\(st.sweeps == 1 ? "" : "s")")
            total.runs += st.runs
            total.skipped += st.skipped
            total.sweeps += st.sweeps
        }
        for sw in try target.allSweeps() {
            let n = try target.storedRuns(sweep: sw.id).count
            print("sweep \(sw.id) \(sw.scenario) (\(sw.scenarioFile), \(sw.seeds) seeds): \(n) runs\(sw.finished == nil ? "" : ", finished \(sw.finished!)")")
        }
        print("\(into): \(try target.runCount()) runs in all")
    }
}
