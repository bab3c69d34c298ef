//! The `recs` command: `recs demo`, `recs eval`, `recs registry`, `recs serve` and `recs probe`.

mod cli;
mod cmd_demo;
mod cmd_fairness;
mod cmd_report;
mod cmd_retrain;
mod cmd_stream;
mod plot;

fn main() -> std::process::ExitCode {
    cli::main()
}
