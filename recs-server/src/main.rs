//! The `recs` command: `recs demo`, `recs eval`, and (as they land) registry, serve and probe.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
