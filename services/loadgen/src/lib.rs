//! `spontan-load`: an open-loop load generator for the Spontan services, as a library with a
//! thin binary (`src/main.rs` parses [`Args`] and calls [`run`]).
//!
//! Open loop means requests are *scheduled* at a constant arrival rate, whatever the server
//! does, and each latency is measured from the request's scheduled time, not from when it was
//! finally sent. A closed loop (send, wait, send) slows down with the server and hides
//! queueing ("coordinated omission"); this one does not. Latencies go into HDR histograms.
//!
//! Loopback and the project's own hosts only: the run is bounded by `--duration` and stops by
//! itself.
//!
//! `--mode` chooses what is measured, one module of [`scenario`] each: `mix` (default;
//! request latencies of a weighted mix), `seed` (registers `--volunteers` volunteers at
//! `--rate`, spread over Germany, as the base for the other modes), and the end-to-end modes
//! `e2e-task`, `e2e-register` and `empty-poll`.
//!
//! Layout: [`args`] (the command line), [`scenario`] (one module per mode), and what they
//! share: [`schedule`] (the open-loop clock), [`clients`] (connections, tokens, the staff
//! side), [`people`] (the volunteer generator, also meant for matching's benchmarks),
//! [`report`] (histograms and their tables) and [`prometheus`] (one histogram from a scrape).
//!
//! Errors are `anyhow` throughout, not a `thiserror` enum: this is a tool whose every error
//! ends on the operator's terminal as a sentence, and no caller branches on its kind.

pub mod args;
pub mod clients;
pub mod people;
pub mod prometheus;
pub mod report;
pub mod scenario;
pub mod schedule;

use std::time::Duration;

use anyhow::{Context, bail};
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;

pub use args::{Args, Mode, Spread};
use clients::{Staff, channels, staff_tokens};

/// Checks the arguments and runs the scenario `--mode` names.
pub async fn run(mut args: Args) -> anyhow::Result<()> {
    if !(0.1..=100_000.0).contains(&args.rate) {
        bail!("--rate must be between 0.1 and 100000 per second");
    }
    if args.mode == Mode::Seed {
        scenario::seed::as_mix(&mut args)?;
    }
    if args.duration == 0 || args.duration > 3600 {
        bail!("--duration must be between 1 and 3600 seconds (seed: --volunteers / --rate)");
    }
    match args.mode {
        Mode::Mix | Mode::Seed => scenario::mix::run(&args).await,
        Mode::E2eTask => scenario::e2e_task::run(&args, staff(&args).await?).await,
        Mode::E2eRegister => {
            let staff = staff(&args).await?;
            let registration = channels(&args.registration, args.connections)
                .await?
                .into_iter()
                .map(RegistrationServiceClient::new)
                .collect();
            scenario::e2e_register::run(&args, staff, registration).await
        }
        Mode::EmptyPoll => scenario::empty_poll::run(&args, staff(&args).await?).await,
    }
}

/// The end-to-end modes' staff: tokens from the dev key, one connection to task and to
/// matching.
async fn staff(args: &Args) -> anyhow::Result<Staff> {
    let key = args
        .signing_key
        .as_deref()
        .context("the e2e modes need --signing-key (the dev key) for staff tokens")?;
    let (coordinator, dashboard) =
        staff_tokens(key, &args.organisation, Duration::from_secs(3 * 3600))?;
    let matching = channels(&args.matching, 1).await?;
    let tasks = channels(&args.task, 1).await?;
    Ok(Staff {
        tasks: TaskServiceClient::new(tasks[0].clone()),
        matching: MatchingServiceClient::new(matching[0].clone()),
        coordinator,
        dashboard,
        organisation: args.organisation.clone(),
    })
}
