#!/usr/bin/env bash
# npm fetches MathJax once, so the HTML renders math offline. Install Debian's npm when
# it is missing and apt is usable as root; otherwise say exactly what to install.
set -euo pipefail
command -v npm >/dev/null && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing npm (Debian package, once) to fetch MathJax for the HTML..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  command -v npm >/dev/null && exit 0
fi
echo "The HTML needs MathJax, fetched once with npm. Install it and re-run:" >&2
echo "  sudo apt-get install npm" >&2
exit 1
