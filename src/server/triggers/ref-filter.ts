/**
 * A trigger's ref filter: globs on full ref names (`refs/heads/main`,
 * `refs/tags/v*`, `refs/heads/release/**`). `*` and `?` stay within one path
 * component, as in git's own refspec and `for-each-ref` patterns; `**` spans
 * components.
 */

/** Why a glob is not a ref filter, or `undefined` when it is. */
export function explainBadRefGlob(glob: string): string | undefined {
  if (!glob.startsWith('refs/')) {
    return 'must start with refs/ (e.g. refs/heads/main or refs/tags/*)';
  }
  if (/[\s\\[\]~^:]/.test(glob) || glob.includes('..') || glob.endsWith('/')) {
    return 'is not a ref name pattern (git check-ref-format)';
  }
  return undefined;
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i] ?? '';
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i += 1;
    } else if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else {
      source += c.replace(/[.+^${}()|]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** Whether `ref` matches any of the globs. */
export function refMatches(globs: readonly string[], ref: string): boolean {
  return globs.some((glob) => globToRegExp(glob).test(ref));
}
