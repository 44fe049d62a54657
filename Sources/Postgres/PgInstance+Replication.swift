import SimCore
import Recording

extension PgInstance {
    /// Largest chunk of WAL a walsender hands to its socket at once (the walsender sends
    /// XLogData messages of up to `MAX_SEND_SIZE`, 128 kB, back to back; 1 MB groups eight of
    /// them into one simulated message).
    static let sendChunkBytes: Int64 = 1 << 20

    // MARK: - Connections this server opened

    mutating func connectionEvent(_ c: ConnID, _ e: ConnEvent, _ env: PgEnv) {
        if c == rewindConn {
            rewindConnEvent(e, env)
            return
        }
        if c == backupConn {
            switch e {
            case .connected: backupConnected(env)
            case .refused: backupFailed(.refused, env)
            case .timedOut: backupFailed(.timeout, env)
            case .reset: backupFailed(.sourceLost, env)
            }
            return
        }
        if let r = receiver, r.conn == c {
            switch e {
            case .connected:
                receiver!.connected = true
                receiver!.lastRecv = env.now
                env.pgSend(c, from: node, .replStart(epoch: r.epoch, standby: Int16(node), at: WalPosition(fork: fork, lsn: flushLSN)), transmitNs: 0)
                env.pgTimer(node, after: config.walReceiverTimeoutNs, .receiverCheck(epoch: r.epoch))
            case .refused, .timedOut:
                // "could not connect to the primary server": retried after wal_retrieve_retry_interval.
                receiverLost(r, reason: e == .refused ? "connection refused" : "connection timed out", env)
            case .reset:
                receiverLost(r, reason: "connection reset", env)
            }
            return
        }
        if e == .reset, let i = senders.firstIndex(where: { $0.conn == c }) {
            // The walreceiver's end went away (its process died on a live host).
            senders.remove(at: i)
            return
        }
        if e == .reset, let s = sessions.first(where: { $0.conn == c }) {
            // A client's connection reset: its backend exits.
            sessionGone(s.id, env)
        }
    }

    // MARK: - Walreceiver (standby side)

    /// Points the walreceiver at another upstream (Patroni rewrites primary_conninfo and reloads;
    /// the walreceiver restarts). nil: no upstream, streaming stops.
    public mutating func setUpstream(_ u: Int?, _ env: PgEnv) {
        guard upstream != u else { return }
        upstream = u
        guard state == .running, inRecovery, !promoting else { return }
        stopReceiver(env)
        startReceiver(env)
    }

    /// The walreceiver connects to its upstream (libpq, no connect_timeout: a cut path costs
    /// the kernel's SYN retries).
    mutating func startReceiver(_ env: PgEnv) {
        guard state == .running, inRecovery, !promoting, receiver == nil, let up = upstream, up != node else { return }
        epochSeq &+= 1
        let epoch = UInt32(node) << 24 | (epochSeq & 0xFF_FFFF)
        let c = env.pgConnect(from: node, to: up)
        receiver = Receiver(epoch: epoch, upstream: up, conn: c, connected: false, streaming: false, lastRecv: env.now, pingSent: false)
    }

    /// The walreceiver exits: its connection is closed (the walsender sees the end of it).
    mutating func stopReceiver(_ env: PgEnv) {
        if let r = receiver {
            if r.connected { env.pgSend(r.conn, from: node, .replBroken(epoch: r.epoch), transmitNs: 0) }
            env.pgClose(r.conn)
        }
        receiver = nil
    }

    /// The walreceiver lost its connection; the startup process starts a new one after
    /// wal_retrieve_retry_interval.
    mutating func receiverLost(_ r: Receiver, reason: String, _ env: PgEnv) {
        env.pgClose(r.conn)
        receiver = Receiver(epoch: r.epoch, upstream: r.upstream, conn: .none, connected: false, streaming: false, lastRecv: env.now, pingSent: false)
        env.pgTimer(node, after: config.walRetrieveRetryIntervalNs, .reconnect(r.epoch))
    }

    mutating func replAccepted(_ e: UInt32, fork f: UInt32, timeline tl: Int, _ env: PgEnv) {
        guard var r = receiver, r.epoch == e else { return }
        r.streaming = true
        r.lastRecv = env.now
        receiver = r
        // Our WAL is a prefix of the upstream's history: we follow its timeline from here.
        if fork != f {
            fork = f
            timeline = tl
        }
        env.recorder.log(env.now, env.pgName(node), "postgres", "streaming", .object([("from", .string(env.pgName(r.upstream))), ("timeline", .int(Int64(tl))), ("lsn", .int(flushLSN))]))
        // The status messages keep their own phase (`wal_receiver_status_interval`).
        env.pgTimer(node, after: Nanos(rng.below(UInt64(max(1, config.walReceiverStatusIntervalNs)))), .statusInterval(epoch: e))
    }

    mutating func replRefused(_ e: UInt32, _ why: ReplRefusal, _ env: PgEnv) {
        guard let r = receiver, r.epoch == e else { return }
        if why == .diverged {
            env.recorder.log(env.now, env.pgName(node), "postgres", "streaming_refused",
                             .object([("from", .string(env.pgName(r.upstream))), ("why", "requested starting point is not in the upstream's history (timelines diverged)")]))
        } else if why == .walRemoved {
            env.recorder.log(env.now, env.pgName(node), "postgres", "streaming_refused",
                             .object([("from", .string(env.pgName(r.upstream))),
                                      ("why", .string("could not receive data from WAL stream: ERROR:  requested WAL segment \(walSegmentName(flushLSN)) has already been removed"))]))
        }
        receiverLost(r, reason: "refused", env)
    }

    mutating func walData(_ e: UInt32, start: Int64, end: Int64, fork f: UInt32, timeline tl: Int, _ env: PgEnv) {
        guard var r = receiver, r.epoch == e, r.streaming else { return }
        r.lastRecv = env.now
        r.pingSent = false
        receiver = r
        if f != fork {
            fork = f
            timeline = tl
        }
        guard end > receivedLSN, start <= receivedLSN else { return }
        if walDiskFull(upTo: end) {
            // The walreceiver's write fails (FATAL, it exits); the startup process starts a new
            // one after wal_retrieve_retry_interval, which fails the same way while pg_wal is full.
            env.recorder.log(env.now, env.pgName(node), "postgres", "wal_disk_full",
                             .object([("msg", .string("FATAL:  could not write to log segment \(walSegmentName(receivedLSN)): No space left on device"))]))
            if r.streaming { env.pgSend(r.conn, from: node, .replBroken(epoch: r.epoch), transmitNs: 0) }
            receiverLost(r, reason: "No space left on device", env)
            return
        }
        receivedLSN = end
        // Written to the OS; a reply with the write position goes out before the flush when the
        // primary waits for remote_write (otherwise the flush reply carries it too).
        if config.synchronousCommit == .remoteWrite { sendReply(env, requestReply: false) }
        if !standbyFlushing {
            standbyFlushing = true
            standbyFlushingTo = receivedLSN
            env.pgTimer(node, after: fsyncNs(env.now), .standbyFlushDone(0))
        }
    }

    mutating func standbyFlushDone(_ env: PgEnv) {
        standbyFlushing = false
        guard state == .running, inRecovery else { return }
        foldReplay(env.now)
        flushLSN = max(flushLSN, standbyFlushingTo)
        // Restartpoints, too, come after max_wal_size of WAL (`XLogCheckpointNeeded`).
        if flushLSN - checkpointLSN > config.maxWalSizeBytes {
            checkpointLSN = replayLSN(env.now)
            removeOldWal(env)
        }
        if config.replayDelayNs > 0 {
            flushTimes.append((env.now, flushLSN))
            if flushTimes.count > 256 { flushTimes.removeFirst(128) }
        }
        sendReply(env, requestReply: false)
        // A cascading standby's walsenders send what it has flushed (`GetStandbyFlushRecPtr`).
        if !senders.isEmpty { shipWAL(env) }
        if config.synchronousCommit == .remoteApply {
            // The startup process wakes the walreceiver when it replays a commit that asked for
            // apply feedback.
            let lag = replayTime(max(0, flushLSN - replayAt)) + config.replayDelayNs
            env.pgTimer(node, after: lag, .applyReached(flushLSN))
        }
        if receivedLSN > flushLSN {
            standbyFlushing = true
            standbyFlushingTo = receivedLSN
            env.pgTimer(node, after: fsyncNs(env.now), .standbyFlushDone(0))
        }
    }

    mutating func sendReply(_ env: PgEnv, requestReply: Bool) {
        guard let r = receiver, r.streaming else { return }
        env.pgSend(r.conn, from: node, .standbyReply(epoch: r.epoch, write: receivedLSN, flush: flushLSN, apply: replayLSN(env.now), replyRequested: requestReply), transmitNs: 0)
    }

    mutating func keepalive(_ e: UInt32, requestReply: Bool, _ env: PgEnv) {
        guard var r = receiver, r.epoch == e else { return }
        r.lastRecv = env.now
        r.pingSent = false
        receiver = r
        if requestReply { sendReply(env, requestReply: false) }
    }

    /// `wal_receiver_timeout`: ping at half of it, give up at all of it ("terminating
    /// walreceiver due to timeout"). Before streaming starts there is nothing to ping: the
    /// check waits the whole timeout (it used to re-arm every millisecond).
    mutating func receiverCheck(_ e: UInt32, _ env: PgEnv) {
        guard var r = receiver, r.epoch == e, r.connected else { return }
        let idle = env.now - r.lastRecv
        if idle >= config.walReceiverTimeoutNs {
            env.recorder.log(env.now, env.pgName(node), "postgres", "walreceiver_timeout", .object([("upstream", .string(env.pgName(r.upstream)))]))
            if r.streaming { env.pgSend(r.conn, from: node, .replBroken(epoch: r.epoch), transmitNs: 0) }
            receiverLost(r, reason: "timeout", env)
            return
        }
        if idle >= config.walReceiverTimeoutNs / 2 && !r.pingSent && r.streaming {
            r.pingSent = true
            receiver = r
            sendReply(env, requestReply: true)
        }
        let next = r.pingSent || !r.streaming ? r.lastRecv + config.walReceiverTimeoutNs : r.lastRecv + config.walReceiverTimeoutNs / 2
        env.pgTimer(node, after: max(Time.ms, next - env.now), .receiverCheck(epoch: e))
    }

    // MARK: - Walsender (upstream side)

    /// START_REPLICATION: refused unless the standby's position lies on this server's history.
    mutating func replStart(_ e: UInt32, standby: Int, at: WalPosition, conn: ConnID, _ env: PgEnv) {
        guard state == .running, !promoting else {
            env.pgSend(conn, from: node, .replRefused(epoch: e, reason: .notReady), transmitNs: 0)
            return
        }
        let myEnd = WalPosition(fork: fork, lsn: inRecovery ? receivedLSN : flushLSN)
        guard env.walHistory.contains(myEnd, at) else {
            env.pgSend(conn, from: node, .replRefused(epoch: e, reason: .diverged), transmitNs: 0)
            return
        }
        guard at.lsn >= walStart else {
            env.pgSend(conn, from: node, .replRefused(epoch: e, reason: .walRemoved), transmitNs: 0)
            return
        }
        for s in senders where s.standby == standby { env.pgClose(s.conn) }
        senders.removeAll { $0.standby == standby }
        senders.append(Sender(epoch: e, standby: standby, name: env.pgName(standby), streaming: false, sent: at.lsn,
                              write: at.lsn, flush: at.lsn, apply: at.lsn, lastReply: env.now, conn: conn, busyUntil: env.now))
        refreshSyncPriorities()
        env.pgSend(conn, from: node, .replAccepted(epoch: e, fork: fork, timeline: Int32(timeline)), transmitNs: 0)
        env.pgTimer(node, after: config.walSenderTimeoutNs / 2, .senderCheck(epoch: e))
        shipWAL(env)
    }

    /// Each walsender sends the WAL flushed since it last sent. A standby counts as streaming
    /// (eligible as synchronous) once it has caught up.
    mutating func shipWAL(_ env: PgEnv) {
        for i in senders.indices { ship(i, env) }
    }

    /// Hands the next chunk to the socket at the link's bandwidth; a walsender with more to
    /// send comes back when the chunk has left (`senderSend`), so that a large backlog streams
    /// continuously instead of arriving as one message.
    mutating func ship(_ i: Int, _ env: PgEnv) {
        let end = flushLSN
        let s = senders[i]
        // What a walsender sends also counts against this standby's slot: it advances with the
        // standby's flush feedback (`standbyReply`).
        if s.sent < end && !s.sendPending {
            let bytes = min(end - s.sent, Self.sendChunkBytes)
            let tx = Nanos(Double(bytes) / config.bandwidthBytesPerS * 1e9)
            env.pgSend(s.conn, from: node, .walData(epoch: s.epoch, start: s.sent, end: s.sent + bytes, fork: fork, timeline: Int32(timeline)), transmitNs: tx)
            senders[i].sent += bytes
            senders[i].busyUntil = max(env.now, s.busyUntil) + tx
            if senders[i].sent < end {
                senders[i].sendPending = true
                env.pgTimer(node, after: senders[i].busyUntil - env.now, .senderSend(epoch: s.epoch))
            }
        }
        if !senders[i].streaming && senders[i].sent >= end { senders[i].streaming = true }
    }

    mutating func senderSend(_ e: UInt32, _ env: PgEnv) {
        guard let i = senders.firstIndex(where: { $0.epoch == e }) else { return }
        senders[i].sendPending = false
        ship(i, env)
    }

    /// Closes every walsender's connection (a stop, a promotion's end of recovery is not one).
    mutating func closeSenders(_ env: PgEnv) {
        for s in senders { env.pgClose(s.conn) }
        senders.removeAll()
    }

    mutating func standbyReply(_ e: UInt32, write: Int64, flush: Int64, apply: Int64, requestReply: Bool, _ env: PgEnv) {
        guard let i = senders.firstIndex(where: { $0.epoch == e }) else { return }
        senders[i].write = max(senders[i].write, write)
        senders[i].flush = max(senders[i].flush, flush)
        senders[i].apply = max(senders[i].apply, apply)
        senders[i].lastReply = env.now
        // A physical slot's restart_lsn follows the flush position the standby reports
        // (PhysicalConfirmReceivedLocation).
        advanceSlot(Int16(senders[i].standby), to: senders[i].flush)
        if requestReply {
            env.pgSend(senders[i].conn, from: node, .keepalive(epoch: e, end: flushLSN, replyRequested: false), transmitNs: 0)
        }
        releaseSyncWaiters(env)
    }

    /// `wal_sender_timeout`: a keepalive asking for a reply at half of it; the connection is
    /// terminated at all of it ("terminating walsender process due to replication timeout"):
    /// what it had not delivered is gone with it.
    mutating func senderCheck(_ e: UInt32, _ env: PgEnv) {
        guard let i = senders.firstIndex(where: { $0.epoch == e }) else { return }
        let idle = env.now - senders[i].lastReply
        if idle >= config.walSenderTimeoutNs {
            let s = senders.remove(at: i)
            env.pgClose(s.conn)
            env.recorder.log(env.now, env.pgName(node), "postgres", "walsender_timeout", .object([("standby", .string(s.name))]))
            return
        }
        if idle >= config.walSenderTimeoutNs / 2 {
            env.pgSend(senders[i].conn, from: node, .keepalive(epoch: e, end: flushLSN, replyRequested: true), transmitNs: 0)
        }
        let next = idle >= config.walSenderTimeoutNs / 2 ? senders[i].lastReply + config.walSenderTimeoutNs : senders[i].lastReply + config.walSenderTimeoutNs / 2
        env.pgTimer(node, after: max(Time.ms, next - env.now), .senderCheck(epoch: e))
    }

    /// The other end ended the replication connection.
    mutating func replBroken(_ e: UInt32, _ env: PgEnv) {
        if let i = senders.firstIndex(where: { $0.epoch == e }) {
            env.pgClose(senders[i].conn)
            senders.remove(at: i)
            return
        }
        if let r = receiver, r.epoch == e {
            receiverLost(r, reason: "the walsender ended the connection", env)
        }
    }
}
