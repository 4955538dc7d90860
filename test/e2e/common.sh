# shellcheck shell=bash disable=SC2034
# common.sh: sourced (after `set -euo pipefail`) by the e2e scripts here.
# Sets $here (this folder) and $root (the repository), requires FRESCO_BIN
# (the build's bin/) and FRESCO_PYTHON (the .venv python), and makes a $work
# folder that is removed on exit.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${FRESCO_BIN:?set FRESCO_BIN to the build bin/ folder}"
: "${FRESCO_PYTHON:?set FRESCO_PYTHON to the venv python (scripts/setup-venv.sh)}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
