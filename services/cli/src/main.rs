//! `spontan`: the command line of coordinators, dashboards and operators.
//!
//! Layout: this file holds the command tree (clap) and dispatch; [`commands`] talks to the
//! services; [`output`] prints tables or JSON; [`errors`] turns gRPC errors into sentences.
//! Every command reads its endpoints and token from flags or `SPONTAN_*` variables, so a
//! control room can set them once per shell.

mod commands;
mod demo;
mod errors;
mod output;
mod vapid;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Coordinate spontaneous volunteers: incidents, tasks, live matches, drills and tokens.
#[derive(Debug, Parser)]
#[command(name = "spontan", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the services are, who you are, and how to print.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Registration service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_REGISTRATION_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub registration: String,
    /// Task service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_TASK_ADDR",
        default_value = "http://127.0.0.1:50052"
    )]
    pub task: String,
    /// Matching service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_MATCHING_ADDR",
        default_value = "http://127.0.0.1:50053"
    )]
    pub matching: String,
    /// Bearer token sent with every request (see `spontan token mint`).
    #[arg(long, global = true, env = "SPONTAN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open, list and close incidents.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Create, list, show and cancel tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Follow what matching does.
    #[command(subcommand)]
    Matches(MatchesCommand),
    /// Act as a volunteer (for drills).
    #[command(subcommand)]
    Volunteer(VolunteerCommand),
    /// Development tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// VAPID keys for Web Push alerts.
    #[command(subcommand)]
    Vapid(VapidCommand),
    /// Demo data for a local stack.
    #[command(subcommand)]
    Demo(DemoCommand),
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Seed a flood in Bad Neuenahr-Ahrweiler: an incident, tasks of every priority and
    /// generated volunteers around it. Safe to run twice (idempotency keys).
    Seed {
        /// Organisation running the incident (your coordinator token's organisation).
        #[arg(long, default_value = "thw-ov-ahrweiler")]
        organisation: String,
        /// How many volunteers to register.
        #[arg(long, default_value_t = 300)]
        volunteers: usize,
        /// Consent text version the registration service currently accepts.
        #[arg(
            long,
            env = "SPONTAN_PRIVACY__CONSENT_TEXT_VERSION",
            default_value = "2025-06-de"
        )]
        consent_version: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident for your organisation.
    Open {
        /// Name shown to coordinators and dashboards, e.g. "Hochwasser Ahr".
        #[arg(long)]
        name: String,
        /// Organisation that runs it (must match your token's organisation).
        #[arg(long)]
        organisation: String,
        /// Centre of the affected region, latitude in degrees.
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        /// Centre of the affected region, longitude in degrees.
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// Radius of the affected region in km.
        #[arg(long)]
        radius_km: f64,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List incidents.
    List {
        /// Only incidents in this state.
        #[arg(long, value_enum)]
        status: Option<IncidentStatusArg>,
    },
    /// Close an incident and its open tasks.
    Close { incident_id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IncidentStatusArg {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PriorityArg {
    Critical,
    High,
    Medium,
    Low,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Create a task (retrying the same command never creates a second task).
    Create(Box<TaskCreate>),
    /// List the tasks of an incident.
    List {
        #[arg(long)]
        incident: String,
        /// Only tasks of this priority (repeatable).
        #[arg(long, value_enum)]
        priority: Vec<PriorityArg>,
    },
    /// Show one task with its staffing.
    Show { task_id: String },
    /// Cancel a task; its volunteers are freed and offered elsewhere.
    Cancel {
        task_id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct TaskCreate {
    #[arg(long)]
    pub incident: String,
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Meeting point, latitude in degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub lat: f64,
    /// Meeting point, longitude in degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub lon: f64,
    /// Meeting point as people find it, e.g. "Marktplatz, 53474 Ahrweiler".
    #[arg(long, default_value = "")]
    pub address: String,
    /// Required skill id (repeatable; see the taxonomy with `grpcurl ... ListSkills`).
    #[arg(long = "skill")]
    pub skills: Vec<String>,
    /// Preferred skill id (repeatable).
    #[arg(long = "preferred-skill")]
    pub preferred_skills: Vec<String>,
    #[arg(long, default_value_t = 16)]
    pub min_age: u32,
    #[arg(long)]
    pub headcount: u32,
    /// Start, RFC 3339 (e.g. 2026-07-15T08:00:00+02:00).
    #[arg(long)]
    pub start: String,
    /// End, RFC 3339.
    #[arg(long)]
    pub end: String,
    #[arg(long, value_enum, default_value = "medium")]
    pub priority: PriorityArg,
    /// How far volunteers may come from, in km.
    #[arg(long, default_value_t = 30.0)]
    pub max_distance_km: f64,
    #[arg(long, default_value = "")]
    pub safety_notes: String,
    /// Idempotency key; by default derived from the other arguments, so a retry is safe.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MatchesCommand {
    /// Poll the match changes of an incident and print them as they come, with a live summary
    /// per task. Stops with Ctrl-C, or after one poll with --once.
    Watch {
        #[arg(long)]
        incident: String,
        /// Start after this sequence (0: from the beginning).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Seconds between polls.
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
        /// Poll once, print, exit.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum VolunteerCommand {
    /// Register a volunteer (drills); prints the volunteer id and token.
    Register(Box<VolunteerRegister>),
}

#[derive(Debug, Args)]
pub struct VolunteerRegister {
    #[arg(long)]
    pub name: String,
    /// Phone in E.164, e.g. +4915112345678.
    #[arg(long, default_value = "")]
    pub phone: String,
    #[arg(long, default_value = "")]
    pub email: String,
    #[arg(long, allow_hyphen_values = true)]
    pub lat: f64,
    #[arg(long, allow_hyphen_values = true)]
    pub lon: f64,
    #[arg(long, default_value_t = 20.0)]
    pub radius_km: f64,
    #[arg(long)]
    pub birth_year: i32,
    /// Skill id (repeatable).
    #[arg(long = "skill")]
    pub skills: Vec<String>,
    /// Language, BCP 47 (repeatable).
    #[arg(long = "language", default_value = "de")]
    pub languages: Vec<String>,
    /// Availability window START/END in RFC 3339 (repeatable).
    #[arg(long = "available")]
    pub available: Vec<String>,
    /// Consent text version the volunteer agreed to.
    #[arg(
        long,
        env = "SPONTAN_PRIVACY__CONSENT_TEXT_VERSION",
        default_value = "2025-06-de"
    )]
    pub consent_version: String,
    /// Idempotency key; by default derived from the other arguments, so a retry is safe.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token with the development signing key. Refused when no dev key is configured:
    /// production tokens come from the operator's identity provider.
    Mint {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Subject: a user id (staff) or volunteer id.
        #[arg(long, default_value = "dev-user")]
        subject: String,
        /// Organisation (coordinators and dashboards).
        #[arg(long)]
        organisation: Option<String>,
        #[arg(long, default_value_t = 12)]
        ttl_hours: u64,
        /// Base64 Ed25519 seed; default: SPONTAN_DEV_SIGNING_KEY, then .spontan/dev-signing-key.
        #[arg(long, env = "SPONTAN_DEV_SIGNING_KEY", hide_env_values = true)]
        signing_key: Option<String>,
        /// Issuer, as configured in the services (auth.issuer).
        #[arg(long, default_value = "spontan")]
        issuer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VapidCommand {
    /// Make a new P-256 key pair and print two lines: `private=<key>` (for
    /// alerts.web_push.vapid_private_key) and `public=<key>` (for web.vapid_public_key), both
    /// unpadded base64url: the raw 32-byte private key and the 65-byte uncompressed point
    /// (with --json: one object with `private` and `public`).
    Generate,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Coordinator,
    Dashboard,
    Admin,
    Volunteer,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = commands::run(cli).await {
        eprintln!("{}", errors::describe(&error));
        std::process::exit(1);
    }
}
