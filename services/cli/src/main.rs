//! `spontan`: parses the command line, runs the command (see the `spontan_cli` library) and
//! prints what went wrong as a sentence.

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = spontan_cli::Cli::parse();
    if let Err(error) = spontan_cli::run(cli).await {
        eprintln!("{}", spontan_cli::errors::describe(&error));
        std::process::exit(1);
    }
}
