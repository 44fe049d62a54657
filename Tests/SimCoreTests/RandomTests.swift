import Testing
@testable import SimCore

@Suite("Seeded random streams")
struct RandomTests {
    @Test("SplitMix64 matches the reference vector")
    func splitMixVector() {
        var sm = SplitMix64(seed: 0)
        #expect(sm.next() == 0xE220_A839_7B1D_CDAF)
        #expect(sm.next() == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test("same seed, same stream; different seed, different stream")
    func reproducible() {
        var a = Rng(seed: 42), b = Rng(seed: 42), c = Rng(seed: 43)
        let xa = (0..<100).map { _ in a.next() }
        let xb = (0..<100).map { _ in b.next() }
        let xc = (0..<100).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test("named streams are independent: drawing from one does not shift another")
    func independence() {
        let streams = RandomStreams(seed: 9)
        var net1 = streams.stream("net")
        let expected = (0..<50).map { _ in net1.next() }
        // Another component draws heavily first; the network stream is unaffected.
        var workload = streams.stream("workload")
        for _ in 0..<10_000 { _ = workload.next() }
        var net2 = streams.stream("net")
        #expect((0..<50).map { _ in net2.next() } == expected)
        // And distinct names give distinct sequences.
        var host = streams.stream("host/db1")
        #expect((0..<50).map { _ in host.next() } != expected)
    }

    @Test("bounded draws stay in range and cover it evenly")
    func bounded() {
        var r = Rng(seed: 1)
        var counts = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 {
            let v = r.below(10)
            #expect(v < 10)
            counts[Int(v)] += 1
        }
        for c in counts { #expect(c > 9_500 && c < 10_500) }
        for _ in 0..<1000 {
            let v = r.int(-3, 3)
            #expect(v >= -3 && v <= 3)
            let u = r.unit()
            #expect(u >= 0 && u < 1)
        }
    }

    @Test("exponential and normal samplers have the right moments")
    func moments() {
        var r = Rng(seed: 5)
        let n = 200_000
        var sumE = 0.0, sumN = 0.0, sumN2 = 0.0
        for _ in 0..<n {
            sumE += r.exponential(mean: 2.0)
            let z = r.normal()
            sumN += z
            sumN2 += z * z
        }
        #expect(abs(sumE / Double(n) - 2.0) < 0.03)
        #expect(abs(sumN / Double(n)) < 0.01)
        #expect(abs(sumN2 / Double(n) - 1.0) < 0.02)
    }

    @Test("shuffle is a permutation and depends only on the seed")
    func shuffle() {
        var a = Array(0..<20), b = Array(0..<20)
        var r1 = Rng(seed: 3), r2 = Rng(seed: 3)
        r1.shuffle(&a)
        r2.shuffle(&b)
        #expect(a == b)
        #expect(a.sorted() == Array(0..<20))
        #expect(a != Array(0..<20))
    }
}
