//! The `recs` command: `recs demo`, `recs eval`, and (as they land) registry, serve and probe.

mod cli;
mod cmd_stream;

fn main() -> std::process::ExitCode {
    cli::main()
}
