#!/usr/bin/env python3
"""Fails when the workspace's `rust-version` is lower than a dependency's.

Cargo checks `rust-version` only against the toolchain that builds, so a declared version can
drift below what the dependencies need without any build failing; this keeps the declaration
true. Run from the workspace root: `python3 scripts/check-rust-version.py`.
"""

import json
import subprocess
import sys


def parse(version):
    parts = [int(part) for part in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    used = {node["id"] for node in meta["resolve"]["nodes"]}
    declared = {
        p["rust_version"] for p in meta["packages"] if p["id"] in members and p["rust_version"]
    }
    if len(declared) != 1:
        sys.exit(f"workspace members declare different rust-versions: {sorted(declared)}")
    ours = declared.pop()
    needs = sorted(
        (parse(p["rust_version"]), p["name"], p["version"])
        for p in meta["packages"]
        if p["id"] in used and p["id"] not in members and p.get("rust_version")
    )
    if needs and needs[-1][0] > parse(ours):
        version, name, at = needs[-1]
        sys.exit(
            f"rust-version = \"{ours}\" is below what {name} {at} needs "
            f"({'.'.join(map(str, version))}): raise it in Cargo.toml"
        )
    print(f"rust-version {ours} covers every dependency (highest: {needs[-1][1]} needs "
          f"{'.'.join(map(str, needs[-1][0]))})" if needs else f"rust-version {ours}")


if __name__ == "__main__":
    main()
