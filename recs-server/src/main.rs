//! The `recs` command: `recs demo`, `recs eval`, `recs registry`, `recs serve` and `recs probe`.
//!
//! A thin shell over the `recs` library and the `recs_server` HTTP service: `cli/` parses the
//! arguments (one file per command) and prints, `report/` renders the HTML/SVG report.

mod cli;
mod report;

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
