#!/usr/bin/env bash
# Set up .venv for bert2sk on a fresh machine (offline apart from the package registries).
#   scripts/setup.sh            the package and its pinned dependencies
#   scripts/setup.sh --test     plus the test tools and headless Chromium (Debian packages)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ ! -x .venv/bin/python ]; then
    echo "bert2sk setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# The stamp skips a reinstall when nothing changed, so the second run starts at once.
stamp=.venv/.bert2sk-setup-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$want_test
if [ ! -f "$stamp" ]; then
    echo "bert2sk setup: installing dependencies (first run only)"
    # CPU torch first: an unpinned torch requirement would pull a multi-GB CUDA build.
    "${PIP[@]}" torch==2.13.0
    if [ "$want_test" = 1 ]; then
        "${PIP[@]}" -e ".[test]"
    else
        "${PIP[@]}" -e .
    fi
    rm -f .venv/.bert2sk-setup-*
    touch "$stamp"
fi

if [ "$want_test" = 1 ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
    echo "bert2sk setup: installing headless Chromium for the report test"
    SUDO=""
    [ "$(id -u)" != 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
