#!/usr/bin/env bash
# Installs everything parley needs to build, run and test, from Debian's
# packages and (for the test tooling) the npm registry. This file holds the
# single list of Debian packages. Safe to run repeatedly: it does nothing when
# everything is present.
#
#   scripts/install-deps.sh           build + run dependencies
#   scripts/install-deps.sh --test    also test dependencies (incl. npm modules)
#   scripts/install-deps.sh --fuzz    also clang, for libFuzzer (make fuzz)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

# Needed to build and run parley.
RUN_PKGS=(
  build-essential cmake pkg-config
  libwebsockets-dev libssl-dev libjansson-dev libcurl4-openssl-dev
  libpocketsphinx-dev pocketsphinx-en-us libsoxr-dev
  flite1-dev libespeak-ng-dev espeak-ng-data
  libspeexdsp-dev
)
# Needed only by the tests: cmocka, Node for the black-box tests, recorded
# speech (pocketsphinx-testdata), sox to resample it, Chromium for the
# browser tests (driven by playwright-core from npm), promtool (Debian
# package prometheus) to check /metrics, and the openssl CLI to make the TLS
# tests' certificate.
TEST_PKGS=(
  libcmocka-dev nodejs npm
  pocketsphinx-testdata sox chromium prometheus openssl
)

# Needed only by `make fuzz`: clang for libFuzzer.
FUZZ_PKGS=(clang)

want=("${RUN_PKGS[@]}")
test_mode=0
case "${1:-}" in
  --test) test_mode=1; want+=("${TEST_PKGS[@]}") ;;
  --fuzz) test_mode=1; want+=("${TEST_PKGS[@]}" "${FUZZ_PKGS[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from outside Debian (e.g. a preinstalled Node 20);
  # accept any working binary.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "install-deps: missing Debian packages: ${missing[*]}" >&2
    echo "install-deps: run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ "$test_mode" -eq 1 ]; then
  # Node test tooling, pinned by tests/package-lock.json.
  if [ ! -d "$here/tests/node_modules" ] || \
     [ "$here/tests/package-lock.json" -nt "$here/tests/node_modules/.package-lock.json" ]; then
    echo "install-deps: installing npm test modules"
    (cd "$here/tests" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
