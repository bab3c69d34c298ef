//! Fuzz the stream line parsers: no input may panic, and formatting is a fixed point: a parsed
//! log line formats to a line that parses and formats to the same text (compared as text so
//! that a `NaN` rating compares equal). Run: `cargo fuzz run log_line` (nightly, from the repo root).
#![no_main]

use libfuzzer_sys::fuzz_target;
use recs::stream::{format_log_line, parse_line, parse_log_line};

fuzz_target!(|data: &[u8]| {
    let _ = parse_line(data);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(e) = parse_log_line(s) {
            if let Some(line) = format_log_line(&e) {
                let again = parse_log_line(&line).ok().and_then(|e2| format_log_line(&e2));
                assert_eq!(again.as_deref(), Some(line.as_str()));
            }
        }
    }
});
