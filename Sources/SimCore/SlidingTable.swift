/// A table whose ids only grow and whose oldest rows are dropped: it holds the last `window`
/// to `2 × window` rows (dropping `window` at a time keeps appends amortised O(1)). A read of a
/// dropped id answers nil, never another row: the owner decides what a miss means (usually
/// that the run outlived the table's window, which it reports as a limit).
public struct SlidingTable<Element> {
    public private(set) var base = 0
    public private(set) var rows: [Element] = []
    public let window: Int
    /// Rows from this id on are never dropped (what some owner still needs): the table then
    /// holds more than twice the window until the pin moves.
    public var pin = Int.max

    public init(window: Int) {
        precondition(window > 0)
        self.window = window
    }

    /// The id the next row gets.
    public var nextID: Int { base + rows.count }

    @discardableResult
    public mutating func append(_ e: Element) -> Int {
        if rows.count >= 2 * window { drop() }
        rows.append(e)
        return nextID - 1
    }

    /// Appends `s` as consecutive ids (never split by a drop); the first id.
    public mutating func append<S: Collection>(contentsOf s: S) -> Int where S.Element == Element {
        if rows.count + s.count > 2 * window { drop() }
        let first = nextID
        rows.append(contentsOf: s)
        return first
    }

    mutating func drop() {
        let n = min(window, rows.count, Swift.max(0, pin - base))
        guard n > 0 else { return }
        rows.removeFirst(n)
        base += n
    }

    public subscript(id: Int) -> Element? {
        id >= base && id < nextID ? rows[id - base] : nil
    }

    /// The last `n` rows with their ids, newest last.
    public func last(_ n: Int) -> some Collection<(Int, Element)> {
        let k = min(n, rows.count)
        return (rows.count - k..<rows.count).lazy.map { (base + $0, rows[$0]) }
    }
}

extension SlidingTable: Sendable where Element: Sendable {}
