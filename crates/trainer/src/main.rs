//! The `trainer` command: parses the command line, runs the subcommand, and turns an error into
//! one message on stderr and an exit code (see `trainer --help`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = trainer::cli::Cli::parse();
    match trainer::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            trainer::exit::exit_code_for(&err)
        }
    }
}

/// `trainer eval ... | head` closes our stdout early; Rust's `println!` then panics with
/// "failed printing to stdout: Broken pipe". The reader has all it wanted, so end quietly with
/// success, as Unix tools do; every other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}
