/**
 * The permission matrix for workflows, runs, triggers, webhooks and the hook
 * endpoint: the rows of ../helpers/workflow-permission-rows.ts and
 * ../helpers/trigger-permission-rows.ts × every kind of caller × a public and
 * a private workspace, each cell asserting the status and the error code; a
 * private workspace's template, run or trigger answers a stranger exactly as
 * one that does not exist. permissions.test.ts checks that the rows cover
 * every operation.
 */
import { after, before, describe } from 'node:test';
import { onOneDatabase } from '../helpers/databases.ts';
import {
  fixturesSharedButDeletes,
  instanceCells,
  titleOf,
  visibilityCells,
} from '../helpers/permission-cells.ts';
import { createCast, type Cast } from '../helpers/permission-fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { triggerRows } from '../helpers/trigger-permission-rows.ts';
import {
  createWorkflowFixture,
  ghostWorkflowFixture,
  workflowInstanceRows,
  workflowRows,
} from '../helpers/workflow-permission-rows.ts';

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

  for (const row of workflowInstanceRows) {
    describe(titleOf(row), () => {
      instanceCells(row, () => cast);
    });
  }

  // Creating, starting, cancelling, retrying and delivering leave the fixture
  // usable, so every cell but a deletion shares one fixture per visibility.
  const fixtureFor = fixturesSharedButDeletes((visibility) =>
    createWorkflowFixture(cast, visibility),
  );

  for (const row of [...workflowRows, ...triggerRows]) {
    describe(titleOf(row), () => {
      visibilityCells(row, row.rule, '', {
        fixtureFor,
        ghost: ghostWorkflowFixture,
        contextOf: (fixture, actor, visibility) => ({ cast, actor, fixture, visibility }),
      });
    });
  }
});
