#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM, caught so that simctl stops cleanly: no new run starts, the runs in
/// flight end early and are dropped, and everything already stored stays (each run is one
/// transaction). A non-interactive shell starts background jobs with SIGINT ignored; installing
/// a handler explicitly makes `kill -INT` and Ctrl-C work there too. A second signal exits at
/// once (nothing is half-written: SQLite rolls back an unfinished transaction).
enum Signals {
    /// The signal received (0: none). Written by the handler, read by the runs' polls.
    nonisolated(unsafe) static var received: Int32 = 0

    static func install() {
        let handler: @convention(c) (Int32) -> Void = { sig in
            if Signals.received != 0 { _exit(128 + sig) }
            Signals.received = sig
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A parent may have started us with these signals blocked (a test runner's thread, a
        // supervisor): unblock them, or the handler never runs.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static var interrupted: Bool { received != 0 }

    /// 130 for SIGINT, 143 for SIGTERM (128 + the signal, as shells report it).
    static var exitCode: Int32 { 128 + received }

    static var name: String { received == SIGTERM ? "SIGTERM" : "SIGINT" }
}

/// The poll the runs use.
let interruptRequested: @Sendable () -> Bool = { Signals.interrupted }
