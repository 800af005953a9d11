#!/usr/bin/env bash
# Installs what keyrite's tests and rehearsal need besides Go: SoftHSM2 (the
# stand-in vendor HSM and custodian smartcards) and OpenSC's pkcs11-tool (to
# load known keys onto test tokens). Debian/Ubuntu; idempotent.
set -euo pipefail
need=()
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || need+=(opensc)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${need[*]} from Debian packages" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
