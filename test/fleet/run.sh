#!/usr/bin/env bash
# Starts a local Kubernetes control plane with sriovctl's fleet API for a person to try by hand; see
# main.go beside this script. Usage: test/fleet/run.sh [-nodes N] [-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run ./test/fleet "$@"
