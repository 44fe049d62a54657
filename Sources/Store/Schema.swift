/// The store's schema, as numbered migrations. `PRAGMA user_version` holds how many have run;
/// opening a store runs the missing ones, each in its own transaction.
enum Schema {
    static let migrations: [String] = [
        // 1: the run tables.
        """
        CREATE TABLE sweeps (
            sweep_id        INTEGER PRIMARY KEY,
            key             TEXT NOT NULL UNIQUE,   -- scenario digest + grid + seeds: how --resume finds it
            scenario        TEXT NOT NULL,
            scenario_file   TEXT NOT NULL,
            scenario_sha256 TEXT NOT NULL,
            grid            TEXT NOT NULL,          -- JSON: [{"key": ..., "values": [...]}, ...]
            seeds           INTEGER NOT NULL,
            first_seed      INTEGER NOT NULL,
            simctl_version  TEXT NOT NULL,
            started         TEXT NOT NULL,
            finished        TEXT
        );
        CREATE TABLE runs (
            run_id          INTEGER PRIMARY KEY,
            sweep_id        INTEGER REFERENCES sweeps(sweep_id),
            scenario        TEXT NOT NULL,
            scenario_file   TEXT NOT NULL,
            scenario_sha256 TEXT NOT NULL,
            seed            INTEGER NOT NULL,
            overrides       TEXT NOT NULL,          -- JSON object: {"patroni.ttl": "20", ...}
            simctl_version  TEXT NOT NULL,
            sim_seconds     REAL NOT NULL,
            events          INTEGER NOT NULL,
            wall_seconds    REAL NOT NULL,
            trace_hash      TEXT NOT NULL,
            ok              INTEGER NOT NULL        -- 1 when every expectation held
        );
        CREATE INDEX runs_sweep ON runs(sweep_id);
        CREATE TABLE faults (
            run_id   INTEGER NOT NULL REFERENCES runs(run_id),
            idx      INTEGER NOT NULL,
            kind     TEXT NOT NULL,
            target   TEXT NOT NULL,
            resolved TEXT NOT NULL,
            start_s  REAL NOT NULL,
            end_s    REAL
        );
        CREATE INDEX faults_run ON faults(run_id);
        CREATE TABLE timeline (
            run_id    INTEGER NOT NULL REFERENCES runs(run_id),
            t_s       REAL NOT NULL,
            host      TEXT NOT NULL,
            component TEXT NOT NULL,
            kind      TEXT NOT NULL,
            detail    TEXT NOT NULL               -- JSON
        );
        CREATE INDEX timeline_run ON timeline(run_id, t_s);
        CREATE TABLE findings (
            run_id      INTEGER NOT NULL REFERENCES runs(run_id),
            kind        TEXT NOT NULL,
            fault_index INTEGER,
            start_s     REAL,
            end_s       REAL,
            value       REAL,
            unit        TEXT,
            detail      TEXT                      -- JSON
        );
        CREATE INDEX findings_run ON findings(run_id, kind);
        CREATE TABLE metrics (
            run_id INTEGER NOT NULL REFERENCES runs(run_id),
            name   TEXT NOT NULL,
            value  REAL NOT NULL
        );
        CREATE INDEX metrics_run ON metrics(run_id, name);
        """,
        // 2: each run in a few columns, so that sweeps and `p95 RTO by ttl` are plain SQL.
        """
        ALTER TABLE runs ADD COLUMN point TEXT NOT NULL DEFAULT '{}';  -- JSON: the sweep setting ({"patroni.ttl": "20"})
        ALTER TABLE runs ADD COLUMN rto_s REAL;           -- worst RTO over the faults (0: writes never stopped); NULL: see recovered
        ALTER TABLE runs ADD COLUMN recovered INTEGER;    -- 1: writes came back after every fault, 0: not after one, NULL: nothing measured
        ALTER TABLE runs ADD COLUMN lost_writes INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN lost_bytes INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN split_brain_s REAL NOT NULL DEFAULT 0;  -- longest split-brain kind
        ALTER TABLE runs ADD COLUMN failed_expectations INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX runs_point ON runs(sweep_id, point, seed);
        """,
        // 3: what `simctl show`, `list`, `history` and the HTML report read back: the scenario
        // texts (once each), and per run its findings, hosts, faults and client write series.
        """
        CREATE TABLE scenario_texts (
            sha256 TEXT PRIMARY KEY,
            text   TEXT NOT NULL
        );
        CREATE TABLE run_reports (
            run_id   INTEGER PRIMARY KEY REFERENCES runs(run_id),
            findings TEXT NOT NULL,   -- JSON: the findings exactly as the report shows them
            hosts    TEXT NOT NULL,   -- JSON: [{name, services}]
            faults   TEXT NOT NULL,   -- JSON: [{index, kind, target, resolved, start_ns, end_ns, disrupts}]
            series   TEXT NOT NULL,   -- JSON: the clients' writes per second (acknowledged, failed by cause, latency)
            aborted  TEXT
        );
        """,
        // 4: what background noise cost (`noise:`): for an episode, its tagged event's outcome;
        // otherwise the whole run's, outside injected faults. NULL noise_method: no noise.
        """
        ALTER TABLE runs ADD COLUMN noise_method TEXT;                -- direct | episodes
        ALTER TABLE runs ADD COLUMN noise_events INTEGER;             -- noise events in the run
        ALTER TABLE runs ADD COLUMN noise_rate_per_year REAL;         -- configured events per year, every source and target
        ALTER TABLE runs ADD COLUMN noise_quiet_s REAL;               -- simulated time without an injected fault in force
        ALTER TABLE runs ADD COLUMN false_failovers INTEGER;          -- leader key changed hands with no injected fault in force
        ALTER TABLE runs ADD COLUMN noise_demotions INTEGER;
        ALTER TABLE runs ADD COLUMN leader_lock_failures INTEGER;
        ALTER TABLE runs ADD COLUMN noise_etcd_elections INTEGER;
        ALTER TABLE runs ADD COLUMN noise_downtime_s REAL;            -- write downtime
        ALTER TABLE runs ADD COLUMN noise_lost_writes INTEGER;        -- acknowledged writes lost at false failovers
        ALTER TABLE runs ADD COLUMN noise_weight REAL;                -- an episode's importance weight (rate = noise_rate_per_year × mean of weight × outcome)
        """,
        // 5: episodes stratified by source: the tagged event's source and its rate. With
        // noise_source set, noise_weight is the length's weight alone and a rate is the sum
        // over sources of noise_source_rate_per_year × the source's mean of weight × outcome.
        """
        ALTER TABLE runs ADD COLUMN noise_source INTEGER;             -- 0-based index of the episode's source in the scenario's noise sources
        ALTER TABLE runs ADD COLUMN noise_source_rate_per_year REAL;  -- that source's events per year over every target
        """,
        // 6: `simctl explore`: one row per explored scenario file, one per explored run (its
        // schedule and the properties it failed), one per failure with its shrunk reproducer.
        // A run that failed is also a full row of `runs`.
        """
        CREATE TABLE explorations (
            exploration_id INTEGER PRIMARY KEY,
            scenario_file TEXT NOT NULL,
            scenario_sha256 TEXT NOT NULL,
            seed INTEGER NOT NULL,                    -- the file's exploration seed (--seed + the file's position)
            simctl_version TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            runs INTEGER NOT NULL DEFAULT 0,
            failed_runs INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE explore_runs (
            exploration_id INTEGER NOT NULL REFERENCES explorations(exploration_id),
            run_index INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            kinds TEXT NOT NULL,                      -- JSON array of the fault kinds, in order
            faults TEXT NOT NULL,                     -- the schedule, as scenario-language lines
            events INTEGER NOT NULL,
            trace_hash TEXT NOT NULL,
            failed TEXT NOT NULL,                     -- JSON array of the properties it failed
            run_id INTEGER REFERENCES runs(run_id),   -- set for a failed run
            PRIMARY KEY (exploration_id, run_index)
        );
        CREATE TABLE explore_failures (
            exploration_id INTEGER NOT NULL REFERENCES explorations(exploration_id),
            run_index INTEGER NOT NULL,
            property TEXT NOT NULL,
            detail TEXT NOT NULL,
            faults INTEGER NOT NULL,
            shrunk_faults INTEGER,                    -- NULL: not shrunk (not the property's first failure)
            shrink_runs INTEGER,
            reproducer TEXT,                          -- path of the scenario file written
            replay TEXT                               -- the command that replays it
        );
        CREATE INDEX explore_failures_property ON explore_failures(property);
        """,
    ]
}
