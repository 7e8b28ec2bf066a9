#!/bin/sh
# Installs the Debian tools kiln needs, when they are missing and we may:
# as root on a Debian-like system. Otherwise it says what is missing and goes on.
#   scripts/setup-debian.sh [farm|test|bench]...
set -eu

packages_for() {
  case "$1" in
    # Builds: sources from git, images by mmdebstrap, sandboxes by unshare
    # (util-linux) and bubblewrap, source packages by dpkg-source.
    farm) echo "git xz-utils dpkg-dev fakeroot mmdebstrap bubblewrap ca-certificates" ;;
    # The farm's, and what tests check its output with: apt-get against the
    # published repositories, gpgv for signatures, file for built binaries,
    # Chromium for the web UI tests (driven by playwright-core).
    test) echo "$(packages_for farm) debhelper apt-utils gnupg gpgv file chromium" ;;
    bench) echo "nginx-light curl reprepro aptly apt-utils gnupg time" ;;
    *) echo "setup-debian: unknown set $1" >&2; exit 2 ;;
  esac
}

[ $# -eq 0 ] && set -- farm
wanted=""
for set in "$@"; do
  wanted="$wanted $(packages_for "$set")"
done

missing=""
for package in $wanted; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    case " $missing " in *" $package "*) ;; *) missing="$missing $package" ;; esac
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-debian: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "setup-debian: missing Debian packages:$missing (run as root to install them)" >&2
fi
