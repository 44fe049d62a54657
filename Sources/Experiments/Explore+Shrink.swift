import SimCore

extension Explorer {
    /// Reduces a failing schedule to a minimal one that still fails `property`: greedily, the
    /// first candidate (in a fixed order) that still fails replaces the schedule and the
    /// search starts over, until no candidate fails or `budget` runs are spent. Candidates, in
    /// order: fewer faults (halves first, then one at a time), no jitter, the whole schedule
    /// earlier, rounder times (multiples of 10 s, then 5 s), shorter `for:` (halved, in 5 s
    /// steps), simpler targets, one DB node fewer. Every step is a re-run on the schedule's
    /// seed, so the result is a function of its input: shrinking is deterministic.
    public static func shrink(_ t: ExploreTarget, _ s: Schedule, property: String, checkExpect: Bool, budget: Int = 300) -> (schedule: Schedule, runs: Int) {
        var best = s
        var runs = 0
        var tried = Set<String>()
        func fails(_ c: Schedule) -> Bool {
            let key = text(t, c, name: "k", description: "")
            guard tried.insert(key).inserted else { return false }
            runs += 1
            return check(t, c, checkExpect: checkExpect)?.contains { $0.property == property } == true
        }
        var improved = true
        while improved && runs < budget {
            improved = false
            for c in candidates(t, best) where runs < budget {
                if fails(c) {
                    best = c
                    improved = true
                    break
                }
            }
        }
        return (best, runs)
    }

    /// The next simpler schedules to try, simplest first.
    static func candidates(_ t: ExploreTarget, _ s: Schedule) -> [Schedule] {
        var out: [Schedule] = []
        let n = s.faults.count
        var size = n / 2
        while size >= 1 {
            var start = 0
            while start < n {
                var c = s
                c.faults.removeSubrange(start..<min(n, start + size))
                out.append(c)
                start += size
            }
            size /= 2
        }
        for i in s.faults.indices where s.faults[i].jitter > 0 {
            var c = s
            c.faults[i].jitter = 0
            out.append(c)
        }
        let earliest = 20 + t.prefixEnd
        if let first = s.faults.map(\.at).min(), first > earliest {
            var c = s
            for i in c.faults.indices { c.faults[i].at -= first - earliest }
            out.append(c)
        }
        for step in [10, 5] {
            for i in s.faults.indices where s.faults[i].at % step != 0 {
                var c = s
                c.faults[i].at = max(earliest, s.faults[i].at / step * step)
                out.append(c)
            }
        }
        for i in s.faults.indices {
            if let f = s.faults[i].forSeconds, f > 5 {
                var c = s
                c.faults[i].forSeconds = max(5, f / 2 / 5 * 5)
                out.append(c)
            }
            for simpler in s.faults[i].simpler where simpler != s.faults[i].action {
                var c = s
                c.faults[i].action = simpler
                c.faults[i].simpler = []
                out.append(c)
            }
        }
        let nodes = s.dbNodes ?? t.base.topology.dbHosts.count
        if nodes > 2, TopLevelText.withDBNodes(t.body, nodes - 1) != nil {
            var c = s
            c.dbNodes = nodes - 1
            out.append(c)
        }
        return out
    }
}
