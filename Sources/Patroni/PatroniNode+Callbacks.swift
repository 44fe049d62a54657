import SimCore
import Settings
import Recording

/// A callback script in flight: what was called, with which role, and when it will exit.
struct RunningCallback: Sendable {
    var callback: PatroniConfig.Callback
    var role: String
    var seq: UInt32
    var started: Nanos
    var timer: TimerToken
}

extension PatroniNode {
    /// `Postgresql.call_nowait` → `CallbackExecutor.call` (patroni/postgresql/callback_executor.py):
    /// the script runs without the HA loop waiting for it, one at a time; a call while the
    /// previous script still runs kills it first ("Killed %s because it was still running",
    /// `CancellableSubprocess._kill_process`). on_reload has its own executor, so it neither
    /// kills nor is killed by the others. Patroni never reads the exit code: it is recorded.
    mutating func runCallback(_ a: PatroniConfig.Callback.Action, role: String, _ env: PatroniEnv) {
        guard let cb = config.callback(a, host: name) else { return }
        let reload = a == .onReload
        if let prev = reload ? runningReloadCallback : runningCallback {
            env.patroniCancel(prev.timer)
            log(env, "callback_killed", .object([("callback", .string(prev.callback.action.rawValue)), ("role", .string(prev.role)),
                                                  ("msg", .string("Killed \(commandLine(prev)) because it was still running")),
                                                  ("ran_s", .double(Time.seconds(env.now - prev.started)))]))
        }
        callbackSeq &+= 1
        let t = env.patroniTimer(node, after: cb.durationNs, .callbackExited(reload: reload, seq: callbackSeq))
        let run = RunningCallback(callback: cb, role: role, seq: callbackSeq, started: env.now, timer: t)
        if reload { runningReloadCallback = run } else { runningCallback = run }
    }

    mutating func callbackExited(reload: Bool, seq: UInt32, _ env: PatroniEnv) {
        guard let run = reload ? runningReloadCallback : runningCallback, run.seq == seq else { return }
        if reload { runningReloadCallback = nil } else { runningCallback = nil }
        log(env, "callback_exited", .object([("callback", .string(run.callback.action.rawValue)), ("role", .string(run.role)),
                                              ("exit_code", .int(Int64(run.callback.exitCode))),
                                              ("ran_s", .double(Time.seconds(env.now - run.started)))]))
    }

    /// The role a callback is given (`call_nowait`: promoted counts as primary).
    var callbackRole: String { role == .promoted ? "primary" : role.rawValue }

    /// The command as Patroni logs it: `shlex.split(cmd) + [action, role, scope]`, a Python list.
    func commandLine(_ run: RunningCallback) -> String {
        let parts = run.callback.command.split(separator: " ").map(String.init) + [run.callback.action.rawValue, run.role, config.scope]
        return "[" + parts.map { "'\($0)'" }.joined(separator: ", ") + "]"
    }
}
