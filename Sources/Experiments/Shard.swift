/// Which slice of a sweep this process runs, read from the batch system that started it
/// (`--shard auto`). Each system numbers its tasks its own way; all become 1-based i of n.
public enum ShardSource {
    public struct Resolved: Sendable, Equatable {
        public var index: Int
        public var count: Int
        /// The variables it came from, for the sweep's output.
        public var source: String
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Where each system puts the task's index (and count, when it says).
    struct System {
        var name: String
        var index: String
        var zeroBased: Bool
        var count: String?
    }

    static let systems = [
        System(name: "simctl", index: "SIMCTL_SHARD_INDEX", zeroBased: false, count: "SIMCTL_SHARD_COUNT"),
        System(name: "Slurm job array", index: "SLURM_ARRAY_TASK_ID", zeroBased: true, count: "SLURM_ARRAY_TASK_COUNT"),
        System(name: "Kubernetes Indexed Job", index: "JOB_COMPLETION_INDEX", zeroBased: true, count: nil),
        System(name: "AWS Batch array job", index: "AWS_BATCH_JOB_ARRAY_INDEX", zeroBased: true, count: nil),
        System(name: "GitLab CI parallel", index: "CI_NODE_INDEX", zeroBased: false, count: "CI_NODE_TOTAL"),
        System(name: "CircleCI parallelism", index: "CIRCLE_NODE_INDEX", zeroBased: true, count: "CIRCLE_NODE_TOTAL"),
        System(name: "Buildkite parallel job", index: "BUILDKITE_PARALLEL_JOB", zeroBased: true, count: "BUILDKITE_PARALLEL_JOB_COUNT"),
    ]

    /// `auto` or `auto/N` (N: the count, for systems that do not tell it). The first system
    /// whose index variable is set decides; a count given and a count the system tells must
    /// agree.
    public static func resolve(_ spec: String, environment env: [String: String]) throws(Failure) -> Resolved {
        var given: Int? = nil
        if spec != "auto" {
            guard spec.hasPrefix("auto/"), let n = Int(spec.dropFirst(5)), n >= 1 else {
                throw Failure(description: "--shard \(spec): expected i/n, auto, or auto/N (N: the number of tasks, for Kubernetes and AWS Batch)")
            }
            given = n
        }
        guard let sys = systems.first(where: { env[$0.index] != nil }) else {
            let names = systems.map(\.index).joined(separator: ", ")
            throw Failure(description: "--shard \(spec): no batch system found: none of \(names) is set. Run under a Kubernetes Indexed Job, a Slurm array, an AWS Batch array job or a CI matrix (set SIMCTL_SHARD_INDEX and SIMCTL_SHARD_COUNT from it), or give --shard i/n")
        }
        let raw = env[sys.index]!
        guard let v = Int(raw.trimmingSpaces), v >= 0 else {
            throw Failure(description: "--shard \(spec): \(sys.index)=\"\(raw)\" (\(sys.name)) is not a task index")
        }
        var index = sys.zeroBased ? v + 1 : v
        // Slurm numbers tasks from the array's first id (`--array=1-8` starts at 1).
        if sys.index == "SLURM_ARRAY_TASK_ID" {
            if let step = env["SLURM_ARRAY_TASK_STEP"], Int(step) != 1 {
                throw Failure(description: "--shard \(spec): SLURM_ARRAY_TASK_STEP=\(step): the array must be contiguous (--array=1-N)")
            }
            let min = Int(env["SLURM_ARRAY_TASK_MIN"] ?? "0") ?? 0
            index = v - min + 1
        }
        var count = given
        if let cv = sys.count, let craw = env[cv] {
            guard let c = Int(craw.trimmingSpaces), c >= 1 else {
                throw Failure(description: "--shard \(spec): \(cv)=\"\(craw)\" (\(sys.name)) is not a task count")
            }
            if let g = given, g != c {
                throw Failure(description: "--shard \(spec): \(cv)=\(c) says \(sys.name) has \(c) tasks, not \(g)")
            }
            count = c
        }
        guard let n = count else {
            throw Failure(description: "--shard \(spec): \(sys.index) is set (\(sys.name)) but not how many tasks there are: give --shard auto/N, N = the number of tasks (the Job's completions, the array's size)")
        }
        guard index >= 1, index <= n else {
            throw Failure(description: "--shard \(spec): \(sys.index)=\(raw) (\(sys.name)) is task \(index) of \(n): out of range")
        }
        let vars = [sys.index] + (sys.count.flatMap { env[$0] != nil ? [$0] : nil } ?? [])
        return Resolved(index: index, count: n, source: "\(sys.name): " + vars.joined(separator: ", "))
    }
}

extension String {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " || s.last == "\n" { s.removeLast() }
        return s
    }
}
