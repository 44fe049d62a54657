/// What must hold of a Raft node after every input it handles (etcd's raft package: `raft.go`
/// `becomeLeader`, `maybeCommit`; the Raft paper's Figure 3). Cheap enough to run after
/// every event in debug builds and tests (`Simulation.checkInvariants`).
extension RaftNode {
    var invariantViolations: [String] {
        var out: [String] = []
        if log.isEmpty || (offset == 0 && log[0].term != 0) { out.append("the log lost its dummy entry at index 0") }
        if offset > committed { out.append("the log is compacted to \(offset), past the commit index \(committed)") }
        if committed > lastIndex { out.append("commit index \(committed) past the last entry \(lastIndex)") }
        if appliedIndex > committed { out.append("applied \(appliedIndex) past the commit index \(committed)") }
        if lastTerm > term { out.append("the last entry's term \(lastTerm) is newer than the node's term \(term)") }
        if log.count >= 2 && log[log.count - 2].term > lastTerm { out.append("log terms decrease at the end of the log") }
        switch state {
        case .leader:
            if lead != id { out.append("a leader whose lead is \(lead), not itself") }
            if vote != id { out.append("a leader that did not vote for itself in term \(term)") }
        case .candidate:
            if vote != id { out.append("a candidate that did not vote for itself") }
        default: break
        }
        // Every growing table has a limit: the outbox drains after each input.
        if outbox.count > 4096 { out.append("\(outbox.count) messages waiting in the outbox") }
        return out
    }
}

extension EtcdMember {
    /// The member's Raft node's invariants (its store's limits are checked where it grows).
    public var invariantViolations: [String] { raft.invariantViolations }
}
