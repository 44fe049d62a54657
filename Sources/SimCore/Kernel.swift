/// A scheduled event's identity, to cancel it while it is pending (`Kernel.cancel`): the
/// kernel's own token instead of a generation counter kept by hand in every model.
@frozen public struct TimerToken: Hashable, Sendable {
    public let seq: UInt64
    @inlinable public init(seq: UInt64) { self.seq = seq }
    public static let none = TimerToken(seq: .max)
}

/// A process's lifecycle state as the kernel sees it.
public enum ProcessStatus: UInt8, Sendable, Equatable {
    /// Handles its events as they come.
    case running
    /// SIGSTOP, a VM pause, a long GC: nothing it is sent and none of its timers are handled;
    /// they wait, in order, until it is resumed. Its memory and sockets are kept.
    case paused
    /// Crashed, killed or stopped: every event addressed to it is dropped.
    case down
}

/// Receives the kernel's events. The simulation (the cluster world) implements this with one
/// `switch` over its payload enum: no closures, classes or existentials per event.
public protocol EventHandler {
    associatedtype Payload
    mutating func handle(_ event: Event<Payload>, kernel: Kernel<Payload>)
    /// A 64-bit summary of the payload for the trace hash.
    func traceKey(_ payload: Payload) -> UInt64
}

/// The discrete-event kernel: virtual clock, event queue, process lifecycles, trace hash.
///
/// Like swift-nio's `EmbeddedEventLoop`, it runs everything on the caller's thread in virtual
/// time: `now` is set to an event's time before the handler runs, and events due at the same
/// instant run in the order they were scheduled. It is not thread-safe; a sweep runs many
/// kernels in parallel, one per run, never one kernel on several threads.
///
/// Processes are small integer ids. An event addressed to a process carries the process's
/// incarnation at scheduling time; a crash or (re)start bumps the incarnation, so timers and
/// messages meant for an earlier life are dropped. Events addressed to a paused process are
/// parked and re-queued, in order, when it resumes.
public final class Kernel<Payload> {
    /// The target of events addressed to no process (scenario faults, bookkeeping).
    public static var world: UInt32 { UInt32.max }

    @usableFromInline var _now: Nanos = 0
    @inlinable public var now: Nanos { _now }
    @usableFromInline var queue: WheelQueue<Payload>
    @usableFromInline var nextSeq: UInt64 = 0
    /// True while the handler runs on the queue's minimum, which has not been removed yet:
    /// the first event the handler schedules then replaces it in one sift (fused pop+push).
    @usableFromInline var pendingPop = false
    @usableFromInline var _processed: UInt64 = 0
    @inlinable public var processed: UInt64 { _processed }
    public var trace = TraceHash()

    @usableFromInline var status: [ProcessStatus] = []
    @usableFromInline var incarnation: [UInt32] = []
    @usableFromInline var parked: [[Event<Payload>]] = []
    @usableFromInline var _hostOf: [UInt32] = []
    @inlinable public func host(of p: UInt32) -> UInt32 { _hostOf[Int(p)] }

    /// Upper bound on parked events per process: a process paused for hours while peers keep
    /// sending would otherwise grow without limit. Beyond it the oldest are dropped (its
    /// sockets' buffers would have filled and the peers' sends would have failed).
    public var parkedLimit = 100_000

    public init(capacity: Int = 4096) {
        queue = WheelQueue(capacity: capacity)
    }

    // MARK: - Processes

    /// Registers a process on `host`; it starts `down` until `start` is called.
    public func spawn(host: UInt32) -> UInt32 {
        status.append(.down)
        incarnation.append(0)
        parked.append([])
        _hostOf.append(host)
        return UInt32(status.count - 1)
    }

    public var processCount: Int { status.count }
    @inlinable public func status(of p: UInt32) -> ProcessStatus { status[Int(p)] }
    @inlinable public func incarnation(of p: UInt32) -> UInt32 { incarnation[Int(p)] }

    /// Starts (or restarts) a process: a new incarnation, so nothing addressed to its previous
    /// life is delivered.
    public func start(_ p: UInt32) {
        incarnation[Int(p)] &+= 1
        parked[Int(p)].removeAll()
        status[Int(p)] = .running
    }

    /// Crash, kill or stop: its pending timers and undelivered messages are gone.
    public func stop(_ p: UInt32) {
        incarnation[Int(p)] &+= 1
        parked[Int(p)].removeAll()
        status[Int(p)] = .down
    }

    public func pause(_ p: UInt32) {
        if status[Int(p)] == .running { status[Int(p)] = .paused }
    }

    /// Resumes a paused process: what waited is handled now, in its original order.
    public func resume(_ p: UInt32) {
        guard status[Int(p)] == .paused else { return }
        status[Int(p)] = .running
        let waiting = parked[Int(p)]
        parked[Int(p)].removeAll(keepingCapacity: true)
        for var e in waiting {
            if anyCancelled, takeCancelled(e.seq) { continue }
            e.time = now
            e.seq = nextSeq
            nextSeq &+= 1
            insert(e)
        }
    }

    public func parkedCount(_ p: UInt32) -> Int { parked[Int(p)].count }

    /// Up to `limit` of the earliest pending events, in order, without running them (for the
    /// message that names what a stalled run was doing).
    public func peekEarliest(_ limit: Int) -> [Event<Payload>] {
        var copy = queue
        var out: [Event<Payload>] = []
        while out.count < limit, let e = copy.popMin() { out.append(e) }
        return out
    }

    // MARK: - Scheduling

    /// Schedules `payload` for process `target` at `time` (never earlier than `now`). The
    /// token cancels it (`cancel`) while it is pending.
    @inlinable @discardableResult
    public func schedule(at time: Nanos, to target: UInt32, _ payload: Payload) -> TimerToken {
        precondition(time >= now, "event scheduled in the past")
        let inc = target == Kernel.world ? 0 : incarnation[Int(target)]
        let e = Event(time: time, seq: nextSeq, target: target, incarnation: inc, payload: payload)
        nextSeq &+= 1
        insert(e)
        return TimerToken(seq: e.seq)
    }

    @inlinable @discardableResult
    public func schedule(after delay: Nanos, to target: UInt32, _ payload: Payload) -> TimerToken {
        schedule(at: now &+ Swift.max(0, delay), to: target, payload)
    }

    /// Cancels a pending event: it is dropped when it comes up, unprocessed and out of the
    /// trace. A token whose event already ran (or `.none`) must not be cancelled: the caller
    /// forgets a token when its event arrives.
    public func cancel(_ t: TimerToken) {
        guard t != .none, t.seq < nextSeq else { return }
        cancelled.insert(t.seq)
        anyCancelled = true
    }

    /// Events cancelled but not yet reached (a set: only membership is asked, never order).
    @usableFromInline var cancelled: Set<UInt64> = []
    /// `!cancelled.isEmpty`, as a plain flag: the run loop asks it for every event.
    @usableFromInline var anyCancelled = false

    @inlinable func takeCancelled(_ seq: UInt64) -> Bool {
        guard cancelled.remove(seq) != nil else { return false }
        if cancelled.isEmpty { anyCancelled = false }
        return true
    }

    @inlinable func insert(_ e: Event<Payload>) {
        if pendingPop {
            pendingPop = false
            _ = queue.replaceMin(with: e)
        } else {
            queue.push(e)
        }
    }

    public var pendingEvents: Int { queue.count }

    // MARK: - Running

    public enum StopReason: Equatable, Sendable {
        case reachedEnd, queueEmpty, eventLimit
        /// Virtual time stopped advancing: `stallEvents` events ran within `stallWindowNs` of
        /// virtual time (a model that reschedules itself at ever shorter intervals).
        case stalled
        /// More than `queueLimit` events were pending at once (a message storm).
        case queueLimit
        /// `shouldStop` said so (the user interrupted simctl).
        case interrupted
    }

    /// Asked at each stall checkpoint (every `stallEvents` events): true ends the run.
    public var shouldStop: (() -> Bool)? = nil

    /// Livelock guard: every `stallEvents` processed events, virtual time must have advanced by
    /// at least `stallWindowNs`. The busiest real cluster simulated here makes about 10⁵
    /// events per simulated second; ten million per second is a model that reschedules itself
    /// at ever shorter intervals, which would otherwise spin until memory runs out.
    public var stallEvents: UInt64 = 1 << 20
    public var stallWindowNs: Nanos = 100 * Time.ms
    /// Bound on pending events (each is ~100 bytes: 20 M is ~2 GB).
    public var queueLimit = 8_000_000

    /// Runs events with `time <= end`, then leaves the clock at `end`. `maxEvents` bounds the
    /// loop (a model bug that schedules without end must not hang a sweep); the stall and
    /// queue guards end a livelocked run with a reason instead of exhausting memory.
    @inlinable @discardableResult
    public func run<H: EventHandler>(until end: Nanos, maxEvents: UInt64 = .max, handler: inout H) -> StopReason
    where H.Payload == Payload {
        var budget = maxEvents
        var untilCheck = stallEvents
        var checkpoint = _now
        while let top = queue.min {
            if top.time > end { _now = end; return .reachedEnd }
            if anyCancelled, takeCancelled(top.seq) {
                _ = queue.popMin()
                continue
            }
            if budget == 0 { return .eventLimit }
            if untilCheck == 0 {
                if top.time - checkpoint < stallWindowNs { return .stalled }
                if queue.count > queueLimit { return .queueLimit }
                if let stop = shouldStop, stop() { return .interrupted }
                checkpoint = top.time
                untilCheck = stallEvents
            }
            _now = top.time
            if top.target != Kernel.world {
                let p = Int(top.target)
                if incarnation[p] != top.incarnation {
                    _ = queue.popMin()
                    continue
                }
                switch status[p] {
                case .running: break
                case .down:
                    _ = queue.popMin()
                    continue
                case .paused:
                    let e = queue.popMin()!
                    if parked[p].count >= parkedLimit { parked[p].removeFirst() }
                    parked[p].append(e)
                    continue
                }
            }
            budget -= 1
            untilCheck -= 1
            _processed &+= 1
            trace.mix(UInt64(bitPattern: top.time))
            trace.mix(handler.traceKey(top.payload) ^ (UInt64(top.target) << 40))
            pendingPop = true
            handler.handle(top, kernel: self)
            if pendingPop {
                pendingPop = false
                _ = queue.popMin()
            }
        }
        _now = Swift.max(_now, end)
        return .queueEmpty
    }
}
