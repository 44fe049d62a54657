/// What must hold of a Patroni node after every input it handles: its HA cycle waits for one
/// thing at a time, and for something that will come (a DCS call it has under way), and
/// its tables stay bounded.
extension PatroniNode {
    public var invariantViolations: [String] {
        var out: [String] = []
        if case .dcs(let tag, _) = wait, running, !stopping, !dcs.hasOperation(tag) {
            out.append("the HA cycle waits for DCS call \(tag), which is not under way")
        }
        if case .rewindCheck = wait, running, rewindCheckConn.isNone {
            out.append("the HA cycle waits for a rewind check that has no connection")
        }
        if case .pgQuery = wait, running, !inCycle { out.append("waiting for the cycle's query outside a cycle") }
        if inCycle && !stopping, case .none = wait, pgInfo == nil { out.append("a cycle under way without its query's answer") }
        if role == .primary && !running && !stopping { out.append("a stopped Patroni that still calls itself primary") }
        if restCalls.count > 64 { out.append("\(restCalls.count) REST calls under way") }
        if restQueries.count > 256 { out.append("\(restQueries.count) REST handlers waiting for PostgreSQL") }
        if wakeAfter.count > 64 { out.append("\(wakeAfter.count) wake-ups pending") }
        if dcs.operationCount > 64 { out.append("\(dcs.operationCount) DCS operations under way") }
        return out
    }
}

extension PatroniDCS {
    func hasOperation(_ tag: UInt32) -> Bool {
        ops.contains { $0.tag == tag } || client.hasCall(tag: tag) || finished.contains { $0.0 == tag }
    }
    var operationCount: Int { ops.count }
}
