/**
 * Publishing is atomic for apt: a client updating while publications follow
 * one another never sees a hash mismatch, and a server killed in the middle of
 * a publish keeps serving the previous publication, intact.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { apiAs, createUserWithToken, type Api } from '../helpers/api.ts';
import { createAptClient } from '../helpers/apt.ts';
import { createWorkspace, expectStatus } from '../helpers/artifacts.ts';
import { createCluster, startInstance } from '../helpers/cluster.ts';
import { onPostgres } from '../helpers/databases.ts';
import { buildDeb } from '../helpers/debs.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitUntil } from '../helpers/waits.ts';
import { change, repoPath, uploadDebs, uploadOverHttp } from './apt-helpers.ts';

const publishes = 100;

onPostgres((backend) => {
  let server: TestServer;
  let alice: Api;
  let work: string;

  before(async () => {
    server = await startTestServer(backend);
    alice = apiAs(server, await createUserWithToken(server, 'alice'));
    await createWorkspace(alice, 'pub', { public: true });
    work = await mkdtemp(join(tmpdir(), 'kiln-apt-atomic-'));
  });
  after(async () => {
    await server.close();
    await rm(work, { recursive: true, force: true });
  });

  describe('apt-get update while publications follow one another', () => {
    it(`never sees a hash mismatch through ${publishes} publishes`, async () => {
      const created = await alice.post('/api/v1/workspaces/pub/repositories', {
        name: 'churn',
        suites: [{ codename: 'stable', architectures: ['amd64'] }],
      });
      expectStatus(created, 201);
      const key = (await alice.get(`${repoPath('pub', 'churn')}/key`)).body as string;
      // Every package's .deb first, so that the publishes follow each other closely.
      const artifacts: number[] = [];
      for (let i = 1; i <= publishes; i++) {
        const deb = await buildDeb(join(work, 'debs'), {
          name: `churn${i % 7}`,
          version: String(i),
          architecture: 'amd64',
        });
        artifacts.push(await uploadDebs(alice, 'pub', [deb]));
      }
      const apt = await createAptClient(join(work, 'apt'), {
        uri: created.body.url as string,
        suite: 'stable',
        components: ['main'],
        architectures: ['amd64'],
        key,
      });

      const publishing = { now: true };
      const publisher = (async () => {
        try {
          for (const artifact of artifacts) {
            await change(alice, 'pub', 'churn', 'include', {
              suite: 'stable',
              artifacts: [artifact],
            });
          }
        } finally {
          publishing.now = false;
        }
      })();
      let updates = 0;
      const deadline = Date.now() + 600_000;
      while (publishing.now && updates < 1000 && Date.now() < deadline) {
        const result = await apt.aptGet('update', '--error-on=any');
        assert.doesNotMatch(result.output, /Hash Sum mismatch|File has unexpected size/);
        assert.equal(result.code, 0, result.output);
        updates += 1;
      }
      await publisher;
      assert.ok(updates >= 3, `only ${updates} updates ran during the publishes`);
      await apt.update();
      const last = Math.max(...artifacts.map((_, i) => i + 1).filter((i) => i % 7 === 2));
      assert.equal(await apt.candidate('churn2'), String(last));
    });
  });
});

describe('a publish killed with SIGKILL', () => {
  it('leaves the previous publication served and intact', async (t) => {
    const diagnostic = (message: string) => {
      t.diagnostic(message);
    };
    const cluster = await createCluster();
    const work = await mkdtemp(join(tmpdir(), 'kiln-apt-kill-'));
    try {
      const instance = await startInstance(cluster, { name: 'main', leaseTimeout: 3 });
      const port = instance.server.port;
      const admin = instance.admin;
      await admin.json('POST', '/api/v1/workspaces', { name: 'pub', public: true });
      const created = await admin.json<{ url: string }>(
        'POST',
        '/api/v1/workspaces/pub/repositories',
        {
          name: 'crashy',
          suites: [{ codename: 'stable', architectures: ['amd64'] }],
        },
      );
      const key = await (await fetch(`${created.url}/key.asc`)).text();
      const apt = await createAptClient(join(work, 'apt'), {
        uri: created.url,
        suite: 'stable',
        components: ['main'],
        architectures: ['amd64'],
        key,
      });
      let running = instance.server.process;
      const seen = new Set<string>();
      for (let round = 1; round <= 4; round++) {
        const debs = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            buildDeb(join(work, `round-${round}`), {
              name: `pkg${i}`,
              version: String(round),
              architecture: 'amd64',
            }),
          ),
        );
        const artifact = await uploadOverHttp(
          instance.server.url,
          instance.adminToken,
          'pub',
          debs,
        );
        const task = await admin.json<{ id: number }>(
          'POST',
          `${repoPath('pub', 'crashy')}/include`,
          { suite: 'stable', artifacts: [artifact] },
        );
        // Somewhere in the include or its publish, or just after.
        await sleep(40 * round);
        await cluster.crash(running);
        running = (await cluster.serve({ name: 'main', port, leaseTimeout: 3 })).process;
        // Right after the restart: the previous publication or the new one, whole.
        await apt.update();
        const version = await apt.candidate('pkg0');
        assert.ok(
          version === String(round) ||
            version === String(round - 1) ||
            (round === 1 && version === undefined),
          `round ${round}: ${String(version)}`,
        );
        for (let i = 1; i < 40; i += 13) {
          assert.equal(await apt.candidate(`pkg${i}`), version, `pkg${i} in round ${round}`);
        }
        seen.add(version === String(round) ? 'new' : 'old');
        // The include, requeued when its lease expires, runs again and publishes.
        const ended = await waitUntil(
          `task ${task.id} to end after the restart`,
          async () => {
            const shown = await admin.json<{
              state: string;
              result: string | null;
              message: string | null;
            }>('GET', `/api/v1/tasks/${task.id}`);
            return shown.state === 'completed' || shown.state === 'cancelled' ? shown : undefined;
          },
          { timeoutMs: 90_000, intervalMs: 250 },
        );
        assert.equal(ended.result, 'success', ended.message ?? '');
        await apt.update();
        assert.equal(await apt.candidate('pkg0'), String(round));
      }
      diagnostic(`publications seen right after a crash: ${[...seen].join(', ')}`);
    } finally {
      await cluster.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});
