import Testing
@testable import Patroni

/// The resolver against the transitions Patroni's own unit tests pin down (tests/test_quorum.py,
/// Patroni 4.1): given the `/sync` key and `synchronous_standby_names`, the ordered steps.
@Suite struct QuorumResolverTests {
    /// Letters as member names: "bcd" is {b, c, d}.
    static func s(_ letters: String) -> NameSet { NameSet(letters.map { String($0) }) }

    struct Case: CustomStringConvertible {
        var leader: String, quorum: Int, voters: String, numsync: Int, sync: String, confirmed: Int
        var active: String, wanted: Int, leaderWanted: String
        var expected: [(QuorumTransition.Kind, String, Int, String)]
        var description: String { "\(leader) q\(quorum) [\(voters)] \(numsync) of [\(sync)] confirmed \(confirmed) active [\(active)] wanted \(wanted) as \(leaderWanted)" }
    }

    static func run(_ c: Case) throws -> [QuorumTransition] {
        var r = QuorumStateResolver(leader: c.leader, quorum: c.quorum, voters: s(c.voters), numsync: c.numsync, sync: s(c.sync),
                                    numsyncConfirmed: c.confirmed, active: s(c.active), syncWanted: c.wanted, leaderWanted: c.leaderWanted)
        return try r.transitions()
    }

    static let cases: [Case] = [
        // test_1111: add nodes to a lone primary
        Case(leader: "a", quorum: 0, voters: "", numsync: 0, sync: "", confirmed: 0, active: "b", wanted: 2, leaderWanted: "a",
             expected: [(.sync, "a", 1, "b"), (.restart, "a", 0, "")]),
        Case(leader: "a", quorum: 0, voters: "", numsync: 1, sync: "b", confirmed: 1, active: "b", wanted: 2, leaderWanted: "a",
             expected: [(.quorum, "a", 0, "b")]),
        Case(leader: "a", quorum: 0, voters: "", numsync: 0, sync: "", confirmed: 0, active: "bcde", wanted: 2, leaderWanted: "a",
             expected: [(.sync, "a", 2, "bcde"), (.restart, "a", 0, "")]),
        Case(leader: "a", quorum: 0, voters: "", numsync: 2, sync: "bcde", confirmed: 1, active: "bcde", wanted: 2, leaderWanted: "a",
             expected: [(.quorum, "a", 3, "bcde")]),
        // test_1222: a two-node cluster
        Case(leader: "a", quorum: 0, voters: "b", numsync: 1, sync: "b", confirmed: 1, active: "b", wanted: 2, leaderWanted: "a", expected: []),
        Case(leader: "a", quorum: 0, voters: "b", numsync: 1, sync: "b", confirmed: 1, active: "bc", wanted: 1, leaderWanted: "a",
             expected: [(.quorum, "a", 1, "bc"), (.sync, "a", 1, "bc")]),
        Case(leader: "a", quorum: 0, voters: "b", numsync: 1, sync: "b", confirmed: 1, active: "bc", wanted: 2, leaderWanted: "a",
             expected: [(.sync, "a", 2, "bc"), (.quorum, "a", 1, "bc")]),
        Case(leader: "a", quorum: 1, voters: "bc", numsync: 2, sync: "bc", confirmed: 2, active: "bc", wanted: 2, leaderWanted: "a",
             expected: [(.quorum, "a", 0, "bc")]),
        Case(leader: "a", quorum: 0, voters: "b", numsync: 1, sync: "b", confirmed: 1, active: "bcde", wanted: 2, leaderWanted: "a",
             expected: [(.sync, "a", 2, "bc"), (.quorum, "a", 3, "bcde"), (.sync, "a", 2, "bcde")]),
        Case(leader: "a", quorum: 0, voters: "b", numsync: 1, sync: "b", confirmed: 0, active: "", wanted: 1, leaderWanted: "a",
             expected: [(.quorum, "a", 0, ""), (.sync, "a", 0, "")]),
        Case(leader: "a", quorum: 0, voters: "b", numsync: 1, sync: "b", confirmed: 0, active: "c", wanted: 1, leaderWanted: "a",
             expected: [(.quorum, "a", 0, ""), (.sync, "a", 1, "c"), (.restart, "a", 0, "")]),
        // test_1233: an interrupted move from two nodes to three
        Case(leader: "a", quorum: 0, voters: "b", numsync: 2, sync: "bc", confirmed: 1, active: "b", wanted: 2, leaderWanted: "a",
             expected: [(.sync, "a", 1, "b")]),
        Case(leader: "a", quorum: 0, voters: "b", numsync: 2, sync: "bc", confirmed: 1, active: "bcd", wanted: 2, leaderWanted: "a",
             expected: [(.quorum, "a", 2, "bcd"), (.sync, "a", 2, "bcd")]),
        // test_2322
        Case(leader: "a", quorum: 1, voters: "bc", numsync: 1, sync: "b", confirmed: 1, active: "bcd", wanted: 1, leaderWanted: "a",
             expected: [(.sync, "a", 1, "bc"), (.quorum, "a", 2, "bcd"), (.sync, "a", 1, "bcd")]),
        // test_3535: removing nodes
        Case(leader: "a", quorum: 2, voters: "bcde", numsync: 2, sync: "bcde", confirmed: 2, active: "bc", wanted: 2, leaderWanted: "a",
             expected: [(.sync, "a", 2, "bc"), (.quorum, "a", 0, "bc")]),
        Case(leader: "a", quorum: 1, voters: "bcde", numsync: 3, sync: "bcde", confirmed: 2, active: "bc", wanted: 1, leaderWanted: "a",
             expected: [(.sync, "a", 3, "bcd"), (.quorum, "a", 1, "bc"), (.sync, "a", 1, "bc")]),
        Case(leader: "a", quorum: 2, voters: "bcde", numsync: 2, sync: "bcde", confirmed: 2, active: "bcdef", wanted: 1, leaderWanted: "a",
             expected: [(.quorum, "a", 4, "bcdef"), (.sync, "a", 1, "bcdef")]),
        // test_swap_sync_node
        Case(leader: "a", quorum: 0, voters: "bc", numsync: 2, sync: "bc", confirmed: 1, active: "bd", wanted: 2, leaderWanted: "a",
             expected: [(.quorum, "a", 0, "b"), (.sync, "a", 2, "bd"), (.quorum, "a", 1, "bd")]),
        // test_promotion: a fails, c wins the race with quorum votes
        Case(leader: "a", quorum: 2, voters: "bcd", numsync: 0, sync: "", confirmed: 0, active: "", wanted: 1, leaderWanted: "c",
             expected: [(.sync, "a", 1, "abd"), (.quorum, "c", 2, "abd")]),
        Case(leader: "c", quorum: 2, voters: "abd", numsync: 1, sync: "abd", confirmed: 0, active: "b", wanted: 1, leaderWanted: "c",
             expected: [(.sync, "c", 1, "b"), (.quorum, "c", 0, "b")]),
        Case(leader: "c", quorum: 2, voters: "abd", numsync: 1, sync: "abd", confirmed: 0, active: "", wanted: 1, leaderWanted: "c",
             expected: [(.quorum, "c", 0, ""), (.sync, "c", 0, "")]),
        // test_nonsync_promotion: d, not a voter, gathers enough votes
        Case(leader: "a", quorum: 1, voters: "bc", numsync: 0, sync: "", confirmed: 0, active: "", wanted: 1, leaderWanted: "d",
             expected: [(.sync, "a", 2, "abc"), (.quorum, "d", 1, "abc")]),
        Case(leader: "d", quorum: 1, voters: "abc", numsync: 2, sync: "abc", confirmed: 0, active: "bc", wanted: 1, leaderWanted: "d",
             expected: [(.sync, "d", 2, "bc"), (.quorum, "d", 1, "bc"), (.sync, "d", 1, "bc")]),
        // test_invalid_states: a broken invariant is repaired first
        Case(leader: "a", quorum: 0, voters: "bc", numsync: 1, sync: "bc", confirmed: 1, active: "bc", wanted: 1, leaderWanted: "a",
             expected: [(.quorum, "a", 1, "bc")]),
        Case(leader: "a", quorum: 1, voters: "bc", numsync: 2, sync: "bd", confirmed: 1, active: "bd", wanted: 1, leaderWanted: "a",
             expected: [(.quorum, "a", 1, "bd"), (.sync, "a", 1, "bd")]),
        // test_sync_high_quorum_low_safety_margin_high
        Case(leader: "a", quorum: 2, voters: "bcdef", numsync: 4, sync: "bcdef", confirmed: 3, active: "bcdef", wanted: 2, leaderWanted: "a",
             expected: [(.quorum, "a", 3, "bcdef"), (.sync, "a", 2, "bcdef")]),
        // test_empty_ssn
        Case(leader: "a", quorum: 1, voters: "bc", numsync: 1, sync: "", confirmed: 0, active: "", wanted: 1, leaderWanted: "c",
             expected: [(.sync, "a", 1, "ab"), (.quorum, "c", 1, "ab")]),
    ]

    @Test(arguments: cases)
    func transitionsAsPatroni(_ c: Case) throws {
        let got = try Self.run(c)
        let want = c.expected.map { QuorumTransition($0.0, $0.1, $0.2, Self.s($0.3)) }
        #expect(got == want, "\(c)")
    }

    /// After every single step the invariant holds, and replaying the first step as done
    /// leaves the rest (the interrupted-transition check of test_quorum.py).
    @Test(arguments: cases)
    func interruptedTransitionsResume(_ c: Case) throws {
        let got = try Self.run(c)
        guard let first = got.first, first.kind != .restart, first.leader == c.leader else { return }
        var next = c
        if first.kind == .sync { next.numsync = first.num; next.sync = first.names.items.joined() }
        else { next.quorum = first.num; next.voters = first.names.items.joined() }
        next.expected = Array(c.expected.dropFirst())
        let rest = try Self.run(next)
        #expect(rest == next.expected.map { QuorumTransition($0.0, $0.1, $0.2, Self.s($0.3)) }, "\(next)")
    }

    @Test func badUpdatesAreQuorumErrors() {
        var r = QuorumStateResolver(leader: "a", quorum: 1, voters: Self.s("bc"), numsync: 1, sync: Self.s("bc"), numsyncConfirmed: 1,
                                    active: Self.s("bc"), syncWanted: 1, leaderWanted: "a")
        #expect(throws: QuorumError.self) { try r.quorumUpdate(-1, []) }
        #expect(throws: QuorumError.self) { try r.quorumUpdate(1, []) }
        #expect(throws: QuorumError.self) { try r.syncUpdate(-1, []) }
        #expect(throws: QuorumError.self) { try r.syncUpdate(1, []) }
    }

    /// Over every small state, whatever the resolver yields keeps both invariants after each
    /// step (or it reports a QuorumError instead of yielding an unsafe step).
    @Test func everyStepKeepsTheInvariant() {
        let all = ["b", "c", "d"]
        func subsets() -> [NameSet] { (0..<8).map { m in NameSet(all.indices.filter { m & (1 << $0) != 0 }.map { all[$0] }) } }
        var checked = 0
        for voters in subsets() { for sync in subsets() { for active in subsets() {
            for quorum in 0...max(0, voters.count - 1) { for numsync in 0...sync.count { for wanted in 1...2 {
                var r = QuorumStateResolver(leader: "a", quorum: quorum, voters: voters, numsync: numsync, sync: sync,
                                            numsyncConfirmed: min(numsync, (sync & active).count), active: active, syncWanted: wanted, leaderWanted: "a")
                guard (try? r.checkInvariants()) != nil, let steps = try? r.transitions() else { continue }
                var q = quorum, v = voters, n = min(numsync, sync.count), s = sync
                for t in steps where t.kind != .restart {
                    if t.kind == .quorum { q = t.num; v = t.names } else { n = t.num; s = t.names }
                    let nodes = (v | ["a"]) | (s | ["a"])
                    #expect(v.isEmpty || nodes.count <= q + n + 1, "unsafe step \(t) from q\(quorum) [\(voters)] \(numsync) of [\(sync)] active [\(active)]")
                }
                checked += 1
            } } }
        } } }
        #expect(checked > 500)
    }
}
