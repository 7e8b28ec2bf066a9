/**
 * The apt.conf of an apt of its own, for tests and benchmarks: configuration,
 * sources, keys, lists and cache under one directory. APT_CONFIG names this
 * file, which moves Dir::Etc (and so apt.conf.d) there: none of the machine's
 * apt settings apply (not even a global Acquire::Check-Date "false" or
 * Acquire::GzipIndexes "true"), and the machine's own package state is never
 * touched.
 */
export interface AptConfigOptions {
  /** Where the client's files live: etc/, state/, cache/, log/. */
  readonly dir: string;
  /** The first is apt's native architecture. */
  readonly architectures: readonly string[];
  /**
   * A dpkg database (`var/lib/dpkg` under a root) that packages install
   * into; absent, apt only updates, resolves and downloads, and its status
   * file is `<dir>/state/status`.
   */
  readonly dpkg?: { readonly root: string; readonly admin: string };
}

export function aptConfig(options: AptConfigOptions): string {
  const { dir, architectures, dpkg } = options;
  const lines = [
    `Dir::Etc "${dir}/etc/";`,
    'Dir::Etc::main "apt.conf";',
    'Dir::Etc::parts "apt.conf.d";',
    'Dir::Etc::sourcelist "sources.list";',
    'Dir::Etc::sourceparts "sources.list.d";',
    'Dir::Etc::trusted "trusted.gpg";',
    'Dir::Etc::trustedparts "trusted.gpg.d";',
    'Dir::Etc::preferences "preferences";',
    'Dir::Etc::preferencesparts "preferences.d";',
    // HTTP credentials as apt users keep them (auth.conf.d/*.conf).
    'Dir::Etc::netrc "auth.conf";',
    'Dir::Etc::netrcparts "auth.conf.d";',
    `Dir::State "${dir}/state/";`,
    `Dir::State::status "${dpkg === undefined ? `${dir}/state` : dpkg.admin}/status";`,
    `Dir::Cache "${dir}/cache/";`,
    `Dir::Log "${dir}/log/";`,
    `APT::Architecture "${architectures[0] ?? 'amd64'}";`,
    `APT::Architectures { ${architectures.map((a) => `"${a}";`).join(' ')} };`,
    'Acquire::Languages "none";',
    // Lists kept as plain text, for those who read them.
    'Acquire::GzipIndexes "false";',
    'Acquire::Check-Date "true";',
    'Acquire::Check-Valid-Until "true";',
    'Acquire::Retries "0";',
    // Root's downloads would otherwise run as _apt, who cannot read a private 0700 tree.
    'APT::Sandbox::User "root";',
    ...(dpkg === undefined
      ? []
      : [
          `DPkg::Options { "--root=${dpkg.root}"; "--admindir=${dpkg.admin}"; "--force-script-chrootless"; "--force-not-root"; };`,
          'DPkg::Use-Pty "false";',
        ]),
  ];
  return `${lines.join('\n')}\n`;
}
