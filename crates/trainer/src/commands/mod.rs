//! One module per subcommand; [`run`] dispatches.

use crate::cli::{Cli, Command, TrainArgs};

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; [`crate::exit::exit_code_for`] turns it into an exit code.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => train(&args),
    }
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    if args.dry_run {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(());
    }
    anyhow::bail!("training needs the autograd and augment crates")
}
