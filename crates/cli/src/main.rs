//! `oauth-cockpit`: the one binary. Subcommands live in their own modules.

mod api_token;
mod asn;
mod audit;
mod cli;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod demo_db;
mod keys;
mod org;
mod serve;
mod sync;
mod user;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One paragraph a person can act on; the cause chain is already in it.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
