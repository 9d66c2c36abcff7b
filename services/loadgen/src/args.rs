//! The command line: what a run measures, against which services, at what rate.

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Request latencies of the operations in --mix.
    Mix,
    /// Register --volunteers volunteers at --rate (spread over Germany), then stop.
    Seed,
    /// Task created -> first OFFERED match in a dashboard poll, tasks at --rate.
    E2eTask,
    /// Registration -> volunteer in matching's index (GetIncidentSummary of probe incidents).
    E2eRegister,
    /// Server time of dashboard polls with nothing new (matching's /metrics histogram).
    EmptyPoll,
}

/// Where registered volunteers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Spread {
    /// Within about 20 km of Bad Neuenahr-Ahrweiler, all with sandbag filling and lifting.
    Ahr,
    /// A fifth around Bad Neuenahr-Ahrweiler, half around large cities, the rest anywhere in
    /// Germany; skills from the taxonomy with realistic rarity.
    Germany,
}

/// Drive the services at a constant arrival rate and report latency percentiles.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "spontan-load", version)]
pub struct Args {
    /// What to measure (see the crate documentation).
    #[arg(long, value_enum, default_value_t = Mode::Mix)]
    pub mode: Mode,
    /// Volunteers to register in --mode seed.
    #[arg(long, default_value_t = 100_000)]
    pub volunteers: u64,
    /// Where registered volunteers live (register operations and --mode seed, which defaults
    /// to germany).
    #[arg(long, value_enum)]
    pub spread: Option<Spread>,
    /// Milliseconds between dashboard polls while waiting in the e2e modes.
    #[arg(long, default_value_t = 5)]
    pub poll_interval_ms: u64,
    /// Seconds e2e-task waits after the last task for offers still outstanding.
    #[arg(long, default_value_t = 30)]
    pub settle: u64,
    /// Probe incidents of e2e-register (registrations are spread over them).
    #[arg(long, default_value_t = 64)]
    pub probes: usize,
    /// Matching's metrics endpoint (host:port), read by empty-poll.
    #[arg(long, default_value = "127.0.0.1:9103")]
    pub metrics: String,
    /// Incident whose feed empty-poll polls (default: a new one).
    #[arg(long)]
    pub incident: Option<String>,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub registration: String,
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    pub task: String,
    #[arg(long, default_value = "http://127.0.0.1:50053")]
    pub matching: String,
    /// Requests per second, all operations together.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seconds of measured load (after the warm-up).
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Seconds of load before measuring starts (connections, caches, JIT of the planner).
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Weights of the operations: register, poll (dashboard ListMatchChanges), create-task.
    #[arg(long, default_value = "register=1")]
    pub mix: String,
    /// HTTP/2 connections per service (requests are spread over them).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Requests allowed in flight before new ones count as client overload errors.
    #[arg(long, default_value_t = 20_000)]
    pub max_in_flight: u64,
    /// Base64 dev signing key, for coordinator/dashboard tokens (poll, create-task).
    #[arg(long, env = "SPONTAN_DEV_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
    #[arg(long, default_value = "load-test-org")]
    pub organisation: String,
    /// Consent text version the registration service accepts.
    #[arg(
        long,
        env = "SPONTAN_PRIVACY__CONSENT_TEXT_VERSION",
        default_value = "2025-06-de"
    )]
    pub consent_version: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}
