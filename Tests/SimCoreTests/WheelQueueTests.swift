import Testing
import SimCore

@Suite("WheelQueue")
struct WheelQueueTests {
    /// Random schedules as a simulation makes them (never before the last popped event):
    /// bursts at one instant, microseconds to hours ahead, pops and pushes interleaved.
    @Test("pops exactly the heap's order, over many random schedules", arguments: 0..<12)
    func sameOrder(seed: UInt64) {
        var rng = Rng(seed: seed)
        var heap = EventQueue<UInt32>(capacity: 16)
        var wheel = WheelQueue<UInt32>(capacity: 16)
        var now: Nanos = 0, seq: UInt64 = 0
        func push(_ delay: Nanos) {
            let e = Event(time: now + delay, seq: seq, target: UInt32(seq % 7), incarnation: 0, payload: UInt32(truncatingIfNeeded: seq))
            seq += 1
            heap.push(e)
            wheel.push(e)
        }
        for step in 0..<20_000 {
            let r = rng.below(100)
            if r < 45 || heap.isEmpty {
                let scale: [Nanos] = [0, 1_000, 30_000, 1_000_000, 300_000_000, 600_000_000, 20_000_000_000, 3_600_000_000_000]
                let s = scale[Int(rng.below(UInt64(scale.count)))]
                push(s == 0 ? 0 : Nanos(rng.below(UInt64(s))))
            } else if r < 55 {
                for _ in 0..<Int(rng.below(20)) { push(Nanos(rng.below(50_000))) }
            } else if r < 65, let m = heap.min {
                // The kernel's fused pop-and-push.
                now = m.time
                let e = Event(time: now + Nanos(rng.below(10_000_000)), seq: seq, target: 0, incarnation: 0, payload: UInt32(truncatingIfNeeded: seq))
                seq += 1
                let a = heap.replaceMin(with: e), b = wheel.replaceMin(with: e)
                #expect(a.seq == b.seq, "seed \(seed) step \(step)")
            } else {
                #expect(wheel.min?.seq == heap.min?.seq, "seed \(seed) step \(step)")
                let a = heap.popMin(), b = wheel.popMin()
                #expect(a?.seq == b?.seq && a?.time == b?.time, "seed \(seed) step \(step)")
                if let a { now = a.time }
            }
            #expect(wheel.count == heap.count)
            if step % 997 == 0 { #expect(wheel.checkInvariants(), "seed \(seed) step \(step)") }
        }
        while let a = heap.popMin() { #expect(wheel.popMin()?.seq == a.seq) }
        #expect(wheel.isEmpty && wheel.checkInvariants())
    }
}
