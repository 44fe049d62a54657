import SimCore
import Recording
import Scenario

/// The world's side of each model's lifecycle: creation, start, crash, graceful stop, lost disk.
extension Simulation {
    func addModel(_ svc: Service, host: Int, proc: UInt32) -> Int { 0 }

    func modelStart(_ p: UInt32, initial: Bool) {
        if pendingRestart.contains(p) { pendingRestart.remove(p) }
    }

    /// Crash or kill: the model drops what it kept in memory.
    func modelCrash(_ p: UInt32) {}

    /// Begins a graceful stop. Returns false when the model has nothing to do (exits at once).
    func modelGracefulStop(_ p: UInt32) -> Bool { false }

    func modelStopped(_ p: UInt32) {
        if pendingRestart.contains(p) {
            pendingRestart.remove(p)
            if hosts[host(of: p)].up { startProcess(p, initial: false) }
        }
    }

    func modelLoseDisk(_ p: UInt32) {}
    func modelSetFsync(_ p: UInt32, _ lat: Latency) -> Latency? { nil }
    func modelResumed(_ p: UInt32) {}

    /// Operator actions (switchover, failover, pause, edit_config, reinit, etcd membership).
    /// Returns what it acted on, or nil when nothing could act.
    func operatorAction(_ a: FaultAction) -> String? { nil }

    func resolveRole(_ r: Role) -> Int? { nil }

    func finish() {}

    func finalPgStates() -> [FinalPgState] { [] }
}
