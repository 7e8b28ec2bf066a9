import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientError } from '../client/client.ts';

/** The line that marks a post-receive hook as kiln's (it may be replaced). */
const marker = '# kiln post-receive hook';

/** The file beside the hooks that holds the trigger's token, as a curl header line. */
export const tokenFileName = 'kiln-hook.headers';

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The hook: git gives it `<old> <new> <ref>` lines on stdin (githooks(5)),
 * which it posts to kiln as they are, with one curl and no JSON to build, so
 * a push waits a few milliseconds plus kiln's answer. The token is read from a
 * 0600 file (`curl -H @file`), never put on a command line where `ps` shows it.
 */
export function postReceiveHook(hookUrl: string, trigger: string): string {
  return `#!/bin/sh
${marker} (installed by \`kiln hook install\`; trigger ${trigger}).
# Tells kiln which refs were pushed; kiln starts a run for each one the
# trigger's filters match, and this prints what it did.
dir=\${GIT_DIR:-.}
curl --silent --show-error --max-time 30 \\
  --header "@$dir/${tokenFileName}" \\
  --header 'Content-Type: text/plain' --header 'Accept: text/plain' \\
  --data-binary @- ${shellQuote(hookUrl)} 2>&1 | sed 's/^/kiln: /'
exit 0
`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Throws unless `repo` is a bare git repository whose post-receive hook may be (re)placed. */
export async function checkBareRepository(repo: string, force: boolean): Promise<void> {
  if (!(await exists(join(repo, 'HEAD'))) || !(await exists(join(repo, 'objects')))) {
    throw new ClientError(`${repo} is not a bare git repository`, 'usage');
  }
  const hook = join(repo, 'hooks', 'post-receive');
  const current = await readFile(hook, 'utf8').catch(() => undefined);
  if (current !== undefined && !current.includes(marker) && !force) {
    throw new ClientError(`${hook} exists and is not kiln's: pass --force to replace it`, 'usage');
  }
}

/** Writes the token file (mode 0600) and the hook (0755), each whole or not at all. */
export async function writeGitHook(
  repo: string,
  hookUrl: string,
  trigger: string,
  token: string,
): Promise<void> {
  const write = async (path: string, text: string, mode: number) => {
    const temporary = `${path}.kiln-tmp`;
    await writeFile(temporary, text, { mode });
    await chmod(temporary, mode);
    await rename(temporary, path);
  };
  await write(join(repo, tokenFileName), `X-Kiln-Hook-Token: ${token}\n`, 0o600);
  await write(join(repo, 'hooks', 'post-receive'), postReceiveHook(hookUrl, trigger), 0o755);
}
