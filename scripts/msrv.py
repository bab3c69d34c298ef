#!/usr/bin/env python3
"""The true minimum Rust version of `recs` (and the other workspace members): the highest `rust-version` its dependencies declare.

Only one toolchain is installed (no `cargo +1.85 build`, no `-Zminimal-versions` on stable), so
the check reads what each crate in the resolved graph declares: `cargo tree` gives the crates of
the default build and of the all-features build (normal and build dependencies, as resolved by
Cargo.lock), and each crate's `rust-version` comes from its manifest in the cargo registry
(`~/.cargo/registry/src/*/NAME-VERSION/Cargo.toml`). The workspace's `rust-version` must equal the
highest of them (equal, not merely at least: a higher value would shut out users for nothing).

Usage: scripts/msrv.py          # exit 1 when workspace rust-version != the dependencies' maximum
       scripts/msrv.py --list   # also print every crate with its declared rust-version
Crates that declare no rust-version are listed as such and do not count.
"""
import glob
import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGISTRY = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "registry", "src")
# The workspace shares one rust-version, so every member's builds count; `recs` is the published one.
BUILDS = {
    "recs, default features": ["-p", "recs"],
    "recs, all features": ["-p", "recs", "--all-features"],
    "recs-server, default features": ["-p", "recs-server"],
    "recs-server, all features": ["-p", "recs-server", "--all-features"],
    "recs-py": ["-p", "recs-py"],
}


def version_key(v):
    parts = [int(p) for p in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def crates(extra_args):
    out = subprocess.run(
        ["cargo", "tree", "-e", "normal,build", "--prefix", "none", "-f", "{p}"]
        + extra_args,
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    found = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2 or not fields[1].startswith("v"):
            continue
        name, version = fields[0], fields[1][1:]
        # Path dependencies (the workspace itself) carry their directory in parentheses.
        if "(/" in line:
            continue
        found.add((name, version))
    return found


def declared_rust_version(name, version):
    manifests = glob.glob(os.path.join(REGISTRY, "*", f"{name}-{version}", "Cargo.toml"))
    if not manifests:
        raise SystemExit(f"msrv.py: {name} {version} is not in {REGISTRY} (run `cargo fetch`)")
    with open(manifests[0], "rb") as f:
        package = tomllib.load(f).get("package", {})
    rv = package.get("rust-version")
    return rv if isinstance(rv, str) else None


def main():
    listing = "--list" in sys.argv[1:]
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        ours = tomllib.load(f)["workspace"]["package"]["rust-version"]
    highest = "0"
    for build, args in BUILDS.items():
        rows = sorted(
            ((declared_rust_version(n, v), n, v) for n, v in crates(args)),
            key=lambda r: (version_key(r[0]) if r[0] else (0,), r[1]),
        )
        top = max((r for r in rows if r[0]), key=lambda r: version_key(r[0]))
        print(f"{build}: {len(rows)} crates, highest rust-version {top[0]} ({top[1]} {top[2]})")
        if listing:
            for rv, n, v in rows:
                print(f"  {rv or '(none)':>8}  {n} {v}")
        if version_key(top[0]) > version_key(highest):
            highest = top[0]
    print(f"workspace rust-version: {ours}")
    if version_key(ours) != version_key(highest):
        print(f"msrv.py: set [workspace.package] rust-version = \"{highest}\" (dependencies need "
              f"{highest}, the manifest says {ours})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
