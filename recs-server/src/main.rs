//! The `recs` command: `recs demo`, `recs eval`, `recs registry`, `recs serve` and `recs probe`.

mod cli;
mod cmd_demo;
mod cmd_experiment;
mod cmd_fairness;
mod cmd_recommend;
mod cmd_report;
mod cmd_retrain;
mod cmd_retrain_every;
mod cmd_stream;
mod plot;

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    cli::main()
}

/// Output piped into a reader that stops early (`recs drift A B | head`) ends the process
/// quietly, as with any Unix tool: Rust ignores SIGPIPE, which turns every later `println!`
/// into a panic.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
