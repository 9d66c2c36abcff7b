//! `spontan volunteer register`: act as a volunteer (for drills).

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::{AlertChannel, Consent, Contact, RegisterRequest};

use crate::client::{Global, channel, derived_key, request};
use crate::convert::{point, window};
use crate::output::{print, time};

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

/// Runs `spontan volunteer …`.
pub async fn run(global: &Global, command: VolunteerCommand) -> anyhow::Result<()> {
    match command {
        VolunteerCommand::Register(args) => register(global, *args).await,
    }
}

async fn register(global: &Global, args: VolunteerRegister) -> anyhow::Result<()> {
    let mut availability = Vec::new();
    for text in &args.available {
        let (start, end) = text
            .split_once('/')
            .with_context(|| format!("--available {text:?} must be START/END"))?;
        availability.push(window(start, end)?);
    }
    let key = args.idempotency_key.clone().unwrap_or_else(|| {
        derived_key(&(
            &args.name,
            &args.phone,
            &args.email,
            args.birth_year,
            &args.available,
        ))
    });
    let channel_kind = if args.phone.is_empty() {
        AlertChannel::Email
    } else {
        AlertChannel::Sms
    };
    let message = RegisterRequest {
        idempotency_key: key,
        consent: Some(Consent {
            given: true,
            text_version: args.consent_version,
        }),
        contact: Some(Contact {
            display_name: args.name,
            phone_e164: args.phone,
            email: args.email,
        }),
        preferred_alert_channel: channel_kind.into(),
        channel_addresses: None,
        skill_ids: args.skills,
        languages: args.languages,
        birth_year: args.birth_year,
        home_location: Some(point(args.lat, args.lon)),
        travel_radius_km: args.radius_km,
        availability,
    };
    let mut client = RegistrationServiceClient::new(channel(global, &global.registration).await?);
    let response = client
        .register(request(global, message)?)
        .await?
        .into_inner();
    let json = json!({
        "volunteer_id": response.volunteer_id,
        "access_token": response.access_token,
        "access_token_expires_at": time(response.access_token_expires_at.as_ref()),
        "refresh_token": response.refresh_token,
        "refresh_token_expires_at": time(response.refresh_token_expires_at.as_ref()),
    });
    let rows = vec![vec![
        response.volunteer_id.clone(),
        time(response.access_token_expires_at.as_ref()),
        response.access_token.clone(),
    ]];
    print(
        global.json,
        json,
        &["VOLUNTEER", "TOKEN EXPIRES", "TOKEN"],
        rows,
    );
    Ok(())
}
