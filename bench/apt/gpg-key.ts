import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A signing key made for one benchmark run, in a GNUPGHOME of its own. */
export interface GpgKey extends AsyncDisposable {
  readonly gnupgHome: string;
  readonly fingerprint: string;
  /** The public key, binary (`gpg --export`), for apt's `signed-by`. */
  readonly publicKeyFile: string;
  /** The environment to run gpg, or a tool that runs it, with this key. */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Makes an ed25519 signing key without a passphrase under `dir`. Every peer
 * here signs with gpg (reprepro through gpgme), which handles ed25519, and so
 * does apt's gpgv. Disposing of it stops the gpg-agent that gpg started.
 */
export async function createGpgKey(dir: string, signal: AbortSignal): Promise<GpgKey> {
  const gnupgHome = join(dir, 'gnupg');
  await mkdir(gnupgHome, { recursive: true, mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupgHome };
  const gpg = (args: readonly string[]) =>
    run('gpg', ['--batch', '--no-tty', ...args], { env, signal, encoding: 'buffer' });
  const stopAgent = async () => {
    await run('gpgconf', ['--kill', 'gpg-agent'], { env }).catch(() => undefined);
  };
  try {
    await gpg([
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--quick-generate-key',
      'kiln benchmark <bench@kiln.invalid>',
      'ed25519',
      'sign',
      'never',
    ]);
    const listing = (await gpg(['--with-colons', '--list-secret-keys'])).stdout.toString('utf8');
    const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
    if (fingerprint === undefined) {
      throw new Error(`gpg made no key:\n${listing}`);
    }
    const publicKeyFile = join(dir, 'signing-key.gpg');
    await writeFile(publicKeyFile, (await gpg(['--export', fingerprint])).stdout);
    return { gnupgHome, fingerprint, publicKeyFile, env, [Symbol.asyncDispose]: stopAgent };
  } catch (error) {
    await stopAgent();
    throw new Error('could not make a gpg key for the run', { cause: error });
  }
}
