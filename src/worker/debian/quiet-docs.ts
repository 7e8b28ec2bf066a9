/**
 * A command, run as root in a build's sandbox before its build dependencies
 * are installed, that keeps dpkg from spending the build's time on manual
 * pages: it tells man-db not to rebuild its index (debconf's
 * man-db/auto-update, which its trigger obeys; the trigger otherwise runs
 * mandb over every manual page after each install) and leaves the manual and
 * info pages of installed packages out (dpkg's path-exclude, dpkg.cfg(5)).
 * Applied to the build's overlay, not to the cached image, so images need no
 * rebuilding and a package built against them sees the same files otherwise.
 */
export const quietDocsCommand: readonly string[] = [
  'sh',
  '-c',
  [
    "printf '%s\\n' 'man-db man-db/auto-update boolean false' | debconf-set-selections",
    "printf '%s\\n' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' > /etc/dpkg/dpkg.cfg.d/kiln-no-docs",
    // man-db, when already installed, reads this file's presence instead.
    'rm -f /var/lib/man-db/auto-update',
  ].join(' && '),
];
