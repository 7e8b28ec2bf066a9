import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One transfer as curl measured it. */
export interface Transfer {
  readonly bytes: number;
  readonly seconds: number;
}

export interface TransferOptions {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Where the response body goes (read back for an error message). */
  readonly output: string;
  readonly signal: AbortSignal;
}

const writeOut = '%{http_code} %{time_total} %{size_upload} %{size_download}';

/** PUTs `file` (`curl -T`); fails on an HTTP error status. */
export async function curlPut(file: string, options: TransferOptions): Promise<Transfer> {
  const result = await curl(['-T', file], options);
  return { bytes: result.uploaded, seconds: result.seconds };
}

/** GETs the URL into `options.output` (usually /dev/null); fails on an HTTP error status. */
export async function curlGet(options: TransferOptions): Promise<Transfer> {
  const result = await curl([], options);
  return { bytes: result.downloaded, seconds: result.seconds };
}

async function curl(args: readonly string[], options: TransferOptions) {
  const headers = Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const { stdout } = await run(
    'curl',
    ['-sS', ...args, ...headers, '-o', options.output, '-w', writeOut, options.url],
    { signal: options.signal },
  );
  const [status, seconds, uploaded, downloaded] = stdout.trim().split(' ').map(Number);
  if (status === undefined || status < 200 || status > 299) {
    const body = options.output === '/dev/null' ? '' : await readFile(options.output, 'utf8');
    throw new Error(`curl ${options.url}: HTTP ${status ?? '?'} ${body.slice(0, 2000)}`);
  }
  return { seconds: seconds ?? NaN, uploaded: uploaded ?? NaN, downloaded: downloaded ?? NaN };
}
