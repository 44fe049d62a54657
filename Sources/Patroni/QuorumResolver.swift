/// A set of member names, kept sorted so that every walk over it is deterministic (Patroni's
/// `CaseInsensitiveSet`; simctl's member names are exact).
public struct NameSet: Sendable, Equatable, ExpressibleByArrayLiteral, CustomStringConvertible {
    public private(set) var items: [String]

    public init<S: Sequence>(_ s: S) where S.Element == String { items = Array(Set(s)).sorted() }
    public init(arrayLiteral elements: String...) { self.init(elements) }

    public var count: Int { items.count }
    public var isEmpty: Bool { items.isEmpty }
    public func contains(_ n: String) -> Bool { items.contains(n) }
    public static func | (a: NameSet, b: NameSet) -> NameSet { NameSet(a.items + b.items) }
    public static func - (a: NameSet, b: NameSet) -> NameSet { NameSet(a.items.filter { !b.contains($0) }) }
    public static func & (a: NameSet, b: NameSet) -> NameSet { NameSet(a.items.filter { b.contains($0) }) }
    public func isSubset(of b: NameSet) -> Bool { items.allSatisfy { b.contains($0) } }
    public func isStrictSubset(of b: NameSet) -> Bool { isSubset(of: b) && count < b.count }
    /// `a, b`, as Patroni's log lines join sorted names.
    public var description: String { items.joined(separator: ", ") }
}

/// One step towards the wanted quorum state (`patroni/quorum.py` `Transition`): a new
/// `synchronous_standby_names` (`sync`: num of names), a new `/sync` key (`quorum`: leader,
/// quorum, voters), or `restart`: stop and run the resolver again on fresh state.
public struct QuorumTransition: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case sync, quorum, restart }
    public var kind: Kind
    public var leader: String
    public var num: Int
    public var names: NameSet

    public init(_ kind: Kind, _ leader: String, _ num: Int, _ names: NameSet) {
        self.kind = kind; self.leader = leader; self.num = num; self.names = names
    }
    public var description: String { "\(kind.rawValue) \(leader) \(num) [\(names)]" }
}

/// Patroni's `QuorumError`, or one of the resolver's assertions.
public struct QuorumError: Error, Sendable, Equatable { public var message: String }

/// `QuorumStateResolver` (patroni/quorum.py, Patroni 4.1): from the `/sync` key (leader,
/// quorum, voters) and `synchronous_standby_names` (numsync of sync), the transitions that reach
/// the wanted state while keeping, after every single step, the invariant that any set of nodes
/// able to acknowledge a commit (numsync of sync) overlaps any set able to win a leader race
/// (quorum + 1 of voters and the leader): `|voters ∪ sync| ≤ quorum + numsync + 1`. Increases
/// go first, decreases last. The rules below follow `_generate_transitions` and its four
/// helpers in order.
public struct QuorumStateResolver: Sendable {
    public var leader: String
    public var quorum: Int
    public var voters: NameSet
    public var numsync: Int
    public var sync: NameSet
    /// Listed standbys known to have reached the primary's flush position since the last change
    /// of `synchronous_standby_names`.
    public var numsyncConfirmed: Int
    /// Standbys streaming from the primary and eligible to be listed.
    public var active: NameSet
    /// `synchronous_node_count`.
    public var syncWanted: Int
    /// This node: the leader wanted (differs from `leader` right after a failover).
    public var leaderWanted: String
    /// `QuorumError`s Patroni logs as warnings and recovers from (a broken state after a failover).
    public private(set) var warnings: [String] = []
    private var out: [QuorumTransition] = []

    public init(leader: String, quorum: Int, voters: NameSet, numsync: Int, sync: NameSet, numsyncConfirmed: Int,
                active: NameSet, syncWanted: Int, leaderWanted: String) {
        self.leader = leader; self.quorum = quorum; self.voters = voters
        self.numsync = min(numsync, sync.count)   // cannot exceed the names listed
        self.sync = sync; self.numsyncConfirmed = numsyncConfirmed; self.active = active
        self.syncWanted = syncWanted; self.leaderWanted = leaderWanted
    }

    /// The transitions (`__iter__`): consecutive transitions of one kind merge into the last
    /// (nobody observed the intermediate state), and nothing follows a restart. They are all
    /// computed first, so an error anywhere yields none.
    public mutating func transitions() throws(QuorumError) -> [QuorumTransition] {
        out = []
        try generate()
        var result: [QuorumTransition] = []
        for (i, t) in out.enumerated() {
            if i + 1 < out.count && out[i + 1].kind == t.kind { continue }
            result.append(t)
            if t.kind == .restart { break }
        }
        return result
    }

    func checkInvariants() throws(QuorumError) {
        let v = voters | [leader], s = sync | [leaderWanted]
        let nodes = (v | s).count
        if !voters.isEmpty && nodes > quorum + numsync + 1 {
            throw QuorumError(message: "Quorum and sync not guaranteed to overlap: nodes \(nodes) >= quorum \(quorum) + sync \(sync.count) + 1")
        }
        if !(v.isSubset(of: s) || s.isSubset(of: v)) {
            throw QuorumError(message: "Mismatched sets: voter only={\(v - s)} sync only={\(s - v)}")
        }
    }

    /// `quorum_update`: a new `/sync` state, the quorum raised by the listed standbys not yet
    /// confirmed (so that a race still finds one that has every commit).
    mutating func quorumUpdate(_ q: Int, _ newVoters: NameSet, leader newLeader: String? = nil, adjust: Bool = true) throws(QuorumError) {
        if q < 0 { throw QuorumError(message: "Quorum \(q) < 0 of (\(newVoters))") }
        if q > 0 && q >= newVoters.count { throw QuorumError(message: "Quorum \(q) >= N of (\(newVoters))") }
        var q = q, newVoters = newVoters
        let oldLeader = leader
        if let l = newLeader {
            leader = l
        } else if numsyncConfirmed == 0 && voters.isEmpty {
            // Nobody is known to have caught up: reset quorum and voters.
            q = 0
            newVoters = []
        } else if adjust {
            q += max(numsync - numsyncConfirmed, 0)
        }
        if leader == oldLeader && q == quorum && newVoters == voters {
            if !voters.isEmpty { return }
            // No change: a hint to the caller to fetch fresh state and run again.
            out.append(QuorumTransition(.restart, leader, quorum, voters))
        }
        quorum = q
        voters = newVoters
        try checkInvariants()
        out.append(QuorumTransition(.quorum, leader, quorum, voters))
    }

    /// `sync_update`: a new `synchronous_standby_names`.
    mutating func syncUpdate(_ n: Int, _ newSync: NameSet) throws(QuorumError) {
        if n < 0 { throw QuorumError(message: "Sync \(n) < 0 of (\(newSync))") }
        if n > newSync.count { throw QuorumError(message: "Sync \(n) > N of (\(newSync))") }
        numsync = n
        sync = newSync
        try checkInvariants()
        out.append(QuorumTransition(.sync, leader, numsync, sync))
    }

    mutating func generate() throws(QuorumError) {
        do {
            if leaderWanted != leader {
                // A failover: the old leader joins the voters, the new one leaves them.
                let v = (voters - [leaderWanted]) | [leader]
                if sync.isEmpty { try syncUpdate(v.count - quorum, v) }
                try quorumUpdate(quorum, v, leader: leaderWanted)
                // Right after a promotion nobody may be streaming yet: give them a loop_wait.
                if (sync & active).isEmpty { return }
            } else {
                try checkInvariants()
            }
        } catch {
            warnings.append(error.message)
            try quorumUpdate(sync.count - numsync, sync)
        }
        guard leader == leaderWanted else { throw QuorumError(message: "assertion: leader \(leader) != \(leaderWanted)") }
        // After a restart or failover nothing is confirmed yet: derive it from the quorum.
        if numsyncConfirmed == 0 && !(sync & active).isEmpty {
            numsyncConfirmed = min((sync & active).count, voters.count - quorum)
        }
        try handleNonSteadyCases()
        try removeGoneNodes()
        try addNewNodes()
        try handleReplicationFactorChange()
    }

    /// `__handle_non_steady_cases`: finish a sequence an earlier cycle left half done.
    mutating func handleNonSteadyCases() throws(QuorumError) {
        if sync.isStrictSubset(of: voters) {
            // Case 1: in the middle of changing voters. Evict dead voters not synced to, then
            // sync to the live ones.
            let remove = voters - (sync | active)
            if !remove.isEmpty {
                try quorumUpdate(voters.count - remove.count - numsync, voters - remove, adjust: (sync - active).isEmpty)
            }
            let add = (voters & active) - sync
            if !add.isEmpty { try syncUpdate(numsync, sync | add) }
        } else if voters.isStrictSubset(of: sync) {
            // Case 2: in the middle of changing the replication factor.
            var removeFromSync = sync - active
            let kept = sync - removeFromSync
            // Keep nodes common to both sets.
            if !removeFromSync.isEmpty && !kept.isEmpty && (voters.isEmpty || !(kept & voters).isEmpty) {
                try syncUpdate(min(numsync, sync.count - removeFromSync.count), kept)
            }
            let addToVoters = (sync - voters) & active
            if !addToVoters.isEmpty {
                let v = voters | addToVoters
                try quorumUpdate(v.count - numsync, v)
            }
            removeFromSync = sync - voters
            if !removeFromSync.isEmpty {
                try syncUpdate(min(numsync, sync.count - removeFromSync.count), sync - removeFromSync)
            }
        }
        guard voters == sync else { throw QuorumError(message: "assertion: voters {\(voters)} != sync {\(sync)}") }
        let margin = quorum + min(numsync, numsyncConfirmed) - (voters | sync).count
        if margin > 0 {
            if numsync > syncWanted {
                // Case 3: the replication factor is bigger than needed.
                try syncUpdate(max(syncWanted, voters.count - quorum), sync)
            } else {
                // Case 4: the quorum is bigger than needed.
                try quorumUpdate(sync.count - numsync, voters)
            }
        } else {
            let m = quorum + numsync - (voters | sync).count
            if numsync == syncWanted && m > 0 && numsync > numsyncConfirmed {
                try quorumUpdate(sync.count - numsync, voters)
            }
        }
    }

    /// `__remove_gone_nodes`: standbys no longer streaming leave both sets, the quorum first
    /// reduced where it can be.
    mutating func removeGoneNodes() throws(QuorumError) {
        var toRemove = sync - active
        guard !toRemove.isEmpty else { return }
        if sync == toRemove {
            try quorumUpdate(0, [], adjust: false)
            try syncUpdate(0, [])
            return
        }
        if quorum > 0 {
            // Patroni picks by reverse-sorted name, for deterministic behaviour.
            let remove = NameSet(toRemove.items.reversed().prefix(quorum))
            let kept = sync - remove
            // Removing nodes from sync, numsync may safely grow if asked for.
            try syncUpdate(min(syncWanted > numsync ? syncWanted : numsync, kept.count), kept)
            let v = voters - remove
            toRemove = toRemove & sync
            try quorumUpdate(v.count - numsync, v, adjust: toRemove.isEmpty)
        }
        if !toRemove.isEmpty {
            guard quorum == 0 else { throw QuorumError(message: "assertion: quorum \(quorum) != 0") }
            let n = numsync - toRemove.count
            let kept = sync - toRemove, v = voters - toRemove
            let decrease = n - min(syncWanted, kept.count)
            try quorumUpdate(decrease != 0 ? min(decrease, v.count - 1) : 0, v, adjust: false)
            try syncUpdate(n, kept)
        }
    }

    /// `__add_new_nodes`: new streaming standbys join, first up to the replication factor.
    mutating func addNewNodes() throws(QuorumError) {
        var toAdd = active - sync
        guard !toAdd.isEmpty else { return }
        let wanted = min(syncWanted, (sync | toAdd).count)
        let increase = wanted - numsync
        if increase > 0 {
            // With only the leader, every new node may be added at once.
            let add = sync.isEmpty ? toAdd : NameSet(toAdd.items.prefix(increase))
            try syncUpdate(numsync + (sync.isEmpty ? increase : add.count), sync | add)
            let v = voters | add
            try quorumUpdate(v.count - wanted, v)
            toAdd = toAdd - sync
        }
        if !toAdd.isEmpty {
            let v = voters | toAdd
            try quorumUpdate(v.count - wanted, v, adjust: wanted > numsyncConfirmed)
            try syncUpdate(wanted, sync | toAdd)
        }
    }

    /// `__handle_replication_factor_change`: `synchronous_node_count` changed.
    mutating func handleReplicationFactorChange() throws(QuorumError) {
        let increase = min(syncWanted, sync.count) - numsync
        if increase > 0 {
            try syncUpdate(numsync + increase, sync)
            try quorumUpdate(voters.count - numsync, voters)
        } else if increase < 0 {
            if quorum - increase < voters.count {
                try quorumUpdate(voters.count - numsync - increase, voters, adjust: syncWanted > numsyncConfirmed)
            }
            try syncUpdate(numsync + increase, sync)
        }
    }
}
