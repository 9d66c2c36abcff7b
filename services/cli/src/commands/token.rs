//! `spontan token mint`: development tokens, signed with the dev key.

use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use spontan_platform::auth::Role;

use crate::devkey;

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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Coordinator,
    Dashboard,
    Admin,
    Volunteer,
}

/// Runs `spontan token …` (offline: nothing is sent).
pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Mint {
            role,
            subject,
            organisation,
            ttl_hours,
            signing_key,
            issuer,
        } => mint(
            role,
            &subject,
            organisation.as_deref(),
            ttl_hours,
            signing_key,
            issuer,
        ),
    }
}

fn mint(
    role: RoleArg,
    subject: &str,
    organisation: Option<&str>,
    ttl_hours: u64,
    signing_key: Option<String>,
    issuer: String,
) -> anyhow::Result<()> {
    let key = devkey::signing_key(signing_key)?;
    let role = match role {
        RoleArg::Coordinator => Role::Coordinator,
        RoleArg::Dashboard => Role::Dashboard,
        RoleArg::Admin => Role::Admin,
        RoleArg::Volunteer => Role::Volunteer,
    };
    let token = devkey::mint(
        &key,
        &issuer,
        subject,
        role,
        organisation,
        Duration::from_secs(ttl_hours * 3600),
    )?;
    println!("{token}");
    Ok(())
}
