#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver are installed for the chat page's
# browser test (tests/test_serve_browser.py): install the Debian packages when
# missing and apt is usable as root; otherwise say exactly what to install.
set -euo pipefail
PACKAGES="chromium chromium-driver"

have_all() {
  command -v chromium >/dev/null && command -v chromedriver >/dev/null &&
    chromedriver --version >/dev/null 2>&1
}

if have_all; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium and chromedriver for the browser test (Debian packages, once)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null
  have_all && exit 0
fi
echo "The browser test needs Chromium and chromedriver. Install these Debian/Ubuntu" >&2
echo "packages and re-run:" >&2
echo "  sudo apt-get install $PACKAGES" >&2
exit 1
