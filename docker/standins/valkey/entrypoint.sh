#!/bin/sh
# The official image builds Valkey with protected mode off so other containers can connect without a password.
set -e
if [ "$1" = valkey-server ]; then
  shift
  set -- valkey-server "$@" --protected-mode no
fi
exec "$@"
