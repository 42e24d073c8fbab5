#!/usr/bin/env bash
# Installs what building and testing ehr-ledger needs on a Debian machine with
# Rust: Debian packages that are missing, and the rustfmt/clippy components.
# Safe to run again: it only installs what is not there.
set -euo pipefail

APT_PACKAGES=(build-essential pkg-config)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo was not found; install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi
