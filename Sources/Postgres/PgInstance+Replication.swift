import SimCore
import Recording

extension PgInstance {
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

    mutating func startReceiver(_ env: PgEnv) {
        guard state == .running, inRecovery, !promoting, receiver == nil, let up = upstream, up != node else { return }
        epochSeq &+= 1
        let epoch = UInt32(node) << 24 | (epochSeq & 0xFF_FFFF)
        switch env.pgConnect(from: node, to: up) {
        case .accepted:
            receiver = Receiver(epoch: epoch, upstream: up, streaming: false, lastRecv: env.now, pingSent: false)
            env.pgSendToNode(from: node, to: up, .replStart(epoch: epoch, standby: Int16(node), at: WalPosition(fork: fork, lsn: flushLSN)), transmitNs: 0)
            env.pgTimer(node, after: config.walReceiverTimeoutNs / 2, .receiverCheck(epoch: epoch))
        case .refused(let rtt):
            // "could not connect to the primary server": retried after wal_retrieve_retry_interval.
            receiver = Receiver(epoch: epoch, upstream: up, streaming: false, lastRecv: env.now, pingSent: false)
            env.pgTimer(node, after: rtt + config.walRetrieveRetryIntervalNs, .reconnect(epoch))
        case .noAnswer:
            // Gives up on the connect after a libpq connect timeout, then waits the retry interval.
            receiver = Receiver(epoch: epoch, upstream: up, streaming: false, lastRecv: env.now, pingSent: false)
            env.pgTimer(node, after: 10 * Time.s + config.walRetrieveRetryIntervalNs, .reconnect(epoch))
        }
    }

    mutating func stopReceiver(_ env: PgEnv) {
        if let r = receiver {
            env.pgCloseReplication(standby: node, upstream: r.upstream, epoch: r.epoch)
            env.pgSendToNode(from: node, to: r.upstream, .replBroken(epoch: r.epoch), transmitNs: 0)
        }
        receiver = nil
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
        env.pgOpenReplication(standby: node, upstream: r.upstream, epoch: e)
        env.recorder.log(env.now, env.pgName(node), "postgres", "streaming", .object([("from", .string(env.pgName(r.upstream))), ("timeline", .int(Int64(tl))), ("lsn", .int(flushLSN))]))
        env.pgTimer(node, after: config.walReceiverStatusIntervalNs, .statusInterval(epoch: e))
    }

    mutating func replRefused(_ e: UInt32, _ why: ReplRefusal, _ env: PgEnv) {
        guard let r = receiver, r.epoch == e else { return }
        if why == .diverged {
            env.recorder.log(env.now, env.pgName(node), "postgres", "streaming_refused",
                             .object([("from", .string(env.pgName(r.upstream))), ("why", "requested starting point is not in the upstream's history (timelines diverged)")]))
        }
        env.pgTimer(node, after: config.walRetrieveRetryIntervalNs, .reconnect(e))
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
        receivedLSN = end
        // Written to the OS; a reply with the write position goes out before the flush when the
        // primary waits for remote_write (otherwise the flush reply carries it too).
        if config.synchronousCommit == .remoteWrite { sendReply(env, requestReply: false) }
        if !standbyFlushing {
            standbyFlushing = true
            standbyFlushingTo = receivedLSN
            env.pgTimer(node, after: walFsync.sample(&rng), .standbyFlushDone(0))
        }
    }

    mutating func standbyFlushDone(_ env: PgEnv) {
        standbyFlushing = false
        guard state == .running, inRecovery else { return }
        foldReplay(env.now)
        flushLSN = max(flushLSN, standbyFlushingTo)
        if config.replayDelayNs > 0 {
            flushTimes.append((env.now, flushLSN))
            if flushTimes.count > 256 { flushTimes.removeFirst(128) }
        }
        sendReply(env, requestReply: false)
        if config.synchronousCommit == .remoteApply {
            // The startup process wakes the walreceiver when it replays a commit that asked for
            // apply feedback.
            let lag = replayTime(max(0, flushLSN - replayAt)) + config.replayDelayNs
            env.pgTimer(node, after: lag, .applyReached(flushLSN))
        }
        if receivedLSN > flushLSN {
            standbyFlushing = true
            standbyFlushingTo = receivedLSN
            env.pgTimer(node, after: walFsync.sample(&rng), .standbyFlushDone(0))
        }
    }

    mutating func sendReply(_ env: PgEnv, requestReply: Bool) {
        guard let r = receiver, r.streaming else { return }
        env.pgSendToNode(from: node, to: r.upstream,
                         .standbyReply(epoch: r.epoch, write: receivedLSN, flush: flushLSN, apply: replayLSN(env.now), replyRequested: requestReply), transmitNs: 0)
    }

    mutating func keepalive(_ e: UInt32, requestReply: Bool, _ env: PgEnv) {
        guard var r = receiver, r.epoch == e else { return }
        r.lastRecv = env.now
        r.pingSent = false
        receiver = r
        if requestReply { sendReply(env, requestReply: false) }
    }

    /// `wal_receiver_timeout`: ping at half of it, give up at all of it.
    mutating func receiverCheck(_ e: UInt32, _ env: PgEnv) {
        guard var r = receiver, r.epoch == e else { return }
        let idle = env.now - r.lastRecv
        if idle >= config.walReceiverTimeoutNs {
            env.recorder.log(env.now, env.pgName(node), "postgres", "walreceiver_timeout", .object([("upstream", .string(env.pgName(r.upstream)))]))
            stopReceiver(env)
            env.pgTimer(node, after: config.walRetrieveRetryIntervalNs, .reconnect(e))
            receiver = Receiver(epoch: e, upstream: r.upstream, streaming: false, lastRecv: env.now, pingSent: false)
            return
        }
        if idle >= config.walReceiverTimeoutNs / 2 && !r.pingSent && r.streaming {
            r.pingSent = true
            receiver = r
            sendReply(env, requestReply: true)
        }
        let next = r.pingSent ? r.lastRecv + config.walReceiverTimeoutNs : r.lastRecv + config.walReceiverTimeoutNs / 2
        env.pgTimer(node, after: max(Time.ms, next - env.now), .receiverCheck(epoch: e))
    }

    // MARK: - Walsender (upstream side)

    /// START_REPLICATION: refused unless the standby's position lies on this server's history.
    mutating func replStart(_ e: UInt32, standby: Int, at: WalPosition, _ env: PgEnv) {
        guard state == .running, !promoting else {
            env.pgSendToNode(from: node, to: standby, .replRefused(epoch: e, reason: .notReady), transmitNs: 0)
            return
        }
        let myEnd = WalPosition(fork: fork, lsn: inRecovery ? receivedLSN : flushLSN)
        guard env.recorder.contains(myEnd, at) else {
            env.pgSendToNode(from: node, to: standby, .replRefused(epoch: e, reason: .diverged), transmitNs: 0)
            return
        }
        senders.removeAll { $0.standby == standby }
        senders.append(Sender(epoch: e, standby: standby, name: env.pgName(standby), streaming: false, sent: at.lsn,
                              write: at.lsn, flush: at.lsn, apply: at.lsn, lastReply: env.now, busyUntil: env.now))
        refreshSyncPriorities()
        env.pgSendToNode(from: node, to: standby, .replAccepted(epoch: e, fork: fork, timeline: Int32(timeline)), transmitNs: 0)
        env.pgTimer(node, after: config.walSenderTimeoutNs / 2, .senderCheck(epoch: e))
        shipWAL(env)
    }

    /// Sends each walsender the WAL flushed since it last sent, at the link's bandwidth. A
    /// standby counts as streaming (eligible as synchronous) once it has caught up.
    mutating func shipWAL(_ env: PgEnv) {
        let end = inRecovery ? flushLSN : flushLSN
        for i in senders.indices {
            if senders[i].sent < end {
                let bytes = end - senders[i].sent
                let start = max(env.now, senders[i].busyUntil)
                let tx = Nanos(Double(bytes) / config.bandwidthBytesPerS * 1e9)
                senders[i].busyUntil = start + tx
                env.pgSendToNode(from: node, to: senders[i].standby,
                                 .walData(epoch: senders[i].epoch, start: senders[i].sent, end: end, fork: fork, timeline: Int32(timeline)),
                                 transmitNs: start + tx - env.now)
                senders[i].sent = end
            }
            if !senders[i].streaming && senders[i].sent >= end { senders[i].streaming = true }
        }
    }

    mutating func standbyReply(_ e: UInt32, write: Int64, flush: Int64, apply: Int64, requestReply: Bool, _ env: PgEnv) {
        guard let i = senders.firstIndex(where: { $0.epoch == e }) else { return }
        senders[i].write = max(senders[i].write, write)
        senders[i].flush = max(senders[i].flush, flush)
        senders[i].apply = max(senders[i].apply, apply)
        senders[i].lastReply = env.now
        if requestReply {
            env.pgSendToNode(from: node, to: senders[i].standby, .keepalive(epoch: e, end: flushLSN, replyRequested: false), transmitNs: 0)
        }
        releaseSyncWaiters(env)
    }

    /// `wal_sender_timeout`: a keepalive asking for a reply at half of it; the connection is
    /// terminated at all of it ("terminating walsender process due to replication timeout").
    mutating func senderCheck(_ e: UInt32, _ env: PgEnv) {
        guard let i = senders.firstIndex(where: { $0.epoch == e }) else { return }
        let idle = env.now - senders[i].lastReply
        if idle >= config.walSenderTimeoutNs {
            let s = senders.remove(at: i)
            env.pgCloseReplication(standby: s.standby, upstream: node, epoch: e)
            env.recorder.log(env.now, env.pgName(node), "postgres", "walsender_timeout", .object([("standby", .string(s.name))]))
            return
        }
        if idle >= config.walSenderTimeoutNs / 2 {
            env.pgSendToNode(from: node, to: senders[i].standby, .keepalive(epoch: e, end: flushLSN, replyRequested: true), transmitNs: 0)
        }
        let next = idle >= config.walSenderTimeoutNs / 2 ? senders[i].lastReply + config.walSenderTimeoutNs : senders[i].lastReply + config.walSenderTimeoutNs / 2
        env.pgTimer(node, after: max(Time.ms, next - env.now), .senderCheck(epoch: e))
    }

    mutating func replBroken(_ e: UInt32, _ env: PgEnv) {
        if let i = senders.firstIndex(where: { $0.epoch == e }) {
            senders.remove(at: i)
            return
        }
        if let r = receiver, r.epoch == e {
            receiver = nil
            env.pgTimer(node, after: config.walRetrieveRetryIntervalNs, .reconnect(e))
            receiver = Receiver(epoch: e, upstream: r.upstream, streaming: false, lastRecv: env.now, pingSent: false)
        }
    }
}
