#!/usr/bin/env bash
# Installs what is needed (scripts/setup.sh), then runs every check CI runs:
# formatting, clippy with warnings as errors, and the whole test suite
# (unit, integration on lavapipe, GStreamer pipelines, SRT on loopback,
# the demo end to end, and the benches once each as smoke tests).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# lavapipe warns on every device creation without a private runtime dir.
# shellcheck source=scripts/env.sh
source scripts/env.sh

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
BENCH_SMOKE=1 cargo test --all-targets --locked
