import Testing
import SimCore

@Suite("SlidingTable")
struct SlidingTableTests {
    @Test("ids only grow; the last window to twice the window rows are held; a dropped id reads nil")
    func window() {
        var t = SlidingTable<Int>(window: 4)
        for i in 0..<20 { #expect(t.append(i * 10) == i) }
        #expect(t.rows.count >= 4 && t.rows.count <= 8)
        #expect(t[19] == 190 && t[t.base] == t.base * 10)
        #expect(t[t.base - 1] == nil && t[20] == nil)
        // A run of rows is never split by a drop.
        let first = t.append(contentsOf: [1, 2, 3])
        #expect(t[first] == 1 && t[first + 2] == 3)
        #expect(t.last(2).map(\.0) == [first + 1, first + 2])
    }
}
