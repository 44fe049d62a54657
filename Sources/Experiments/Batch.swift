import Foundation
import SimCore
import Recording
import Scenario
import Cluster
import Analysis

/// One run to do: a scenario (already carrying its settings) and a seed.
public struct Job: Sendable {
    public var index: Int
    /// Which of the batch's scenarios (a sweep setting, a checked file).
    public var scenario: Int
    public var seed: UInt64
    /// An episode's source, fixed by the sweep's allocation (`EpisodePlan`); nil: as the
    /// scenario says.
    public var episodeSource: Int?
    public init(index: Int, scenario: Int, seed: UInt64, episodeSource: Int? = nil) {
        self.index = index
        self.scenario = scenario
        self.seed = seed
        self.episodeSource = episodeSource
    }
}

public struct JobResult: Sendable {
    public var job: Job
    public var run: RunRecord
    public var findings: Findings
}

/// Runs jobs on `workers` threads — each run single-threaded and independent, as the kernel
/// requires — and hands the results to the caller's thread in completion order, so that the
/// store is written from one thread only.
public enum Batch {
    /// `shouldStop`: polled by every run (about every million events) and between jobs; once
    /// true, no new job starts and the runs in flight end early and are dropped (never handed
    /// to `onResult`), so that what was stored stays complete.
    public static func run(_ jobs: [Job], scenarios: [Scenario], workers: Int,
                           wallClock: @escaping @Sendable () -> Double = { 0 },
                           shouldStop: @escaping @Sendable () -> Bool = { false },
                           _ onResult: (JobResult) throws -> Void) throws {
        if jobs.isEmpty { return }
        let n = max(1, min(workers, jobs.count))
        let state = State(jobs: jobs, workers: n)
        var threads: [Thread] = []
        for _ in 0..<n {
            let t = Thread {
                while let job = state.next() {
                    var s = scenarios[job.scenario]
                    s.seed = job.seed
                    if let e = job.episodeSource { s.noise.episodeSource = e }
                    if shouldStop() { break }
                    let sim = Simulation(scenario: s)
                    sim.shouldStop = shouldStop
                    let record = sim.run(wallClock: wallClock)
                    if record.interrupted { break }
                    let findings = Analyzer.analyze(record, scenario: s)
                    state.finish(JobResult(job: job, run: record, findings: findings))
                }
                state.workerExited()
            }
            t.stackSize = 8 << 20
            threads.append(t)
            t.start()
        }
        var failure: Error? = nil
        while let batch = state.waitForResults() {
            for r in batch where failure == nil {
                do { try onResult(r) } catch {
                    failure = error
                    state.stop()
                }
            }
        }
        if let failure { throw failure }
    }

    /// The shared queue: the next job to take, the results not yet handed over.
    final class State: @unchecked Sendable {
        let cond = NSCondition()
        let jobs: [Job]
        let workerCount: Int
        var nextIndex = 0
        var results: [JobResult] = []
        var exited = 0
        var stopped = false

        init(jobs: [Job], workers: Int) {
            self.jobs = jobs
            workerCount = workers
        }

        func next() -> Job? {
            cond.lock(); defer { cond.unlock() }
            if stopped || nextIndex >= jobs.count { return nil }
            nextIndex += 1
            return jobs[nextIndex - 1]
        }

        func finish(_ r: JobResult) {
            cond.lock()
            results.append(r)
            cond.broadcast()
            cond.unlock()
        }

        func workerExited() {
            cond.lock()
            exited += 1
            cond.broadcast()
            cond.unlock()
        }

        /// No new jobs are taken; those running finish.
        func stop() {
            cond.lock()
            stopped = true
            cond.unlock()
        }

        /// Blocks until results arrive; nil once every worker has exited and all were taken.
        func waitForResults() -> [JobResult]? {
            cond.lock(); defer { cond.unlock() }
            while results.isEmpty && exited < workerCount { cond.wait() }
            if results.isEmpty { return nil }
            defer { results.removeAll() }
            return results
        }
    }
}
