/// Seeded randomness. simctl never uses the standard library's `random(in:using:)`: its
/// algorithm may change between Swift releases, which would silently change every seed's
/// outcome. Everything here is fixed: SplitMix64 for seeding, xoshiro256** for draws,
/// Lemire's multiply-shift for bounded integers.

/// SplitMix64 (Steele, Lea, Flood 2014). Used to expand seeds; reference vector: seed 0 gives
/// 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4.
public struct SplitMix64: Sendable {
    public var state: UInt64
    @inlinable public init(seed: UInt64) { state = seed }
    @inlinable public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman, Vigna 2018): the generator behind every stream.
@frozen public struct Rng: Sendable {
    public var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    @inlinable public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }  // the all-zero state is a fixed point
    }

    @inlinable public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inlinable func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform integer in `0..<bound` (Lemire 2019, unbiased). `bound` must be positive.
    @inlinable public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0, "below(0)")
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// Uniform integer in `lo...hi`.
    @inlinable public mutating func int(_ lo: Int64, _ hi: Int64) -> Int64 {
        precondition(hi >= lo)
        return lo &+ Int64(bitPattern: below(UInt64(bitPattern: hi &- lo) &+ 1))
    }

    /// Uniform double in [0, 1) with 53 random bits.
    @inlinable public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// True with probability `p`.
    @inlinable public mutating func chance(_ p: Double) -> Bool { p > 0 && unit() < p }

    /// Exponential with the given mean (inverse transform).
    @inlinable public mutating func exponential(mean: Double) -> Double { -mean * log1mExact(unit()) }

    /// Standard normal (the ziggurat method; the layer and the value come from separate bits of
    /// one 64-bit draw, avoiding the original's correlation between them). Deterministic for a
    /// given stream.
    @inlinable public mutating func normal() -> Double {
        let z = ziggurat
        while true {
            let bits = next()
            let hz = Int32(truncatingIfNeeded: bits >> 32)
            let iz = Int(bits & 127)
            let x = Double(hz) * z.wn[iz]
            if hz.magnitude < z.kn[iz] { return x }
            if iz == 0 {
                // The base layer's tail beyond r: Marsaglia's exponential rejection.
                var t: Double, y: Double
                repeat {
                    t = -log1mExact(unit()) / ZigguratTables.r
                    y = -log1mExact(unit())
                } while y + y < t * t
                return hz > 0 ? ZigguratTables.r + t : -ZigguratTables.r - t
            }
            if z.fn[iz] + unit() * (z.fn[iz - 1] - z.fn[iz]) < expExact(-0.5 * x * x) { return x }
        }
    }

    /// Fisher–Yates with our own bounded draw (never `shuffled(using:)`).
    @inlinable public mutating func shuffle<T>(_ a: inout [T]) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(below(UInt64(i + 1)))
            a.swapAt(i, j)
        }
    }
}

/// Independent named streams derived from one run seed, so that adding a draw in one component
/// does not shift any other component's draws. `stream("net")`, `stream("host/db1")`,
/// `stream("workload")`, `stream("faults")`.
public struct RandomStreams: Sendable {
    public let seed: UInt64
    public init(seed: UInt64) { self.seed = seed }

    public func stream(_ name: String) -> Rng {
        Rng(seed: seed ^ Self.fnv1a(name) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A seed for a family of streams under `name` (the network's per-pair streams).
    public func subseed(_ name: String) -> UInt64 {
        var r = stream(name)
        return r.next()
    }

    /// FNV-1a over UTF-8: stable across processes (unlike `Hasher`).
    public static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
