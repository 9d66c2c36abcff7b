//! `spontan-load`: parses the command line and runs the scenario it names (see the
//! `spontan_loadgen` library).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    spontan_loadgen::run(spontan_loadgen::Args::parse()).await
}
