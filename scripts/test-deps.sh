#!/usr/bin/env bash
# Installs the services that the tests run for real, when they are missing.
# Debian packages only; nothing is downloaded from elsewhere.
set -euo pipefail
need=()
# binary:package pairs; add a line when a test starts a new kind of service.
for pair in ${STINT_TEST_SERVICES:-}; do
  bin=${pair%%:*} pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "$bin" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test services: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
