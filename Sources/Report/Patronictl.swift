import SimCore
import Recording
import Analysis

/// `patronictl list` and `patronictl history` of a run, read from what the run recorded of the
/// DCS (member keys, `/sync`, the leader key and its lease renewals, promotions), in
/// patronictl's table layout.
public enum Patronictl {
    /// patronictl's "pretty" table: a border, a header, rows, with the title written over the
    /// start of the top border (`+ Cluster: batman ----+---`), right-aligned columns as listed.
    static func table(title: String?, _ header: [String], _ rows: [[String]], right: Set<String>) -> String {
        let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
        let border = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+"
        func row(_ cells: [String]) -> String {
            "|" + cells.enumerated().map { c, v in
                let pad = String(repeating: " ", count: widths[c] - v.count)
                return " " + (right.contains(header[c]) ? pad + v : v + pad) + " "
            }.joined(separator: "|") + "|"
        }
        var top = border
        if let title {
            let t = "+" + title
            top = t.count >= border.count ? t + "+" : t + border.dropFirst(t.count)
        }
        return ([top, row(header), border] + rows.map(row) + [border]).joined(separator: "\n") + "\n"
    }

    /// What the DCS held at `at`: each member key's last value (gone if it was deleted or
    /// expired), `/sync`, the leader key holder and its last lease renewal.
    public struct DCSState: Sendable {
        public var members: [(name: String, detail: JSON)] = []
        public var leader: String?
        public var syncStandbys: [String] = []
        /// Quorum commit: the `/sync` key carries a quorum, and its voters are quorum standbys.
        public var quorumCommit = false
        public var leaseRenewed: Nanos?
        public var leaseTTL: Int64?
    }

    public static func state(_ story: RunStory, at: Nanos) -> DCSState {
        var st = DCSState()
        var members: [String: JSON] = [:]
        var order: [String] = []
        for e in story.timeline where e.timeNs <= at {
            switch e.kind {
            case Kind.memberKey:
                guard let m = e.detail["member"]?.stringValue else { continue }
                if !order.contains(m) { order.append(m) }
                members[m] = e.detail["gone"]?.boolValue == true ? nil : e.detail
            case Kind.syncKey:
                st.syncStandbys = (e.detail["sync_standby"]?.arrayValue ?? []).compactMap(\.stringValue)
                st.quorumCommit = e.detail["quorum"] != nil
            case Kind.leaderKey:
                st.leader = e.detail["holder"]?.stringValue
                if st.leader == nil { st.leaseRenewed = nil; st.leaseTTL = nil }
            case Kind.leaderLease:
                st.leaseRenewed = e.timeNs
                st.leaseTTL = e.detail["ttl_s"]?.intValue
            default: break
            }
        }
        // patronictl sorts the members by name.
        st.members = order.sorted().compactMap { m in members[m].map { (m, $0) } }
        return st
    }

    /// `patronictl list` at `at` (Patroni 3's columns: Lag in MB from the member keys'
    /// xlog_location), then the leader key and its lease.
    public static func list(_ story: RunStory, at: Nanos, scope: String = "batman") -> String {
        let st = state(story, at: at)
        let leaderXlog = st.members.first { $0.name == st.leader }?.detail["xlog_location"]?.intValue
        var rows: [[String]] = []
        for (name, d) in st.members {
            let isLeader = name == st.leader
            let role = isLeader ? "Leader" : st.syncStandbys.contains(name) ? (st.quorumCommit ? "Quorum Standby" : "Sync Standby") : "Replica"
            var state = d["state"]?.stringValue ?? ""
            // Patroni shows a running replica's replication state.
            if !isLeader && state == "running" { state = d["streaming"]?.boolValue == true ? "streaming" : "in archive recovery" }
            let tl = d["timeline"]?.intValue.map { String($0) } ?? ""
            var lag = ""
            if !isLeader, let lx = leaderXlog, let x = d["xlog_location"]?.intValue {
                lag = String(Int((Double(max(0, lx - x)) / 1_048_576).rounded()))
            } else if !isLeader {
                lag = "unknown"
            }
            rows.append([name, name, role, state, tl, lag])
        }
        var out = table(title: " Cluster: \(scope) ", ["Member", "Host", "Role", "State", "TL", "Lag in MB"], rows, right: ["TL", "Lag in MB"])
        if let l = st.leader {
            out += " Leader key: \(l)"
            if let r = st.leaseRenewed, let ttl = st.leaseTTL {
                out += " (lease renewed at \(TextClock.clock(r)), ttl \(ttl) s: expires at \(TextClock.clock(r + Nanos(ttl) * Time.s)) unless renewed)"
            }
            out += "\n"
        } else {
            out += " Leader key: none (no member holds the lock)\n"
        }
        if rows.isEmpty { out += " (no member keys in the DCS at \(TextClock.clock(at)))\n" }
        return out
    }

    /// `patronictl history`: one line per promotion, with the timeline that ended, where it
    /// ended (an LSN as PostgreSQL prints it), PostgreSQL's reason, when (the run's clock) and
    /// the new leader.
    public static func history(_ story: RunStory) -> String {
        let rows: [[String]] = story.timeline.filter { $0.kind == Kind.pgPromoted }.map { e in
            let tl = (e.detail["timeline"]?.intValue ?? 1) - 1
            return [String(tl), LSN.format(e.detail["lsn"]?.intValue ?? 0), "no recovery target specified", TextClock.clock(e.timeNs), e.host]
        }
        var out = table(title: nil, ["TL", "LSN", "Reason", "Timestamp", "New Leader"], rows, right: ["TL", "LSN"])
        if rows.isEmpty { out += " (no promotion in this run: the history is empty)\n" }
        return out
    }
}
