#!/usr/bin/env bash
# Installs what is needed (scripts/setup.sh), builds timeslice in release
# mode and runs the demo: a 360-degree freeze-frame replay of an embedded
# synthetic 8-camera capture, written to replay.mp4 (arguments are passed
# on, e.g. `scripts/demo.sh --srt "srt://127.0.0.1:9000?mode=caller"`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# shellcheck source=scripts/env.sh
source scripts/env.sh

cargo build --release --locked
exec ./target/release/timeslice demo "$@"
