//! `spontan offers`: a volunteer's offers, and answering them (matching service, volunteer
//! token: the one `spontan volunteer register` prints).

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::{
    DeclineReason, ListMyOffersRequest, Offer, OfferDecision, RespondToOfferRequest,
};

use crate::client::{Global, channel, request};
use crate::output::{enum_name, match_state, print, time};

#[derive(Debug, Subcommand)]
pub enum OffersCommand {
    /// List your offers and matches, soonest first (volunteer token).
    List {
        /// Also list finished ones (declined, expired, cancelled, completed, no-show).
        #[arg(long)]
        all: bool,
    },
    /// Accept an offer (volunteer token).
    Accept { match_id: String },
    /// Decline an offer, or withdraw from an accepted match before check-in (volunteer
    /// token).
    Decline {
        match_id: String,
        #[arg(long, value_enum)]
        reason: Option<DeclineReasonArg>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeclineReasonArg {
    NotAvailable,
    TooFar,
    NotQualified,
    Personal,
    Other,
}

impl From<DeclineReasonArg> for DeclineReason {
    fn from(arg: DeclineReasonArg) -> Self {
        match arg {
            DeclineReasonArg::NotAvailable => DeclineReason::NotAvailable,
            DeclineReasonArg::TooFar => DeclineReason::TooFar,
            DeclineReasonArg::NotQualified => DeclineReason::NotQualified,
            DeclineReasonArg::Personal => DeclineReason::Personal,
            DeclineReasonArg::Other => DeclineReason::Other,
        }
    }
}

/// Runs `spontan offers …`: one request to the matching service, then the offers as a table.
pub async fn run(global: &Global, command: OffersCommand) -> anyhow::Result<()> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let offers = match command {
        OffersCommand::List { all } => {
            let message = ListMyOffersRequest {
                include_finished: all,
            };
            client
                .list_my_offers(request(global, message)?)
                .await?
                .into_inner()
                .offers
        }
        OffersCommand::Accept { match_id } => {
            let message = RespondToOfferRequest {
                match_id,
                decision: OfferDecision::Accept.into(),
                decline_reason: DeclineReason::Unspecified.into(),
            };
            client
                .respond_to_offer(request(global, message)?)
                .await?
                .into_inner()
                .offer
                .into_iter()
                .collect()
        }
        OffersCommand::Decline { match_id, reason } => {
            let message = RespondToOfferRequest {
                match_id,
                decision: OfferDecision::Decline.into(),
                decline_reason: reason
                    .map_or(DeclineReason::Unspecified, DeclineReason::from)
                    .into(),
            };
            client
                .respond_to_offer(request(global, message)?)
                .await?
                .into_inner()
                .offer
                .into_iter()
                .collect()
        }
    };
    let json = json!(offers.iter().map(offer_json).collect::<Vec<_>>());
    let rows = offers
        .iter()
        .map(|o| {
            vec![
                o.match_id.clone(),
                o.task_title.clone(),
                match_state(o.state()),
                time(o.window.as_ref().and_then(|w| w.start_time.as_ref())),
                format!("{:.1} km", o.distance_km),
                o.address.clone(),
            ]
        })
        .collect();
    print(
        global.json,
        json,
        &["MATCH", "TASK", "STATE", "START", "DISTANCE", "WHERE"],
        rows,
    );
    Ok(())
}

fn offer_json(o: &Offer) -> serde_json::Value {
    json!({
        "match_id": o.match_id,
        "task_id": o.task_id,
        "incident_id": o.incident_id,
        "task_title": o.task_title,
        "address": o.address,
        "meeting_point": o.meeting_point.as_ref().map(|p| json!({"latitude": p.latitude, "longitude": p.longitude})),
        "start": time(o.window.as_ref().and_then(|w| w.start_time.as_ref())),
        "end": time(o.window.as_ref().and_then(|w| w.end_time.as_ref())),
        "priority": enum_name(o.priority().as_str_name(), "PRIORITY_"),
        "distance_km": o.distance_km,
        "state": match_state(o.state()),
        "expires_at": time(o.expires_at.as_ref()),
        "checked_in_at": time(o.checked_in_at.as_ref()),
        "checked_out_at": time(o.checked_out_at.as_ref()),
        "hours_on_site": o.hours_on_site,
    })
}
