import Testing
@testable import Experiments

@Suite("--shard auto: the slice from the batch system")
struct ShardSourceTests {
    func r(_ spec: String, _ env: [String: String]) -> ShardSource.Resolved? { try? ShardSource.resolve(spec, environment: env) }
    func err(_ spec: String, _ env: [String: String]) -> String {
        do { _ = try ShardSource.resolve(spec, environment: env); return "" } catch { return error.description }
    }

    @Test("each system's variables become 1-based i of n")
    func systems() {
        #expect(r("auto", ["SIMCTL_SHARD_INDEX": "2", "SIMCTL_SHARD_COUNT": "4"]).map { [$0.index, $0.count] } == [2, 4])
        #expect(r("auto", ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "16"]).map { [$0.index, $0.count] } == [3, 16])
        #expect(r("auto", ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"]).map { [$0.index, $0.count] } == [1, 4])
        #expect(r("auto/8", ["JOB_COMPLETION_INDEX": "7"]).map { [$0.index, $0.count] } == [8, 8])
        #expect(r("auto/3", ["AWS_BATCH_JOB_ARRAY_INDEX": "0"]).map { [$0.index, $0.count] } == [1, 3])
        #expect(r("auto", ["CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "5"]).map { [$0.index, $0.count] } == [2, 5])
        #expect(r("auto", ["CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "2"]).map { [$0.index, $0.count] } == [1, 2])
        #expect(r("auto", ["BUILDKITE_PARALLEL_JOB": "1", "BUILDKITE_PARALLEL_JOB_COUNT": "2"]).map { [$0.index, $0.count] } == [2, 2])
        #expect(r("auto/8", ["JOB_COMPLETION_INDEX": "7"])?.source == "Kubernetes Indexed Job: JOB_COMPLETION_INDEX")
    }

    @Test("refusals say what is missing or wrong")
    func refusals() {
        #expect(err("auto", [:]).contains("no batch system found: none of SIMCTL_SHARD_INDEX"))
        #expect(err("auto", ["JOB_COMPLETION_INDEX": "1"]).contains("give --shard auto/N"))
        #expect(err("auto/4", ["JOB_COMPLETION_INDEX": "4"]).contains("out of range"))
        #expect(err("auto/3", ["CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "4"]).contains("has 4 tasks, not 3"))
        #expect(err("auto", ["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"]).contains("is not a task index"))
        #expect(err("auto", ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "2"]).contains("contiguous"))
        #expect(err("autox", [:]).contains("expected i/n, auto, or auto/N"))
    }
}
