#!/usr/bin/env bash
# Runs every keyrite test: unit, SoftHSM2 integration, CLI scripts, the
# emulator and uploader over HTTPS, and short fuzz seeds. Installs SoftHSM2 and
# OpenSC first if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
go vet ./...
go test -count=1 -timeout 20m ./...
