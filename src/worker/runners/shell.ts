import { mkdir, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Artifact } from '../../protocol/artifacts.schema.ts';
import {
  describeLocalFile,
  downloadFiles,
  uploadMissing,
  type LocalFile,
} from '../../client/transfer.ts';
import { runInProcessGroup } from '../process-group.ts';
import type { TaskContext, TaskOutcome, TaskRunner } from '../runner.ts';

interface ShellInput {
  readonly command: string | readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly inputs?: readonly number[];
  readonly outputs?: { readonly type: string; readonly data?: Record<string, unknown> };
}

/**
 * `shell`: runs a command in the task's fresh working directory (no isolation
 * yet: the `host` executor), with its input artifacts in `inputs/<id>/` and a
 * time limit; the files it leaves in `outputs/` become an artifact.
 */
export const shellRunner: TaskRunner = {
  type: 'shell',
  async run(context) {
    const input = context.assignment.input as unknown as ShellInput;
    for (const id of input.inputs ?? []) {
      const artifact = await context.client.json<Artifact>('GET', `/api/v1/artifacts/${id}`);
      await downloadFiles(
        context.client,
        artifact,
        undefined,
        join(context.workDir, 'inputs', String(id)),
      );
      context.log(`kiln: artifact ${id} (${artifact.type}) in inputs/${id}/\n`);
    }
    await mkdir(join(context.workDir, 'outputs'), { recursive: true });
    const argv =
      typeof input.command === 'string' ? ['/bin/sh', '-c', input.command] : input.command;
    const result = await runInProcessGroup(argv, {
      cwd: context.workDir,
      env: {
        PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
        HOME: context.workDir,
        LANG: 'C.UTF-8',
        KILN_TASK_ID: String(context.assignment.task),
        KILN_TASK_ATTEMPT: String(context.assignment.attempt),
        ...input.env,
      },
      timeLimitMs: context.assignment.time_limit * 1000,
      signal: context.signal,
      onOutput: (text) => {
        context.log(text);
      },
    });
    if (result.stoppedBecause === 'timeout') {
      return {
        result: 'failure',
        reason: 'timeout',
        message: `stopped after its time limit of ${context.assignment.time_limit}s`,
      };
    }
    if (result.stoppedBecause === 'abort') {
      return { result: 'failure', reason: 'cancelled', message: 'stopped' };
    }
    if (result.code !== 0) {
      return {
        result: 'failure',
        reason: 'exit-status',
        message:
          result.code === null
            ? `killed by ${result.signal ?? 'a signal'}`
            : `exit status ${result.code}`,
      };
    }
    return input.outputs === undefined
      ? { result: 'success' }
      : uploadOutputs(context, input.outputs);
  },
};

async function uploadOutputs(
  context: TaskContext,
  outputs: NonNullable<ShellInput['outputs']>,
): Promise<TaskOutcome> {
  const dir = join(context.workDir, 'outputs');
  const files: LocalFile[] = [];
  for (const path of await walk(dir)) {
    files.push(await describeLocalFile(relative(dir, path).split(sep).join('/'), path));
  }
  const created = await context.client.json<Artifact>(
    'POST',
    `/api/v1/workspaces/${encodeURIComponent(context.assignment.workspace)}/artifacts`,
    {
      type: outputs.type,
      data: outputs.data ?? {},
      files: files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
    },
  );
  await uploadMissing(context.client, created.id, created.files, files);
  context.log(`kiln: outputs/ saved as artifact ${created.id} (${files.length} files)\n`);
  return { result: 'success', output: { artifact: created.id } };
}

async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      found.push(...(await walk(path)));
    } else if (entry.isFile()) {
      found.push(path);
    }
  }
  return found.sort();
}
