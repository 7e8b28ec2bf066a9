import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findFreePort, spawnChild } from './child.ts';
import { readChildPids } from './proc.ts';

const nginxBinary = '/usr/sbin/nginx';
const startTimeoutMs = 10_000;

/** An nginx serving `root` for GET and WebDAV PUT, on 127.0.0.1. */
export interface NginxServer extends AsyncDisposable {
  readonly url: string;
  /** The directory served at `/`; PUT writes there too. */
  readonly root: string;
  /** The one worker process, which serves every request. */
  readonly workerPid: number;
}

/**
 * Starts nginx in the foreground with a configuration of its own under
 * `prefix`, as the current user. The request body's temporary file is on the
 * same file system as `root`, so that a PUT ends with a rename, not a copy.
 */
export async function startNginx(prefix: string): Promise<NginxServer> {
  const root = join(prefix, 'root');
  const bodyTemp = join(root, '.client-body');
  await mkdir(bodyTemp, { recursive: true });
  const port = await findFreePort();
  const config = join(prefix, 'nginx.conf');
  await writeFile(config, nginxConfig(prefix, root, bodyTemp, port));
  const child = spawnChild(nginxBinary, ['-p', prefix, '-c', config, '-e', 'stderr'], {});
  const url = `http://127.0.0.1:${port}`;
  let workerPid: number | undefined;
  try {
    await waitUntilAnswering(url, child.exited);
    [workerPid] = await readChildPids(child.pid);
    if (workerPid === undefined) {
      throw new Error('nginx has no worker process');
    }
  } catch (error) {
    await child.stop('SIGTERM', 5_000);
    throw new Error(`nginx did not start:\n${child.outputTail()}`, { cause: error });
  }
  return {
    url,
    root,
    workerPid,
    async [Symbol.asyncDispose]() {
      await child.stop('SIGTERM', 5_000);
    },
  };
}

function nginxConfig(prefix: string, root: string, bodyTemp: string, port: number): string {
  // Run as root, nginx would hand its workers to `nobody`, who cannot write here.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  return `daemon off;
worker_processes 1;
${user}
pid ${join(prefix, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  default_type application/octet-stream;
  client_body_temp_path ${bodyTemp};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / {
      dav_methods PUT;
      client_max_body_size 0;
    }
  }
}
`;
}

async function waitUntilAnswering(url: string, exited: Promise<string>): Promise<void> {
  let stopped: string | undefined;
  void exited.then(
    (how) => {
      stopped = how;
    },
    (error: unknown) => {
      stopped = String(error);
    },
  );
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (stopped !== undefined) {
      throw new Error(`nginx stopped (${stopped})`);
    }
    try {
      await fetch(url, { method: 'HEAD' });
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw error;
      }
      await sleep(50);
    }
  }
}
