import SimCore
import Settings
import Recording

extension PgInstance {
    // MARK: - Archiver (primary, archive_mode = on)

    /// pgarch.c: a segment is ready once WAL was flushed past its end; the archiver runs
    /// archive_command for the oldest ready one, then the next.
    mutating func archiveReady(_ env: PgEnv) {
        guard config.archiveMode, state == .running, !inRecovery, !archiving else { return }
        let seg = Self.walSegmentBytes
        let next = (archivedThrough / seg + 1) * seg
        guard flushLSN >= next else { return }
        archiving = true
        archivingTo = next
        env.pgTimer(node, after: config.archiveCommandNs, .archiveDone)
    }

    mutating func archiveDone(_ env: PgEnv) {
        guard archiving else { return }
        archiving = false
        guard state == .running, !inRecovery else { return }
        env.walArchive.archive(fork, upTo: archivingTo)
        archivedThrough = archivingTo
        lastArchiveAt = env.now
        archiveReady(env)
    }

    /// `archive_timeout`: WAL written since the last archived segment is archived after that
    /// long (the segment switch; the rest of that segment is padding, not simulated).
    mutating func archiveTimeout(_ env: PgEnv) {
        guard config.archiveMode, config.archiveTimeoutNs > 0, state == .running else { return }
        if !inRecovery, !archiving, flushLSN > archivedThrough, env.now - lastArchiveAt >= config.archiveTimeoutNs {
            archiving = true
            archivingTo = flushLSN
            env.pgTimer(node, after: config.archiveCommandNs, .archiveDone)
        }
        env.pgTimer(node, after: config.archiveTimeoutNs, .archiveTimeout)
    }

    // MARK: - Archive recovery (standby with restore_command)

    /// xlogrecovery.c's WaitForWALToBecomeAvailable: a standby that is not streaming tries the
    /// archive for the next segments every wal_retrieve_retry_interval, following the newest
    /// timeline there (recovery_target_timeline = 'latest').
    mutating func restorePoll(_ env: PgEnv) {
        guard config.restoreCommand, state == .running, inRecovery, !promoting else { restorePolling = false; return }
        if !restoring, receiver?.streaming != true,
           let avail = env.walArchive.latest(continuing: WalPosition(fork: fork, lsn: receivedLSN), env.walHistory) {
            let seg = Self.walSegmentBytes
            let segments = max(1, (avail.lsn - receivedLSN + seg - 1) / seg)
            restoring = true
            restoringTo = avail
            env.pgTimer(node, after: config.restoreNs * segments, .restoreDone)
        }
        env.pgTimer(node, after: config.walRetrieveRetryIntervalNs, .restorePoll)
    }

    mutating func restoreDone(_ env: PgEnv) {
        guard restoring else { return }
        restoring = false
        guard state == .running, inRecovery, !promoting, restoringTo.lsn > receivedLSN || restoringTo.fork != fork else { return }
        foldReplay(env.now)
        fork = restoringTo.fork
        timeline = env.walHistory.timeline(of: fork) ?? timeline
        receivedLSN = restoringTo.lsn
        flushLSN = restoringTo.lsn
        env.recorder.log(env.now, env.pgName(node), "postgres", "restored",
                         .object([("msg", .string("restored log file \"\(walSegmentName(max(0, restoringTo.lsn - 1)))\" from archive")),
                                  ("timeline", .int(Int64(timeline))), ("lsn", .int(restoringTo.lsn))]))
        if !senders.isEmpty { shipWAL(env) }
    }

    /// Arms the archive and restore loops when the server comes up.
    mutating func startArchiveLoops(_ env: PgEnv) {
        if config.archiveMode && config.archiveTimeoutNs > 0 { env.pgTimer(node, after: config.archiveTimeoutNs, .archiveTimeout) }
        if config.restoreCommand && inRecovery && !restorePolling {
            restorePolling = true
            env.pgTimer(node, after: Nanos(rng.below(UInt64(max(1, config.walRetrieveRetryIntervalNs)))), .restorePoll)
        }
    }
}
