//! `spontan dev …`: stand-ins for third parties that cannot run on a developer's machine, for
//! the local stack (`deploy/local/up.sh`) and tests. Never part of a deployment.
//!
//! Layout: [`gateway`] is the messaging gateway's stand-in (routes in `mod.rs`, the kept
//! messages in `inbox.rs`, the HTML page in `page.rs`); this module binds and runs it.

pub mod gateway;

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Subcommand;
use tokio::net::TcpListener;

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Run a local stand-in of the messaging gateway (`alerts.webhook_url`): it takes the
    /// registration service's SMS, Signal, Telegram, WhatsApp and app push messages at
    /// `POST /messages`, delivers nothing, prints each as `<channel> to <to>: <text>`, and
    /// lists the last 500 at `GET /messages` (JSON; `to=`, `kind=`, `limit=`) and `GET /`
    /// (a page). Stops on Ctrl-C or SIGTERM.
    Gateway {
        /// Address to listen on. The messages hold phone numbers: keep it on loopback unless
        /// a phone on the local network must reach the page.
        #[arg(long, default_value = "127.0.0.1:8025")]
        listen: SocketAddr,
    },
}

/// Runs `spontan dev …` until it is stopped.
pub async fn run(command: DevCommand) -> anyhow::Result<()> {
    match command {
        DevCommand::Gateway { listen } => {
            let listener = TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr().context("gateway listener address")?;
            if !addr.ip().is_loopback() {
                eprintln!(
                    "warning: listening on {addr}, beyond this machine: anyone who reaches it \
                     reads the messages"
                );
            }
            // On stderr, so that stdout is one line per message.
            eprintln!(
                "messaging gateway stand-in on http://{addr}/ (POST /messages); \
                 stop with Ctrl-C"
            );
            gateway::serve(listener, spontan_platform::shutdown::on_signal()).await
        }
    }
}
