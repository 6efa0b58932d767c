//! `fltr-credits`: the native CLI. All logic lives in the library; this only parses and exits.

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = fltr_credits::adapters::native::cli::Cli::parse();
    let code = fltr_credits::adapters::native::cli::main_with(cli).await;
    std::process::exit(code);
}
