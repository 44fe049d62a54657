import Testing
import SimCore
import Recording
@testable import Patroni

/// A host's watchdog device on its own: arm, ping, disarm, expire (`patroni/watchdog/base.py`).
@Suite("Watchdog device")
struct WatchdogDeviceTests {
    final class Env: WatchdogEnv {
        var now: Nanos = 0
        let recorder = Recorder()
        var pending: [(at: Nanos, seq: UInt64)] = []
        var seq: UInt64 = 0
        func watchdogTimer(host: Int, after: Nanos) -> TimerToken {
            seq += 1
            pending.append((now + after, seq))
            return TimerToken(seq: seq)
        }
        func watchdogCancel(_ t: TimerToken) { pending.removeAll { $0.seq == t.seq } }
    }

    @Test("armed with ttl − safety_margin, each ping moves the deadline and replaces the pending expiry; a missed ping resets the host once")
    func pingAndExpire() {
        let env = Env()
        var dev = WatchdogDevice(host: 0, hostName: "db1", present: true)
        let armed = dev.activate(timeoutS: 25, env)
        #expect(armed)
        #expect(env.pending.count == 1 && env.pending[0].at == 25 * Time.s)
        env.now = 10 * Time.s
        dev.keepalive(env)
        #expect(env.pending.count == 1 && env.pending[0].at == 35 * Time.s)
        // The expiry fires at its deadline: the host is reset, and the device is disarmed.
        env.now = 35 * Time.s
        env.pending.removeAll()
        let reset = dev.expired(env)
        #expect(reset && !dev.armed)
        #expect(env.recorder.timeline.contains { $0.kind == Kind.watchdogReset })
        let again = dev.expired(env)
        #expect(!again)
    }

    @Test("no device: activation fails (Patroni's 'required' mode then refuses the leader lock); disarmed or powered off, nothing fires")
    func absentAndDisarmed() {
        let env = Env()
        var none = WatchdogDevice(host: 0, hostName: "db1", present: false)
        let noDevice = none.activate(timeoutS: 25, env)
        #expect(!noDevice)
        #expect(env.pending.isEmpty)
        var dev = WatchdogDevice(host: 1, hostName: "db2", present: true)
        _ = dev.activate(timeoutS: 25, env)
        dev.disable(env)
        #expect(env.pending.isEmpty && !dev.armed)
        _ = dev.activate(timeoutS: 25, env)
        dev.powerLost(env)
        #expect(env.pending.isEmpty && !dev.armed)
        env.now = 60 * Time.s
        let fired = dev.expired(env)
        #expect(!fired)
    }
}
