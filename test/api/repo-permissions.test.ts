/**
 * The permission matrix for APT repositories: the rows of
 * ../helpers/repo-permission-rows.ts × every kind of caller × a public and a
 * private workspace, each cell asserting the status and the error code; a
 * private workspace's repository answers a stranger exactly as one that does
 * not exist. permissions.test.ts checks that the rows cover every operation.
 */
import { after, before, describe } from 'node:test';
import { onOneDatabase } from '../helpers/databases.ts';
import { fixturesSharedButDeletes, titleOf, visibilityCells } from '../helpers/permission-cells.ts';
import { createCast, type Cast } from '../helpers/permission-fixtures.ts';
import { createRepoFixture, ghostRepoFixture, repoRows } from '../helpers/repo-permission-rows.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

onOneDatabase((backend) => {
  let server: TestServer;
  let cast: Cast;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createCast(server);
  });
  after(async () => {
    await server.close();
  });

  // Changes are queued tasks that leave the repository usable, so every cell
  // but a deletion shares one fixture per visibility.
  const fixtureFor = fixturesSharedButDeletes((visibility) => createRepoFixture(cast, visibility));

  for (const row of repoRows) {
    describe(titleOf(row), () => {
      visibilityCells(row, row.rule, '', {
        fixtureFor,
        ghost: ghostRepoFixture,
        contextOf: (fixture, actor, visibility) => ({ cast, actor, fixture, visibility }),
      });
    });
  }
});
