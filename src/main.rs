//! The `deadbolt` binary: parse the command line and hand over to [`deadbolt::cli::run`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = deadbolt::cli::Cli::parse();
    deadbolt::cli::main(cli)
}
