/// A running 64-bit hash over every processed event (time, target, and a key the model derives
/// from the payload). Two runs with the same scenario, seed and simctl version must end with
/// the same value in any process; a difference means the runs diverged somewhere.
@frozen public struct TraceHash: Sendable, Equatable {
    public var value: UInt64

    @inlinable public init() { value = 0x6A09_E667_F3BC_C909 }

    /// Mixes one 64-bit word (a multiply–rotate–multiply step in the style of Murmur3's 64-bit
    /// block mix, then a running combine).
    @inlinable public mutating func mix(_ x: UInt64) {
        var k = x &* 0x87C3_7B91_1142_53D5
        k = (k << 31) | (k >> 33)
        k &*= 0x4CF5_AD43_2745_937F
        value ^= k
        value = ((value << 27) | (value >> 37)) &* 5 &+ 0x52DC_E729
    }

    /// The printed form: 16 lower-case hex digits.
    public var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
