#!/usr/bin/env bash
# Make sure the Debian Administrator's Handbook (HTML pages) is installed: the data
# curation chapter compares its HTML-to-text extractor with resiliparse on those pages.
# Installs the Debian package when missing and apt is usable as root; otherwise says
# exactly what to install.
set -euo pipefail
PAGES=/usr/share/doc/debian-handbook/html/en-US

if ls "$PAGES"/*.html >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing debian-handbook (HTML pages for the extraction check, once)..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debian-handbook >/dev/null \
    || { apt-get update -qq && \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debian-handbook >/dev/null; }
  ls "$PAGES"/*.html >/dev/null 2>&1 && exit 0
fi
echo "The data curation chapter needs Debian's debian-handbook package. Install it" >&2
echo "and re-run:" >&2
echo "  sudo apt-get install debian-handbook" >&2
exit 1
