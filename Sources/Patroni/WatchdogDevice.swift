import SimCore
import Recording

/// What a host's watchdog device needs from the world.
public protocol WatchdogEnv: AnyObject {
    var now: Nanos { get }
    var recorder: Recorder { get }
    /// The device's expiry timer; its token cancels it while pending.
    func watchdogTimer(host: Int, after: Nanos) -> TimerToken
    func watchdogCancel(_ t: TimerToken)
}

/// A host's watchdog device (`/dev/watchdog`, softdog or a hardware timer): armed with a
/// timeout, pinged, disarmed; a ping that does not come in time resets the host.
///
/// Patroni drives it (`patroni/watchdog/base.py`: `Watchdog.activate`, `keepalive`,
/// `disable`). The device lives in the host's kernel, not in Patroni: a Patroni that crashes or
/// freezes leaves it armed (that is the point), and a host without power runs no watchdog.
public struct WatchdogDevice: Sendable {
    public let host: Int
    let hostName: String
    /// The machine has a usable device (`/dev/watchdog` opens).
    public let present: Bool
    public private(set) var armed = false
    public private(set) var timeoutNs: Nanos = 0
    /// When the host resets unless a ping comes first.
    public private(set) var deadline: Nanos = 0
    /// The pending expiry: each ping cancels it and sets a new one.
    var expiry = TimerToken.none

    public init(host: Int, hostName: String, present: Bool) {
        self.host = host
        self.hostName = hostName
        self.present = present
    }

    /// Opens and arms the device with `timeoutS` (Patroni: `ttl - safety_margin`); false when
    /// the host has no usable device.
    public mutating func activate(timeoutS: Int, _ env: WatchdogEnv) -> Bool {
        guard present else { return false }
        armed = true
        timeoutNs = Nanos(timeoutS) * Time.s
        env.recorder.log(env.now, hostName, "watchdog", "watchdog_armed", .object([("timeout_s", .int(Int64(timeoutS)))]))
        keepalive(env)
        return true
    }

    /// A ping: the deadline moves to now + timeout.
    public mutating func keepalive(_ env: WatchdogEnv) {
        guard armed else { return }
        env.watchdogCancel(expiry)
        deadline = env.now + timeoutNs
        expiry = env.watchdogTimer(host: host, after: timeoutNs)
    }

    /// `WDIOC_SETTIMEOUT` on the armed device: the new timeout, and a ping (Linux
    /// `watchdog_dev.c` pings after setting it, so the new timeout counts from now).
    public mutating func setTimeout(_ timeoutS: Int, _ env: WatchdogEnv) {
        guard armed else { return }
        timeoutNs = Nanos(timeoutS) * Time.s
        env.recorder.log(env.now, hostName, "watchdog", "watchdog_timeout_set", .object([("timeout_s", .int(Int64(timeoutS)))]))
        keepalive(env)
    }

    /// Closing the device with the magic character disarms it.
    public mutating func disable(_ env: WatchdogEnv) {
        if armed { env.recorder.log(env.now, hostName, "watchdog", "watchdog_disarmed") }
        armed = false
        env.watchdogCancel(expiry)
        expiry = .none
    }

    /// The expiry timer fired. True: no ping came within the timeout, and the device resets
    /// the host (the world power-cycles it).
    public mutating func expired(_ env: WatchdogEnv) -> Bool {
        expiry = .none
        guard armed, env.now >= deadline else { return false }
        armed = false
        env.recorder.log(env.now, hostName, "watchdog", Kind.watchdogReset, .object([("why", "no keepalive within the watchdog timeout")]))
        return true
    }

    /// The host lost power: the device stops with it, and comes back disarmed.
    public mutating func powerLost(_ env: WatchdogEnv) {
        env.watchdogCancel(expiry)
        expiry = .none
        armed = false
    }
}
