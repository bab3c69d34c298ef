//! The `recs` command: `recs demo`, `recs eval`, `recs registry`, `recs serve` and `recs probe`.

mod cli;
mod cmd_retrain;
mod cmd_demo;

fn main() -> std::process::ExitCode {
    cli::main()
}
