/// A timer wheel in front of a 4-ary heap, with `EventQueue`'s interface and exactly its pop
/// order: (time, seq).
///
/// Most events are due within half a second (network deliveries, fsyncs, raft ticks, the
/// clients' think times), so they go into one of 16,384 buckets of 32.8 µs each: an insert is
/// a list push, a pop a scan of a bitmap for the next non-empty bucket and of that bucket's few
/// events for the earliest. Events due later (Patroni's loop, TCP's long timers) go to the
/// heap, and the earlier of the two minima is the next event, so nothing ever migrates.
///
/// Invariant (`checkInvariants`): every wheel event's bucket number (`time >> shift`) is in
/// `[cursor, cursor + buckets)`, and `cursor` is at most the bucket of every pending event
/// (events are never scheduled before the last popped one), so a bucket slot holds one bucket
/// number only, and the first non-empty slot from the cursor holds the wheel's minimum.
@frozen public struct WheelQueue<Payload> {
    @usableFromInline static var shift: Int64 { 15 }
    @usableFromInline static var buckets: Int { 1 << 14 }

    /// The wheel's events, by node, each with the next node of its bucket (or of the free list).
    @usableFromInline struct Node {
        @usableFromInline var event: Event<Payload>
        @usableFromInline var next: Int32
        @inlinable init(event: Event<Payload>, next: Int32) { self.event = event; self.next = next }
    }
    @usableFromInline var nodes: ContiguousArray<Node>
    @usableFromInline var freeHead: Int32 = -1
    @usableFromInline var heads: ContiguousArray<Int32>
    @usableFromInline var bits: ContiguousArray<UInt64>
    @usableFromInline var cursor: Int64 = 0
    @usableFromInline var wheelCount = 0
    @usableFromInline var far: EventQueue<Payload>
    /// The wheel's minimum node and its predecessor in the bucket (-1: its head), or -1 when
    /// not known.
    @usableFromInline var minNode: Int32 = -1
    @usableFromInline var minPrev: Int32 = -1

    @inlinable public init(capacity: Int = 1024) {
        nodes = []
        nodes.reserveCapacity(capacity)
        heads = ContiguousArray(repeating: -1, count: Self.buckets)
        bits = ContiguousArray(repeating: 0, count: Self.buckets / 64)
        far = EventQueue(capacity: 64)
    }

    @inlinable public var count: Int { wheelCount + far.count }
    @inlinable public var isEmpty: Bool { count == 0 }

    @inlinable public var min: Event<Payload>? {
        mutating get {
            let w = wheelMin()
            if w < 0 { return far.min }
            let e = nodes[Int(w)].event
            if let f = far.min, f.precedes(e) { return f }
            return e
        }
    }

    @inlinable public mutating func push(_ e: Event<Payload>) {
        let b = e.time >> Self.shift
        guard b &- cursor < Int64(Self.buckets) else {
            far.push(e)
            return
        }
        let slot = Int(b & Int64(Self.buckets - 1))
        let n: Int32
        let head = heads[slot]
        if freeHead >= 0 {
            n = freeHead
            freeHead = nodes[Int(n)].next
            nodes[Int(n)] = Node(event: e, next: head)
        } else {
            n = Int32(nodes.count)
            nodes.append(Node(event: e, next: head))
        }
        heads[slot] = n
        bits[slot >> 6] |= 1 << UInt64(slot & 63)
        wheelCount += 1
        // The known minimum stays it unless the new event precedes it; a new head moves the
        // minimum's predecessor when the minimum was the old head.
        if minNode >= 0 {
            if e.precedes(nodes[Int(minNode)].event) {
                minNode = n
                minPrev = -1
            } else if minPrev == -1 && head == minNode {
                minPrev = n
            }
        }
    }

    @inlinable public mutating func popMin() -> Event<Payload>? {
        let w = wheelMin()
        if w < 0 {
            guard let f = far.popMin() else { return nil }
            cursor = Swift.max(cursor, f.time >> Self.shift)
            return f
        }
        if let f = far.min, f.precedes(nodes[Int(w)].event) {
            _ = far.popMin()
            cursor = Swift.max(cursor, f.time >> Self.shift)
            return f
        }
        return removeWheelMin()
    }

    /// Removes the minimum and inserts `e` (which must not precede the minimum's time).
    @inlinable public mutating func replaceMin(with e: Event<Payload>) -> Event<Payload> {
        let top = popMin()!
        push(e)
        return top
    }

    /// The wheel's earliest node (-1: the wheel is empty), found from the cursor and kept.
    @inlinable mutating func wheelMin() -> Int32 {
        if wheelCount == 0 { return -1 }
        if minNode >= 0 { return minNode }
        var slot = Int(cursor & Int64(Self.buckets - 1))
        var word = slot >> 6
        var w = bits[word] & (~0 << UInt64(slot & 63))
        var scanned = 0
        while w == 0 {
            word = (word + 1) & (Self.buckets / 64 - 1)
            w = bits[word]
            scanned += 1
            precondition(scanned <= Self.buckets / 64, "wheel count and bitmap disagree")
        }
        slot = (word << 6) | w.trailingZeroBitCount
        var best = heads[slot], bestPrev: Int32 = -1
        nodes.withUnsafeBufferPointer { a in
            var prev = best, n = a[Int(best)].next
            while n >= 0 {
                if a[Int(n)].event.precedes(a[Int(best)].event) {
                    best = n
                    bestPrev = prev
                }
                prev = n
                n = a[Int(n)].next
            }
        }
        minNode = best
        minPrev = bestPrev
        return best
    }

    @inlinable mutating func removeWheelMin() -> Event<Payload> {
        let n = minNode
        let e = nodes[Int(n)].event
        let after = nodes[Int(n)].next
        let slot = Int((e.time >> Self.shift) & Int64(Self.buckets - 1))
        if minPrev < 0 { heads[slot] = after } else { nodes[Int(minPrev)].next = after }
        if after < 0 && minPrev < 0 { bits[slot >> 6] &= ~(1 << UInt64(slot & 63)) }
        nodes[Int(n)].next = freeHead
        freeHead = n
        wheelCount -= 1
        minNode = -1
        cursor = e.time >> Self.shift
        return e
    }

    /// The wheel's and the heap's invariants (tests only; O(n)).
    public func checkInvariants() -> Bool {
        var seen = 0
        for slot in 0..<Self.buckets {
            var n = heads[slot]
            let bit = bits[slot >> 6] & (1 << UInt64(slot & 63)) != 0
            if bit != (n >= 0) { return false }
            while n >= 0 {
                let b = nodes[Int(n)].event.time >> Self.shift
                if b < cursor || b - cursor >= Int64(Self.buckets) || Int(b & Int64(Self.buckets - 1)) != slot { return false }
                seen += 1
                n = nodes[Int(n)].next
            }
        }
        if let f = far.min, f.time >> Self.shift < cursor { return false }
        return seen == wheelCount && far.checkInvariants()
    }
}
