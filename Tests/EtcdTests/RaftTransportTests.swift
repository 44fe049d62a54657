import Testing
import SimCore
@testable import Etcd

/// etcd's rafthttp transport on its own: stream, pipeline, write timeout, dial timeout.
@Suite("rafthttp transport")
struct RaftTransportTests {
    final class Env: RaftTransportEnv {
        var now: Nanos = 0
        var next: UInt32 = 0
        var open: Set<UInt32> = []
        var connecting: Set<UInt32> = []
        var closed: [UInt32] = []
        var dials = 0
        /// What the network does with data on an open connection.
        var delivery = PeerDelivery.arrives
        var sent: [(conn: UInt32, type: RaftMsgType)] = []
        func peerConnOpen(_ c: ConnID) -> Bool { open.contains(c.slot) }
        func peerConnConnecting(_ c: ConnID) -> Bool { connecting.contains(c.slot) }
        func peerSend(_ c: ConnID, from: Int, to: Int, _ m: RaftMessage) -> PeerDelivery {
            sent.append((c.slot, m.type))
            return delivery
        }
        func peerDial(from: Int, to: Int) -> ConnID {
            next += 1
            dials += 1
            connecting.insert(next)
            return ConnID(slot: next, gen: 1)
        }
        func peerClose(_ c: ConnID) {
            open.remove(c.slot)
            connecting.remove(c.slot)
            closed.append(c.slot)
        }
        func connect(_ slot: UInt32) {
            connecting.remove(slot)
            open.insert(slot)
        }
    }

    func msg() -> RaftMessage { RaftMessage(type: .app, from: 0, to: 1, term: 2) }

    @Test("while the stream is dialled, messages queue for the pipeline and go out when it connects; then the stream carries them")
    func pipelineWhileDialling() {
        let env = Env()
        var t = RaftTransport(member: 0, members: 3, electionTimeoutNs: Time.s)
        t.send(to: 1, msg(), env)           // dials the stream (1) and the pipeline (2)
        t.send(to: 1, msg(), env)           // queued behind the pipeline's connect
        #expect(env.dials == 2 && env.sent.isEmpty)
        env.connect(2)
        t.connectionEvent(to: 1, ConnID(slot: 2, gen: 1), .connected, env)
        #expect(env.sent.count == 2 && env.sent.allSatisfy { $0.conn == 2 })
        env.connect(1)
        t.connectionEvent(to: 1, ConnID(slot: 1, gen: 1), .connected, env)
        t.send(to: 1, msg(), env)
        #expect(env.sent.last?.conn == 1)
    }

    @Test("writes held on the stream for 5 s (ConnWriteTimeout) close it; the next message redials")
    func writeTimeout() {
        let env = Env()
        var t = RaftTransport(member: 0, members: 3, electionTimeoutNs: Time.s)
        t.send(to: 2, msg(), env)
        env.connect(1)
        t.connectionEvent(to: 2, ConnID(slot: 1, gen: 1), .connected, env)
        env.delivery = .held
        t.send(to: 2, msg(), env)
        env.now = 4 * Time.s
        t.send(to: 2, msg(), env)
        #expect(env.closed.isEmpty)
        env.now = 5 * Time.s
        t.send(to: 2, msg(), env)
        #expect(env.closed == [1])
        let dials = env.dials
        t.send(to: 2, msg(), env)
        // The stream is dialled again (and the pipeline, whose own connect ran past its dial
        // timeout long ago).
        #expect(env.dials == dials + 2 && env.connecting.count == 2)
    }

    @Test("a stream dial that got nothing within 1 s + election timeout / 5 is abandoned at the next send")
    func dialTimeout() {
        let env = Env()
        var t = RaftTransport(member: 0, members: 3, electionTimeoutNs: 5 * Time.s)   // dial timeout 2 s
        t.send(to: 1, msg(), env)
        env.now = 1900 * Time.ms
        t.send(to: 1, msg(), env)
        #expect(env.dials == 2)              // stream and pipeline, still within the timeout
        env.now = 2 * Time.s
        t.send(to: 1, msg(), env)
        #expect(env.closed.contains(1) && env.closed.contains(2) && env.dials == 4)
    }
}
