//! `spontan incident`: open, list and close incidents (task service).

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::{
    CloseIncidentRequest, CreateIncidentRequest, Incident, IncidentStatus, ListIncidentsRequest,
};

use crate::client::{Global, channel, derived_key, request};
use crate::convert::point;
use crate::output::{enum_name, print, time};

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

/// Runs `spontan incident …`: one request to the task service, then the incidents as a table.
pub async fn run(global: &Global, command: IncidentCommand) -> anyhow::Result<()> {
    let mut client = TaskServiceClient::new(channel(global, &global.task).await?);
    let incidents = match command {
        IncidentCommand::Open {
            name,
            organisation,
            lat,
            lon,
            radius_km,
            description,
        } => {
            let key = derived_key(&(
                &name,
                &organisation,
                lat.to_bits(),
                lon.to_bits(),
                radius_km.to_bits(),
            ));
            let message = CreateIncidentRequest {
                idempotency_key: key,
                organisation_id: organisation,
                name,
                description,
                region_centre: Some(point(lat, lon)),
                region_radius_km: radius_km,
            };
            let response = client
                .create_incident(request(global, message)?)
                .await?
                .into_inner();
            response.incident.into_iter().collect::<Vec<_>>()
        }
        IncidentCommand::List { status } => {
            let status = match status {
                Some(IncidentStatusArg::Open) => IncidentStatus::Open,
                Some(IncidentStatusArg::Closed) => IncidentStatus::Closed,
                None => IncidentStatus::Unspecified,
            };
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let message = ListIncidentsRequest {
                    page_size: 100,
                    page_token,
                    status: status.into(),
                    organisation_id: String::new(),
                };
                let response = client
                    .list_incidents(request(global, message)?)
                    .await?
                    .into_inner();
                all.extend(response.incidents);
                if response.next_page_token.is_empty() {
                    break all;
                }
                page_token = response.next_page_token;
            }
        }
        IncidentCommand::Close { incident_id } => {
            let message = CloseIncidentRequest { incident_id };
            let response = client
                .close_incident(request(global, message)?)
                .await?
                .into_inner();
            response.incident.into_iter().collect()
        }
    };
    let json = json!(incidents.iter().map(incident_json).collect::<Vec<_>>());
    let rows = incidents
        .iter()
        .map(|i| {
            vec![
                i.incident_id.clone(),
                i.name.clone(),
                i.organisation_id.clone(),
                enum_name(i.status().as_str_name(), "INCIDENT_STATUS_"),
                time(i.created_at.as_ref()),
            ]
        })
        .collect();
    print(
        global.json,
        json,
        &["ID", "NAME", "ORGANISATION", "STATUS", "OPENED"],
        rows,
    );
    Ok(())
}

fn incident_json(i: &Incident) -> serde_json::Value {
    json!({
        "incident_id": i.incident_id,
        "organisation_id": i.organisation_id,
        "name": i.name,
        "description": i.description,
        "region_centre": i.region_centre.as_ref().map(|p| json!({"latitude": p.latitude, "longitude": p.longitude})),
        "region_radius_km": i.region_radius_km,
        "status": enum_name(i.status().as_str_name(), "INCIDENT_STATUS_"),
        "created_at": time(i.created_at.as_ref()),
        "version": i.version,
    })
}
