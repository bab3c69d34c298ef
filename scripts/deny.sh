#!/usr/bin/env bash
# Dependency audit with cargo-deny, policy in deny.toml (docs/threat-model.md, E2).
# - licenses, bans, sources: checked from Cargo.lock and the crates already downloaded; these
#   fail the run on a violation.
# - advisories: need the RustSec advisory database, which cargo-deny fetches with git from
#   github.com. Where that cannot be reached the check is skipped and says so
#   ("skipped advisories: <reason>"); it never passes silently.
# cargo-deny is installed once with `cargo install cargo-deny --locked` (kept in ~/.cargo/bin;
# set RECS_DENY_VERSION to pin another version). Measured on the 2-core dev machine: 200 s user
# + 15 s system CPU (43 min wall there only because it got 8 % of a machine shared by six
# builds); the checks themselves take ~1.5 s.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${RECS_DENY_VERSION:-0.20.2}
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "installing cargo-deny $version (once; cached in ~/.cargo/bin)"
  start=$(date +%s)
  cargo install cargo-deny --version "$version" --locked --quiet
  echo "installed cargo-deny in $(( $(date +%s) - start )) s"
fi
cargo deny --version

cargo deny --log-level warn check licenses bans sources

# Advisories: only when the database can be fetched (or is already in cargo-deny's cache).
db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if timeout 20 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny --log-level warn check advisories
elif compgen -G "$db_dir/*" >/dev/null; then
  echo "advisory database not reachable; checking against the cached copy in $db_dir"
  cargo deny --log-level warn check --disable-fetch advisories
else
  echo "skipped advisories: the RustSec advisory database (github.com/rustsec/advisory-db) cannot be fetched from this machine and no cached copy exists in $db_dir"
fi
