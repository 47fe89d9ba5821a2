//! The `trainer` command: parses the command line, runs the subcommand, and turns an error into
//! one message on stderr and an exit code (see `trainer --help`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = trainer::cli::Cli::parse();
    match trainer::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            trainer::exit::exit_code_for(&err)
        }
    }
}
