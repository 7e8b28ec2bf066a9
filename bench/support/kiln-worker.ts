import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { spawnChild, type Child } from './child.ts';
import type { KilnServer } from './kiln-server.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Starts a real `kiln worker` that builds in the images of `imageDir`; resolves once it has enrolled. */
export async function startKilnWorker(
  kiln: KilnServer,
  token: string,
  workDir: string,
  imageDir: string,
): Promise<Child> {
  const worker = spawnChild(
    join(repoRoot, 'node_modules/.bin/node'),
    [
      '--disable-warning=ExperimentalWarning',
      'src/main.ts',
      'worker',
      '--server',
      kiln.url,
      '--token',
      token,
      '--name',
      'bench-worker',
      '--work-dir',
      workDir,
      '--image-dir',
      imageDir,
    ],
    { cwd: repoRoot },
  );
  await waitForEnrolment(worker);
  return worker;
}

async function waitForEnrolment(worker: Child): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (/enrolled as/.test(worker.outputTail())) {
      return;
    }
    const ended = await Promise.race([worker.exited, sleep(100).then(() => undefined)]);
    if (ended !== undefined) {
      throw new Error(`kiln worker ended (${ended}):\n${worker.outputTail()}`);
    }
  }
  throw new Error(`kiln worker did not enrol within 60 s:\n${worker.outputTail()}`);
}
