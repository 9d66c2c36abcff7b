//! `spontan`: the command line of coordinators, dashboards and operators, as a library with
//! a thin binary (`src/main.rs` parses [`Cli`], calls [`run`] and prints errors with
//! [`errors::describe`]).
//!
//! Layout: [`cli`] holds the command tree (clap); [`commands`] one module per command group
//! (incident, task, matches, volunteer, offers, drill, token, vapid, demo, dev), each with its
//! subcommands and what they do; what the groups share lives below them: [`client`] (global
//! flags, connections, authorised requests, idempotency keys), [`convert`] (argument values to
//! API values), [`devkey`] (development tokens), [`output`] (tables or JSON) and [`errors`]
//! (gRPC errors as sentences). Every
//! command reads its endpoints and token from flags or `SPONTAN_*` variables, so a control
//! room can set them once per shell.
//!
//! Errors are `anyhow`, not a `thiserror` enum: every error of a command ends on the
//! terminal, and [`errors::describe`] reads the gRPC status out of it.

pub mod cli;
pub mod client;
pub mod commands;
pub mod convert;
pub mod devkey;
pub mod errors;
pub mod output;

pub use cli::{Cli, Command};

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Incident(command) => commands::incident::run(&global, command).await,
        Command::Task(command) => commands::task::run(&global, command).await,
        Command::Matches(command) => commands::matches::run(&global, command).await,
        Command::Message(command) => commands::message::run(&global, command).await,
        Command::Volunteer(command) => commands::volunteer::run(&global, command).await,
        Command::Offers(command) => commands::offers::run(&global, command).await,
        Command::Drill(args) => commands::drill::run(&global, *args).await,
        Command::Demo(command) => commands::demo::run(&global, command).await,
        Command::Vapid(command) => commands::vapid::run(&global, command),
        Command::Token(command) => commands::token::run(command),
        Command::Dev(command) => commands::dev::run(command).await,
    }
}
