/// What must hold of a PostgreSQL server after every input it handles: WAL positions keep
/// their order (xlog.c: insert ≥ flush ≥ checkpoint redo; a standby replays only what it
/// received), a primary has no walreceiver, a stopped server serves nobody, and a commit
/// waits for its standby only once it is flushed here (syncrep.c: `SyncRepWaitForLSN` runs
/// after `XLogFlush`).
extension PgInstance {
    public var invariantViolations: [String] {
        var out: [String] = []
        if checkpointLSN > flushLSN { out.append("checkpoint \(checkpointLSN) past the flushed WAL \(flushLSN)") }
        if state == .running && !inRecovery {
            if flushLSN > insertLSN { out.append("flushed WAL \(flushLSN) past the insert position \(insertLSN)") }
            if receiver != nil { out.append("a primary with a walreceiver") }
            for w in syncWaiters where w.lsn > flushLSN {
                out.append("a commit waits for a standby at \(w.lsn) before its own flush reached it (\(flushLSN))")
            }
            for s in senders where s.flush > max(flushLSN, insertLSN) {
                out.append("standby \(s.name) confirmed \(s.flush), past this primary's WAL")
            }
        } else if state == .running && inRecovery && receivedLSN > 0 && replayAt > max(receivedLSN, flushLSN) {
            out.append("replayed \(replayAt) past what was received (\(receivedLSN))")
        }
        if state == .stopped {
            if !sessions.isEmpty { out.append("a stopped server with \(sessions.count) sessions") }
            if !senders.isEmpty { out.append("a stopped server with walsenders") }
        }
        // Every growing table has a limit (sessions are bounded by the listen backlog and
        // the clients; the flush history is pruned as standbys confirm).
        if flushTimes.count > 1 << 16 { out.append("\(flushTimes.count) flush times kept") }
        return out
    }
}
