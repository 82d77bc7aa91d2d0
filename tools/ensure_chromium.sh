#!/usr/bin/env bash
# Make sure Debian's Chromium and ChromeDriver are installed for the web chat page's
# browser test: install the Debian packages when missing and apt is usable as root;
# otherwise say exactly what to install.
set -euo pipefail
PACKAGES="chromium chromium-driver"

have_all() {
  command -v chromium >/dev/null && command -v chromedriver >/dev/null
}

if have_all; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium and ChromeDriver for the browser test (Debian packages, once)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null
  have_all && exit 0
fi
echo "The browser test needs Chromium and ChromeDriver. Install these packages and re-run:" >&2
echo "  sudo apt-get install $PACKAGES" >&2
exit 1
