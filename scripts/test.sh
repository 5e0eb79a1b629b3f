#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs it.
# The README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[test,examples]"

# The PostgreSQL server the store tests use (127.0.0.1:5432, user postgres, db test).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    fi
fi

# sshd and ssh-keygen for the `daskflow cluster ssh` tests, which start an sshd of their
# own on 127.0.0.1 (Debian's openssh-server); CI runs as root, so apt-get works there.
if ! [ -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
            openssh-server openssh-client >/dev/null
    else
        echo "openssh-server is missing: the cluster ssh tests need /usr/sbin/sshd" >&2
    fi
fi

# Headless Chromium for the dashboard's browser tests (Debian's package; Playwright drives it).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
            chromium >/dev/null
    else
        echo "chromium is missing: the dashboard's browser tests need it (apt-get install chromium)" >&2
    fi
fi

ruff check .
python -m pytest -q "$@"
