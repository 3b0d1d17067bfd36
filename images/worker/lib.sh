# shellcheck shell=bash
# Sourced (not run) by images/worker/build-base.sh, images/worker/build-image.sh and infra/kind/run-e2e.sh:
# the logging every one of them does, tagged with this file's first argument (`source lib.sh TAG`; default:
# the script's file name).
#   log MESSAGE...  a "[tag HH:MM:SS] message" line on stderr
#   die MESSAGE...  log "ERROR: message", then exit 1
LOG_TAG="${1:-${0##*/}}"
log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
