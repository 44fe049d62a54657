import SimCore
import Settings
import Recording
import Postgres

extension PatroniNode {
    /// `Ha._sync_replication_slots` → `SlotsHandler.sync_replication_slots` at the end of a
    /// cycle whose PostgreSQL runs and no async action is busy (a promotion excepted): the
    /// slots `Cluster.get_replication_slots` wants (Patroni 4 with PostgreSQL ≥ 11: one for
    /// every other member, the leader's retained ones of members gone less than
    /// member_slots_ttl ago, the permanent ones) are created; unknown and invalidated ones are
    /// dropped; slots nothing streams to are advanced to where their member says it is (on a
    /// replica, `/status` carries the primary's slot positions; the member's own xlog_location
    /// stands for them here).
    mutating func syncReplicationSlots(_ env: PatroniEnv) {
        let v = pg(env)
        guard v.running, !v.starting else { return }
        if let j = job, !(j.kind.isPromote) { return }
        var want: [Int16] = []
        if config.useSlots {
            // `_get_members_slots`: never for a member with nostream.
            for m in cluster.members where m.member != node && !m.data.nostream {
                // A node that does only cascading keeps slots only for those replicating from it.
                if nofailover && m.data.replicatefrom != node { continue }
                want.append(Int16(m.member))
            }
            if hasLockView { want += retainedSlots(v, present: want, env) }
            want += config.permanentSlots.indices.map { Int16(-1 - $0) }
        }
        for s in v.slots where s.lost || !want.contains(s.id) {
            let name = slotName(s.id, env)
            log(env, "slot", .object([("msg", .string(s.lost ? "Trying to drop replication slot '\(name)' with wal_status=lost" : "Trying to drop unknown replication slot '\(name)'"))]))
            if s.active {
                log(env, "slot", .object([("msg", .string("Unable to drop replication slot '\(name)', slot is active"))]))
            } else {
                env.pgSlot(node, .drop(s.id))
                log(env, "slot", .object([("msg", .string("Dropped replication slot '\(name)'"))]))
            }
        }
        for id in want where !v.slots.contains(where: { $0.id == id && !$0.lost }) { env.pgSlot(node, .create(id)) }
        // Slots that are not expected to be active: on the primary those of members cascading
        // from someone else; on a replica all of them.
        // `_ensure_physical_slots` advances only a slot its member is ahead of.
        for s in v.slots where !s.active && !s.lost && s.id >= 0 {
            guard let m = cluster.member(Int(s.id)), m.xlogLocation > s.restartLsn else { continue }
            let expectedActive = v.isPrimary && (m.replicatefrom < 0 || m.replicatefrom == node)
            if !expectedActive { env.pgSlot(node, .advance(s.id, lsn: m.xlogLocation)) }
        }
    }

    /// `AbstractDCS._build_retain_slots`: members whose slot exists and whose key is present
    /// are seen now; one not seen for member_slots_ttl is forgotten ("Replication slot '%s' for
    /// absent cluster member is expired after %d sec.") and its slot dropped as unknown.
    mutating func retainedSlots(_ v: PgView, present: [Int16], _ env: PatroniEnv) -> [Int16] {
        for id in present where v.slots.contains(where: { $0.id == id }) {
            let m = Int(id)
            if let i = retainSlotsSeen.firstIndex(where: { $0.member == m }) { retainSlotsSeen[i].at = env.now } else { retainSlotsSeen.append((m, env.now)) }
        }
        let ttl = Nanos(config.memberSlotsTtl) * Time.s
        let expired = retainSlotsSeen.filter { $0.at + ttl <= env.now }
        for e in expired {
            log(env, "slot", .object([("msg", .string("Replication slot '\(env.nodeName(e.member))' for absent cluster member is expired after \(config.memberSlotsTtl) sec."))]))
        }
        if !expired.isEmpty { retainSlotsSeen.removeAll { $0.at + ttl <= env.now } }
        return retainSlotsSeen.map { Int16($0.member) }.filter { !present.contains($0) }
    }

    func slotName(_ id: Int16, _ env: PatroniEnv) -> String {
        SlotID.name(id, permanent: config.permanentSlots, member: env.nodeName)
    }
}
