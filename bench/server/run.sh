#!/bin/bash
# `make bench`: server CPU time per request (bench/server/run.py); arguments pass through,
# e.g. --quick, --reps 5, --servers nginx,uwsgi, --build build-dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 bench/server/run.py --build "${BUILD_DIR:-build}" "$@"
