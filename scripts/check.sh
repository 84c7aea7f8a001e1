#!/usr/bin/env bash
# The main job: set up a virtualenv and run the conformance checker against
# the bundled reference slave, in both dialects. Extra arguments go to
# `zeus-fsm check` (for example: -- ./my-slave --flag).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
status=0
for dialect in spec zeus; do
  echo "== zeus-fsm check --dialect $dialect $*"
  .venv/bin/zeus-fsm check --dialect "$dialect" "$@" || status=$?
done
exit "$status"
