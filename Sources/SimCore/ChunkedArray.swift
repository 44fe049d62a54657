/// An append-only array in fixed chunks of 8,192: growing never copies what is held, and
/// never holds twice the rows (an `Array` doubles, and while it grows both copies are live).
/// For the run-long records that grow with the simulated horizon.
public struct ChunkedArray<Element>: RandomAccessCollection {
    static var shift: Int { 13 }
    static var chunk: Int { 1 << shift }
    var chunks: [[Element]] = []
    public private(set) var count = 0

    public init() {}

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public mutating func append(_ e: Element) {
        if count & (Self.chunk - 1) == 0 {
            var c: [Element] = []
            c.reserveCapacity(Self.chunk)
            chunks.append(c)
        }
        chunks[chunks.count - 1].append(e)
        count += 1
    }

    public subscript(i: Int) -> Element {
        chunks[i >> Self.shift][i & (Self.chunk - 1)]
    }
}

extension ChunkedArray: Sendable where Element: Sendable {}
