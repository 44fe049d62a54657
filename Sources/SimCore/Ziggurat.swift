/// Tables for Marsaglia & Tsang's ziggurat normal sampler ("The Ziggurat Method for Generating
/// Random Variables", J. Stat. Softw. 5(8), 2000), 128 layers. Exact, like the polar method it
/// replaced, but without a logarithm on 98% of draws: network and fsync latencies draw one
/// normal per message, so this is on the simulation's hot path.
public struct ZigguratTables: Sendable {
    public let kn: [UInt32]
    public let wn: [Double]
    public let fn: [Double]
    public static let r = 3.442619855899

    public init() {
        let m1 = 2147483648.0
        var dn = Self.r, tn = dn
        let vn = 9.91256303526217e-3
        let q = vn / expExact(-0.5 * dn * dn)
        var kn = [UInt32](repeating: 0, count: 128)
        var wn = [Double](repeating: 0, count: 128)
        var fn = [Double](repeating: 0, count: 128)
        kn[0] = UInt32((dn / q) * m1)
        kn[1] = 0
        wn[0] = q / m1
        wn[127] = dn / m1
        fn[0] = 1
        fn[127] = expExact(-0.5 * dn * dn)
        for i in stride(from: 126, through: 1, by: -1) {
            dn = (-2 * logExact(vn / dn + expExact(-0.5 * dn * dn))).squareRoot()
            kn[i + 1] = UInt32((dn / tn) * m1)
            tn = dn
            fn[i] = expExact(-0.5 * dn * dn)
            wn[i] = dn / m1
        }
        self.kn = kn
        self.wn = wn
        self.fn = fn
    }
}

public let ziggurat = ZigguratTables()
