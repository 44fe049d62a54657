import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// simctl: a deterministic simulator of Patroni-managed PostgreSQL clusters.
struct Simctl: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "simctl",
        abstract: "Simulate a Patroni / etcd / PostgreSQL / HAProxy cluster under faults and score RTO, RPO and split brain.",
        version: version,
        subcommands: [RunCommand.self, ImportCommand.self, ShowCommand.self, ListCommand.self, HistoryCommand.self, ValidateCommand.self, SweepCommand.self, CheckCommand.self, ExploreCommand.self,
                      MergeCommand.self, BenchCommand.self, SelfCheckCommand.self]
    )
}

/// Exit codes: 0 every expectation held; 1 an expectation failed; 2 bad input (a bad scenario,
/// a bad argument, an unusable path). ArgumentParser's own usage errors (64) become 2.
@main
enum Main {
    static func main() {
        Signals.install()
        do {
            var command = try Simctl.parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch let e as InputError {
            printErr(e.message)
            exit(2)
        } catch {
            let code = Simctl.exitCode(for: error)
            if code == .success {
                Simctl.exit(withError: error)
            }
            printErr(Simctl.fullMessage(for: error))
            exit(2)
        }
    }
}

/// Bad input that is not a scenario diagnostic: a missing file, an unusable --db path.
struct InputError: Error {
    var message: String
}

func printErr(_ s: String) {
    var text = s
    if !text.hasSuffix("\n") { text += "\n" }
    // Glibc's `stderr` is a global var Swift 6 will not touch; fd 2 is the same stream.
    _ = text.withCString { write(2, $0, strlen($0)) }
}
