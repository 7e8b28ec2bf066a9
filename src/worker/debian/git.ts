import { runInProcessGroup } from '../process-group.ts';

/** A git command's outcome, its output kept for error messages. */
export interface GitResult {
  readonly ok: boolean;
  readonly output: string;
}

export interface GitOptions {
  readonly cwd: string;
  readonly signal: AbortSignal;
  readonly log: (text: string) => void;
}

/** Runs git with a fixed environment (no prompts, no user config), logging what it does. */
export async function git(args: readonly string[], options: GitOptions): Promise<GitResult> {
  let output = '';
  options.log(`$ git ${args.join(' ')}\n`);
  const result = await runInProcessGroup(['git', ...args], {
    cwd: options.cwd,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: options.cwd,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      LANG: 'C.UTF-8',
    },
    timeLimitMs: 1800 * 1000,
    signal: options.signal,
    onOutput: (text) => {
      output += text;
      options.log(text);
    },
  });
  return { ok: result.code === 0, output };
}

/** Why a git URL is not one kiln fetches from, or `undefined` when it is. */
export function explainBadGitUrl(url: string): string | undefined {
  if (url.startsWith('/')) {
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is neither an absolute path nor a URL';
  }
  return ['https:', 'http:', 'file:', 'git:', 'ssh:'].includes(parsed.protocol)
    ? undefined
    : `has protocol ${parsed.protocol}, not https, http, file, git or ssh`;
}

/**
 * Fetches `ref` (branch, tag or commit) of `url` into `dir`, shallow where the
 * server allows it, and checks it out. Returns the commit, or an error message
 * naming the URL or the ref that failed.
 */
export async function fetchRef(
  url: string,
  ref: string,
  options: GitOptions,
): Promise<{ commit: string } | { error: string }> {
  const bad = explainBadGitUrl(url);
  if (bad !== undefined) {
    return { error: `git URL ${JSON.stringify(url)} ${bad}` };
  }
  if (ref.startsWith('-') || ref.length === 0) {
    return { error: `git ref ${JSON.stringify(ref)} is not a ref` };
  }
  for (const args of [
    ['init', '-q'],
    ['remote', 'add', 'origin', url],
  ]) {
    if (!(await git(args, options)).ok) {
      return { error: `git ${args[0] ?? ''} failed` };
    }
  }
  const probe = await git(['ls-remote', 'origin'], options);
  if (!probe.ok) {
    return { error: `cannot read the git repository ${url}: ${explainGitFailure(probe.output)}` };
  }
  // A shallow fetch of the ref; servers refuse unadvertised commits shallowly, so fall back to a full fetch.
  const shallow = await git(['fetch', '-q', '--depth', '1', 'origin', ref], options);
  if (!shallow.ok && !(await git(['fetch', '-q', 'origin'], options)).ok) {
    return { error: `cannot fetch from ${url}` };
  }
  const target = shallow.ok ? 'FETCH_HEAD' : ref;
  const checkout = await git(['checkout', '-q', '--detach', target], options);
  if (!checkout.ok) {
    return { error: `git ref ${JSON.stringify(ref)} is not in ${url}` };
  }
  const head = await git(['rev-parse', 'HEAD'], options);
  return { commit: head.output.trim().split('\n').at(-1) ?? '' };
}

/**
 * The line of git's output that says what went wrong: its first `fatal:` line
 * (the lines after it are advice such as "Please make sure you have the
 * correct access rights"), else its last line.
 */
export function explainGitFailure(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const fatal = lines.find((line) => line.startsWith('fatal: '));
  return fatal?.slice('fatal: '.length) ?? lines.at(-1) ?? 'git said nothing';
}
