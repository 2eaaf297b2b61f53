#!/bin/sh
# The official nginx image's entrypoint, in short: before nginx starts, each file in /docker-entrypoint.d in
# version order, *.envsh sourced (its exports reach the scripts after it) and *.sh run.
set -e
if [ "$1" = nginx ]; then
  find /docker-entrypoint.d -follow -type f -print | sort -V | {
    while read -r f; do
      case "$f" in
        *.envsh) if [ -x "$f" ]; then echo "$0: sourcing $f"; . "$f"; fi ;;
        *.sh) if [ -x "$f" ]; then echo "$0: running $f"; "$f"; fi ;;
      esac
    done
  }
fi
exec "$@"
