//! The command tree: global flags and one subcommand per group, each group's own
//! subcommands defined next to what they do in [`crate::commands`].

use clap::{Parser, Subcommand};

use crate::client::Global;
use crate::commands::demo::DemoCommand;
use crate::commands::dev::DevCommand;
use crate::commands::drill::DrillArgs;
use crate::commands::incident::IncidentCommand;
use crate::commands::matches::MatchesCommand;
use crate::commands::message::MessageCommand;
use crate::commands::offers::OffersCommand;
use crate::commands::task::TaskCommand;
use crate::commands::token::TokenCommand;
use crate::commands::vapid::VapidCommand;
use crate::commands::volunteer::VolunteerCommand;

/// Coordinate spontaneous volunteers: incidents, tasks, live matches, drills and tokens.
#[derive(Debug, Parser)]
#[command(name = "spontan", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open, list, show and close incidents; their coverage, optimisation and audit trail.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Create, list, show, cancel and complete tasks; their staffing and check-in code.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Follow what matching does; check volunteers in and out, close matches, read contacts.
    #[command(subcommand, alias = "match")]
    Matches(MatchesCommand),
    /// Message the accepted volunteers of a task or incident; the messages' delivery.
    #[command(subcommand)]
    Message(MessageCommand),
    /// Act as a volunteer (for drills).
    #[command(subcommand)]
    Volunteer(VolunteerCommand),
    /// A volunteer's offers: list, accept, decline (volunteer token).
    #[command(subcommand)]
    Offers(OffersCommand),
    /// Run a scripted incident end to end against a running stack and report each step.
    Drill(Box<DrillArgs>),
    /// Development tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// VAPID keys for Web Push alerts.
    #[command(subcommand)]
    Vapid(VapidCommand),
    /// Demo data for a local stack.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Local stand-ins for development (the messaging gateway).
    #[command(subcommand)]
    Dev(DevCommand),
}
