import ArgumentParser
import Foundation
import SimCore
import Scenario

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write a scenario from the real patroni.yml, haproxy.cfg, etcd, keepalived and PgBouncer files a cluster runs with.",
        discussion: """
        Reads each file in its own syntax (Patroni's YAML, HAProxy's configuration grammar, etcd's YAML, ETCD_* environment file or command line, keepalived.conf, pgbouncer.ini) and writes a scenario that `simctl run` accepts as it is: the topology (etcd on the DB nodes when its members are the Patroni nodes, on hosts of its own otherwise), every setting with its value and the file and line it came from, a default workload and an example fault.

        Settings that do not change failover timing or data loss (pg_hba, initdb, TLS, logging, memory) are listed at the end with why. A mistake in a file is reported in that file's terms (haproxy.cfg:23:21: backend pg_primary: server node1: 'inter 3x': expected a time such as 3s) and nothing is written.

        A scenario can also name the files directly, so that it follows the production files: cluster: {patroni: [conf/node1.yml, conf/node2.yml], haproxy: conf/haproxy.cfg, etcd: [conf/etcd1.conf]}.
        """
    )

    @Option(name: .customLong("patroni"), parsing: .upToNextOption, help: ArgumentHelp("A node's patroni.yml (repeat for each node; one file alone is a template for every node).", valueName: "file"))
    var patroni: [String] = []

    @Option(name: .customLong("haproxy"), parsing: .upToNextOption, help: ArgumentHelp("An haproxy.cfg (repeat for each HAProxy host).", valueName: "file"))
    var haproxy: [String] = []

    @Option(name: .customLong("etcd"), parsing: .upToNextOption, help: ArgumentHelp("An etcd member's configuration: YAML, an ETCD_* environment file or a command line (repeat for each member).", valueName: "file"))
    var etcd: [String] = []

    @Option(name: .customLong("keepalived"), parsing: .upToNextOption, help: ArgumentHelp("A keepalived.conf (repeat for each HAProxy host it runs on).", valueName: "file"))
    var keepalived: [String] = []

    @Option(name: .customLong("pgbouncer"), help: ArgumentHelp("A pgbouncer.ini, run on every HAProxy host.", valueName: "file"))
    var pgbouncer: String?

    @Option(name: .customLong("lb"), help: ArgumentHelp("A cloud load balancer's health check (Linode NodeBalancer or AWS target group settings, YAML or JSON), instead of HAProxy.", valueName: "file"))
    var lb: String?

    @Option(help: "With a single patroni.yml: how many DB nodes run it (default: one per HAProxy server).")
    var nodes: Int?

    @Option(name: .customLong("etcd-version"), help: "etcd's version when no file says it: 3.4, 3.5 or 3.6.")
    var etcdVersion: String?

    @Option(name: .customLong("name"), help: "The scenario's name (default: Patroni's scope).")
    var scenarioName: String?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Write the scenario here (default: print it).", valueName: "file"))
    var output: String?

    func run() throws {
        guard !patroni.isEmpty else { throw InputError(message: "import needs at least one --patroni FILE (a node's patroni.yml)") }
        if haproxy.isEmpty && lb == nil && !keepalived.isEmpty { throw InputError(message: "--keepalived fronts HAProxy: give --haproxy too") }
        if !haproxy.isEmpty && lb != nil { throw InputError(message: "--haproxy and --lb: give one front (HAProxy, or a cloud load balancer)") }
        if let n = nodes, !(1...9).contains(n) { throw InputError(message: "--nodes \(n): expected 1 to 9") }
        if let v = etcdVersion, !["3.4", "3.5", "3.6"].contains(v) { throw InputError(message: "--etcd-version \(v): expected 3.4, 3.5 or 3.6") }
        if let o = output { try checkWritable(o, option: "--output") }
        func read(_ path: String, _ option: String) throws -> ConfigFile {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw InputError(message: "\(option) \(path): no such file") }
            if isDir.boolValue { throw InputError(message: "\(option) \(path): is a folder; give the configuration file") }
            guard let text = FileSource.disk.read(path) else { throw InputError(message: "\(option) \(path): cannot read the file") }
            return ConfigFile(path: path, text: text)
        }
        var input = ImportInput()
        input.patroni = try patroni.map { try read($0, "--patroni") }
        input.haproxy = try haproxy.map { try read($0, "--haproxy") }
        input.etcd = try etcd.map { try read($0, "--etcd") }
        input.keepalived = try keepalived.map { try read($0, "--keepalived") }
        input.pgbouncer = try pgbouncer.map { try read($0, "--pgbouncer") }
        input.lb = try lb.map { try read($0, "--lb") }
        input.nodes = nodes
        input.etcdVersion = etcdVersion
        let imported = ClusterImport.run(input)
        var errors = imported.errors
        if errors.isEmpty { errors = ClusterImport.validate(imported) }
        if !errors.isEmpty {
            for d in errors { printErr(d.description) }
            printErr("\(errors.count) problem\(errors.count == 1 ? "" : "s") in the configuration files; nothing was written")
            throw ExitCode(2)
        }
        let text = ScenarioWriter.scenario(imported, name: scenarioName)
        // What is written must run: load it as `simctl run` will.
        let target = output ?? "imported.yml"
        if case .failure(let e) = ScenarioLoader.load(text: text, file: target, files: .none) {
            for d in e.diagnostics { printErr(d.description) }
            printErr("the imported scenario does not load; nothing was written")
            throw ExitCode(2)
        }
        for w in imported.diagnostics where w.severity == .warning { printErr(w.description) }
        if let o = output {
            try writeAtomically(text, to: o, option: "--output")
            let hosts = imported.tree["topology"]?["hosts"]?.items?.count ?? 0
            printErr("wrote \(o): \(hosts) hosts, \(imported.notes.count) settings not modelled (listed at its end); run it with: simctl run \(o)")
        } else {
            print(text, terminator: "")
        }
    }
}
