import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throw-away GNUPGHOME with files in it, removed by `close`. */
export interface GpgHome {
  readonly dir: string;
  /** Writes `content` to `name` in the home and returns its path. */
  write(name: string, content: string | Uint8Array): Promise<string>;
  /** A keyring for `gpgv --keyring` made from armored public keys (`gpg --dearmor`). */
  keyring(name: string, armoredKeys: string): Promise<string>;
  /** Runs gpgv with `--status-fd 1` on `args`. */
  gpgv(keyring: string, ...args: string[]): Promise<GpgvResult>;
  /** Runs gpg (batch mode) in the home. */
  gpg(...args: string[]): Promise<ProcessResult>;
  close(): Promise<void>;
}

export interface ProcessResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** What gpgv said, read from its status lines as apt's gpgv method reads them. */
export interface GpgvResult extends ProcessResult {
  /** Fingerprints of the signatures that verified (VALIDSIG). */
  readonly valid: readonly string[];
  /** Key ids of signatures that did not verify (BADSIG). */
  readonly bad: readonly string[];
  /** Key ids of signatures whose key was not in the keyring (NO_PUBKEY). */
  readonly noPublicKey: readonly string[];
  /**
   * apt's verdict (methods/gpgv.cc): at least one good signature and no bad
   * one; signatures by keys the keyring lacks are fine. gpgv's own exit code
   * is 2 in that case.
   */
  readonly acceptedByApt: boolean;
}

export async function createGpgHome(): Promise<GpgHome> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-gpg-'));
  await chmod(dir, 0o700);
  const env = { ...process.env, GNUPGHOME: dir, LC_ALL: 'C' };
  const run = (command: string, args: readonly string[]) => runProcess(command, args, env);
  const home: GpgHome = {
    dir,
    async write(name, content) {
      const path = join(dir, name);
      await writeFile(path, content);
      return path;
    },
    async keyring(name, armoredKeys) {
      const armored = await home.write(`${name}.asc`, armoredKeys);
      const path = join(dir, name);
      const result = await home.gpg('--dearmor', '--output', path, armored);
      if (result.code !== 0) {
        throw new Error(`gpg --dearmor failed: ${result.stderr}`);
      }
      return path;
    },
    async gpgv(keyring, ...args) {
      const result = await run('gpgv', ['--status-fd', '1', '--keyring', keyring, ...args]);
      const lines = result.stdout.split('\n');
      const field = (prefix: string) =>
        lines.filter((l) => l.startsWith(`[GNUPG:] ${prefix} `)).map((l) => l.split(' ')[2] ?? '');
      const valid = field('VALIDSIG');
      const bad = field('BADSIG');
      const noPublicKey = field('NO_PUBKEY');
      const otherErrors = field('ERRSIG').filter((id) => !noPublicKey.includes(id));
      const good = field('GOODSIG');
      return {
        ...result,
        valid,
        bad,
        noPublicKey,
        acceptedByApt: good.length > 0 && valid.length > 0 && bad.length + otherErrors.length === 0,
      };
    },
    gpg: (...args) => run('gpg', ['--batch', '--quiet', '--no-tty', ...args]),
    async close() {
      await rm(dir, { recursive: true, force: true });
    },
  };
  return home;
}

function runProcess(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

/** A cleartext-signed message taken apart. */
export interface Cleartext {
  readonly hashHeaders: readonly string[];
  readonly text: string;
  readonly signature: string;
}

/**
 * Reads a cleartext-signed message as RFC 4880 §7 defines it and apt reads it
 * (apt-pkg/contrib/gpgv.cc, `SplitClearSignedFile`): the signed text is the
 * lines between the armor headers and "-----BEGIN PGP SIGNATURE-----",
 * dash-unescaped, joined with LF; the line ending before the signature armor
 * is not part of it. Throws where apt would refuse the file.
 */
export function readCleartext(message: string): Cleartext {
  const lines = message.split('\n');
  let at = 0;
  const next = () => {
    const line = lines[at++];
    if (line === undefined) {
      throw new Error('message ends early');
    }
    return line;
  };
  if (next() !== '-----BEGIN PGP SIGNED MESSAGE-----') {
    throw new Error('no "-----BEGIN PGP SIGNED MESSAGE-----" first line');
  }
  const hashHeaders: string[] = [];
  for (let line = next(); line !== ''; line = next()) {
    if (line.startsWith('-')) {
      throw new Error(`armor header line starting with a dash: ${line}`);
    }
    if (line.startsWith('Hash: ')) {
      hashHeaders.push(line.slice('Hash: '.length));
    }
  }
  const text: string[] = [];
  for (let line = next(); line !== '-----BEGIN PGP SIGNATURE-----'; line = next()) {
    if (line.startsWith('- ')) {
      text.push(line.slice(2));
    } else if (line.startsWith('-')) {
      throw new Error(`unescaped line starting with a dash: ${line}`);
    } else {
      text.push(line);
    }
  }
  const signature = ['-----BEGIN PGP SIGNATURE-----', ...lines.slice(at)].join('\n');
  if (!/-----END PGP SIGNATURE-----\n$/.test(signature)) {
    throw new Error('the signature is not closed, or text follows it');
  }
  return { hashHeaders, text: text.join('\n'), signature };
}
