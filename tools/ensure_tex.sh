#!/usr/bin/env bash
# Make sure the TeX toolchain for the PDF is installed: install the Debian packages when
# missing and apt is usable as root; otherwise say exactly what to install.
set -euo pipefail
PACKAGES="texlive-xetex texlive-latex-extra texlive-fonts-recommended latexmk \
fonts-freefont-otf fonts-dejavu-core poppler-utils"

have_all() {
  command -v xelatex >/dev/null && command -v latexmk >/dev/null &&
    command -v pdftoppm >/dev/null && { fc-list 2>/dev/null | grep "DejaVuSansMono" >/dev/null; } &&
    kpsewhich fncychap.sty >/dev/null && kpsewhich tabulary.sty >/dev/null
}

if have_all; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing the TeX toolchain for the PDF (Debian packages, ~115 MB, once)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null
  have_all && exit 0
fi
echo "The PDF needs a TeX toolchain. Install these Debian/Ubuntu packages and re-run:" >&2
echo "  sudo apt-get install $PACKAGES" >&2
exit 1
