#!/usr/bin/env bash
# Install the Kotlin compiler (and a JDK) for tests/test_android_demo.py, which compiles android_demo's
# plain-Kotlin core and checks it against Python goldens. Never fails the CI run: without apt (or
# without root) it prints a warning and the Kotlin tests skip with a clear reason.
set -u
if command -v kotlinc >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "warning: kotlinc missing and no root/sudo to install it; android_demo Kotlin tests will skip" >&2
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: kotlinc missing and apt-get unavailable; android_demo Kotlin tests will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq --no-install-recommends kotlin default-jre-headless >/dev/null 2>&1; }; then
    echo "warning: apt-get install kotlin failed; android_demo Kotlin tests will skip" >&2
    exit 0
fi
echo "installed $(kotlinc -version 2>&1 | grep -o 'kotlinc-jvm [^ ]*' || echo kotlinc)"
