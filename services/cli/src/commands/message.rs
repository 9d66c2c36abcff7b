//! `spontan message`: messages from coordinators to the accepted and checked-in volunteers of
//! a task or an incident, and how their delivery went (registration service, coordinator or
//! admin token).

use clap::Subcommand;
use serde_json::json;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::{
    ListVolunteerMessagesRequest, SendVolunteerMessageRequest, VolunteerMessage,
};

use crate::client::{Global, channel, request};
use crate::output::{print, time};

#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Send a message to the volunteers of a task, or of every task of an incident, whose
    /// matches are accepted or checked in (coordinator).
    Send {
        /// The incident.
        #[arg(long)]
        incident: String,
        /// Only this task's volunteers.
        #[arg(long)]
        task_id: Option<String>,
        /// Also to volunteers who opted out of non-essential messages (stop coming, danger).
        #[arg(long)]
        essential: bool,
        /// The message's id, to repeat a send safely (default: a new one).
        #[arg(long)]
        id: Option<String>,
        /// The text, at most 500 characters.
        text: String,
    },
    /// The messages sent to an incident's volunteers, newest first, with their delivery.
    List {
        #[arg(long)]
        incident: String,
        /// Only the messages to this task.
        #[arg(long)]
        task_id: Option<String>,
    },
}

/// Runs `spontan message …`.
pub async fn run(global: &Global, command: MessageCommand) -> anyhow::Result<()> {
    let mut client = RegistrationServiceClient::new(channel(global, &global.registration).await?);
    let messages = match command {
        MessageCommand::Send {
            incident,
            task_id: task,
            essential,
            id,
            text,
        } => {
            let message = SendVolunteerMessageRequest {
                message_id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                incident_id: incident,
                task_id: task.unwrap_or_default(),
                text,
                essential,
            };
            client
                .send_volunteer_message(request(global, message)?)
                .await?
                .into_inner()
                .message
                .into_iter()
                .collect::<Vec<_>>()
        }
        MessageCommand::List {
            incident,
            task_id: task,
        } => {
            let message = ListVolunteerMessagesRequest {
                incident_id: incident,
                task_id: task.unwrap_or_default(),
                limit: 0,
            };
            client
                .list_volunteer_messages(request(global, message)?)
                .await?
                .into_inner()
                .messages
        }
    };
    let json = json!(messages.iter().map(message_json).collect::<Vec<_>>());
    let rows = messages
        .iter()
        .map(|m| {
            let d = m.delivery.unwrap_or_default();
            vec![
                m.message_id.clone(),
                time(m.sent_at.as_ref()),
                if m.task_id.is_empty() {
                    "(incident)".to_owned()
                } else {
                    m.task_id.clone()
                },
                format!(
                    "{}/{} sent, {} pending, {} failed, {} opted out",
                    d.sent, d.recipients, d.pending, d.failed, d.opted_out
                ),
                m.text.replace('\n', " "),
            ]
        })
        .collect();
    print(
        global.json,
        json,
        &["MESSAGE", "SENT", "TASK", "DELIVERY", "TEXT"],
        rows,
    );
    Ok(())
}

fn message_json(m: &VolunteerMessage) -> serde_json::Value {
    let d = m.delivery.unwrap_or_default();
    json!({
        "message_id": m.message_id,
        "incident_id": m.incident_id,
        "task_id": m.task_id,
        "organisation_id": m.organisation_id,
        "text": m.text,
        "essential": m.essential,
        "sender_subject": m.sender_subject,
        "sent_at": time(m.sent_at.as_ref()),
        "delivery": {
            "recipients": d.recipients,
            "pending": d.pending,
            "sent": d.sent,
            "failed": d.failed,
            "opted_out": d.opted_out,
            "skipped": d.skipped,
        },
    })
}
