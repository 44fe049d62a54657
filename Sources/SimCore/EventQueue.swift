/// One scheduled event: when, the tie-breaking insertion number, the process it is addressed to
/// (with the incarnation it was addressed to), and the model's payload.
@frozen public struct Event<Payload> {
    public var time: Nanos
    public var seq: UInt64
    public var target: UInt32
    public var incarnation: UInt32
    public var payload: Payload

    @inlinable public init(time: Nanos, seq: UInt64, target: UInt32, incarnation: UInt32, payload: Payload) {
        self.time = time
        self.seq = seq
        self.target = target
        self.incarnation = incarnation
        self.payload = payload
    }

    /// Total order: time, then insertion sequence. With unique sequence numbers this is a
    /// strict total order, so the pop order never depends on the heap's shape.
    @inlinable public func precedes(_ o: Event) -> Bool {
        time != o.time ? time < o.time : seq < o.seq
    }
}

/// A 4-ary min-heap of events ordered by (time, seq), on a contiguous array.
///
/// A 4-ary heap halves the tree depth of a binary heap and keeps a node's children on one or
/// two cache lines; with `replaceMin` (pop and push fused into one sift-down) it measured
/// fastest on this machine (../shared/reference/swift-stack.md §2: ~100 ns per event against
/// ~140 ns for swift-collections' `Heap`).
///
/// - Complexity: `push`, `popMin` and `replaceMin` are O(log₄ n); `min` is O(1).
/// Deliberately not a `Sequence`: nothing may depend on the heap's internal order.
@frozen public struct EventQueue<Payload> {
    @usableFromInline var items: ContiguousArray<Event<Payload>>

    @inlinable public init(capacity: Int = 1024) {
        items = []
        items.reserveCapacity(capacity)
    }

    @inlinable public var count: Int { items.count }
    @inlinable public var isEmpty: Bool { items.isEmpty }
    @inlinable public var min: Event<Payload>? { items.first }

    @inlinable public mutating func push(_ e: Event<Payload>) {
        items.append(e)
        siftUp(items.count - 1)
    }

    @inlinable public mutating func popMin() -> Event<Payload>? {
        guard let last = items.popLast() else { return nil }
        if items.isEmpty { return last }
        let top = items[0]
        items[0] = last
        siftDown(0)
        return top
    }

    /// Removes the minimum and inserts `e` in one sift. `e` must not precede the current
    /// minimum's time (an event is never scheduled in the past).
    @inlinable public mutating func replaceMin(with e: Event<Payload>) -> Event<Payload> {
        precondition(!items.isEmpty)
        let top = items[0]
        items[0] = e
        siftDown(0)
        return top
    }

    @inlinable mutating func siftUp(_ start: Int) {
        items.withUnsafeMutableBufferPointer { a in
            var i = start
            let x = a[i]
            while i > 0 {
                let parent = (i - 1) >> 2
                if !x.precedes(a[parent]) { break }
                a[i] = a[parent]
                i = parent
            }
            a[i] = x
        }
    }

    @inlinable mutating func siftDown(_ start: Int) {
        items.withUnsafeMutableBufferPointer { a in
            let n = a.count
            var i = start
            let x = a[i]
            while true {
                let first = (i << 2) + 1
                if first >= n { break }
                var best = first
                let end = Swift.min(first + 4, n)
                var c = first + 1
                while c < end {
                    if a[c].precedes(a[best]) { best = c }
                    c += 1
                }
                if !a[best].precedes(x) { break }
                a[i] = a[best]
                i = best
            }
            a[i] = x
        }
    }

    /// Checks the heap property everywhere (tests only; O(n)).
    public func checkInvariants() -> Bool {
        for i in 1..<Swift.max(items.count, 1) where i < items.count {
            if items[i].precedes(items[(i - 1) >> 2]) { return false }
        }
        return true
    }
}
