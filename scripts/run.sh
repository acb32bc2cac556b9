#!/usr/bin/env bash
# Set up (first time only) and run the bot. Without DISCORD_TOKEN it runs in console mode and
# prints alerts here. Extra arguments go to `borderwatch run`'s parent command, e.g.
#   bash scripts/run.sh --config config.toml
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/borderwatch "$@" run
