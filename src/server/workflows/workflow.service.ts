import { KilnError } from '../../protocol/errors.ts';
import type {
  RegisterTemplateBody,
  Run,
  RunSummary,
  RunTrigger,
  WorkflowTemplate,
} from '../../protocol/workflows.schema.ts';
import { actorUserId, type Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import type { WorkflowRunRow } from '../db/schema.ts';
import { retryLockedTask } from '../scheduler/task.service.ts';
import { lockTask } from '../scheduler/task.repository.ts';
import {
  authorizeWorkspace,
  canSee,
  checkWorkspaceAccess,
  findWorkspaceAccessById,
  roleAllows,
} from '../workspaces/access.ts';
import { abortLockedRun, advanceLockedRun, type EngineDeps } from './run-advance.ts';
import { failedByItself } from './run-status.ts';
import { toRun, toRunSummary, toTemplate } from './run-view.ts';
import {
  deleteTemplate,
  findChildRun,
  findRun,
  findTemplate,
  insertEvent,
  insertRun,
  insertTemplate,
  insertWakeup,
  listRunningWithKey,
  listRunTasks,
  listRunsInWorkspace,
  listTemplates,
  lockRun,
  updateRun,
  type RunWithNames,
} from './workflow.repository.ts';

/** What the workflow services need: the engine's dependencies. */
export type WorkflowDeps = EngineDeps;

/**
 * Registers a workflow template in a workspace: a built-in workflow's name and
 * fixed parameters (checked as far as they go alone). Only owners register.
 */
export async function registerTemplate(
  deps: WorkflowDeps,
  actor: Actor,
  workspace: string,
  request: RegisterTemplateBody,
): Promise<WorkflowTemplate> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'own');
  const workflow = deps.workflows.require(request.workflow);
  const parameters = request.parameters ?? {};
  checkPartialParameters(deps, workflow.name, parameters);
  if ((await findTemplate(deps.db, access.workspace.id, request.name)) !== undefined) {
    throw new KilnError(
      'already_exists',
      `workflow template ${request.name} already exists in ${workspace}`,
    );
  }
  const row = await insertTemplate(deps.db, {
    workspace_id: access.workspace.id,
    name: request.name,
    workflow: workflow.name,
    parameters: JSON.stringify(parameters),
    max_retries: request.max_retries ?? 2,
    created_by: actorUserId(actor) ?? null,
  });
  return toTemplate({
    ...row,
    workspace_name: access.workspace.name,
    creator: actor.kind === 'user' ? actor.username : null,
  });
}

/**
 * Fixed parameters alone may lack what runs give; a parameter they do give
 * must be one the workflow knows, of the right shape.
 */
function checkPartialParameters(
  deps: WorkflowDeps,
  name: string,
  parameters: Record<string, unknown>,
) {
  const workflow = deps.workflows.require(name);
  const properties =
    (workflow.parameters as { properties?: Record<string, unknown> }).properties ?? {};
  for (const key of Object.keys(parameters)) {
    if (!(key in properties)) {
      throw new KilnError(
        'invalid_workflow_parameters',
        `parameters of ${name}: /${key} is not a parameter (${Object.keys(properties).join(', ')})`,
      );
    }
  }
}

export async function listWorkflowTemplates(
  deps: WorkflowDeps,
  actor: Actor,
  workspace: string,
): Promise<WorkflowTemplate[]> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'read');
  return (await listTemplates(deps.db, access.workspace.id)).map(toTemplate);
}

export async function removeTemplate(
  deps: WorkflowDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<void> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'own');
  const template = await findTemplate(deps.db, access.workspace.id, name);
  if (template === undefined) {
    throw new KilnError('not_found', `workflow template ${name} not found in ${workspace}`);
  }
  await deleteTemplate(deps.db, template.id);
}

/** What starts a run: a registered template, run-time parameters, and what triggered it. */
export interface StartRunRequest {
  readonly workspace: string;
  readonly template: string;
  readonly parameters?: Record<string, unknown> | undefined;
  readonly trigger?: RunTrigger | undefined;
}

/**
 * Starts a run of a registered template (debusine's rule: nothing else can be
 * started). The run-time parameters are merged with the template's fixed ones
 * (which they may not change) and checked against the workflow; the run
 * supersedes older running runs with the same key, and its first tasks are
 * submitted, all in one transaction: bad parameters create nothing. Starting
 * needs the uploader role (as submitting a task does); viewers cannot.
 */
export async function startWorkflowRun(
  deps: WorkflowDeps,
  actor: Actor,
  request: StartRunRequest,
): Promise<Run> {
  const access = await authorizeWorkspace(deps.db, actor, request.workspace, 'upload');
  if (actor.kind !== 'user') {
    throw new KilnError('forbidden', `a ${actor.kind} token cannot start runs`);
  }
  const template = await findTemplate(deps.db, access.workspace.id, request.template);
  if (template === undefined) {
    throw new KilnError(
      'not_found',
      `workflow template ${request.template} not found in ${request.workspace}`,
    );
  }
  const given = request.parameters ?? {};
  const fixed = Object.keys(given).filter((key) => key in template.parameters);
  if (fixed.length > 0) {
    throw new KilnError(
      'invalid_workflow_parameters',
      `template ${template.name} fixes ${fixed.join(', ')}: a run cannot change ${fixed.length === 1 ? 'it' : 'them'}`,
    );
  }
  const id = await deps.db.transaction().execute((trx) =>
    createRun(trx, deps, {
      workspaceId: access.workspace.id,
      templateId: template.id,
      templateName: template.name,
      workflow: template.workflow,
      parameters: { ...given, ...template.parameters },
      trigger: request.trigger ?? { kind: 'api' },
      maxRetries: template.max_retries,
      createdBy: actor.userId,
      parentRunId: null,
    }),
  );
  return showRunUnchecked(deps.db, id);
}

interface NewRun {
  readonly workspaceId: number;
  readonly templateId: number | null;
  readonly templateName: string;
  readonly workflow: string;
  readonly parameters: Record<string, unknown>;
  readonly trigger: RunTrigger;
  readonly maxRetries: number;
  readonly createdBy: number | null;
  readonly parentRunId: number | null;
}

/** Creates a run in the caller's transaction and takes it as far as it goes now. */
async function createRun(trx: Db, deps: WorkflowDeps, run: NewRun): Promise<number> {
  const workflow = deps.workflows.require(run.workflow);
  const parameters = deps.workflows.checkParameters(workflow, run.parameters);
  const prepared =
    (await workflow.prepare?.({ db: trx, workspaceId: run.workspaceId }, parameters)) ?? {};
  const row = await insertRun(trx, {
    workspace_id: run.workspaceId,
    template_id: run.templateId,
    template_name: run.templateName,
    workflow: workflow.name,
    parameters: JSON.stringify(parameters),
    trigger: JSON.stringify(run.trigger),
    status: 'running',
    max_retries: run.maxRetries,
    supersede_key: prepared.supersedeKey ?? null,
    artifact_id: prepared.artifactId ?? null,
    parent_run_id: run.parentRunId,
    created_by: run.createdBy,
  });
  await insertEvent(trx, {
    run_id: row.id,
    kind: 'run-started',
    data: { template: run.templateName, workflow: workflow.name, trigger: run.trigger },
  });
  if (prepared.supersedeKey !== undefined) {
    for (const older of await listRunningWithKey(
      trx,
      run.workspaceId,
      prepared.supersedeKey,
      row.id,
    )) {
      const locked = await lockRun(trx, older);
      if (locked !== undefined) {
        await abortLockedRun(trx, locked, `superseded by run ${row.id}`, { supersededBy: row.id });
      }
    }
  }
  await advanceLockedRun(trx, deps, row, startChildRun(deps));
  return row.id;
}

function startChildRun(deps: WorkflowDeps) {
  return async (
    trx: Db,
    parent: WorkflowRunRow,
    workflow: string,
    parameters: Record<string, unknown>,
  ) =>
    (await findChildRun(trx, parent.id, workflow)) ??
    createRun(trx, deps, {
      workspaceId: parent.workspace_id,
      templateId: null,
      templateName: parent.template_name,
      workflow,
      parameters,
      trigger: { kind: 'workflow', details: { run: parent.id } },
      maxRetries: parent.max_retries,
      createdBy: parent.created_by,
      parentRunId: parent.id,
    });
}

/** Moves a run on in the caller's transaction, which holds its lock (the engine's entry). */
export function advanceRun(trx: Db, deps: WorkflowDeps, run: WorkflowRunRow): Promise<void> {
  return advanceLockedRun(trx, deps, run, startChildRun(deps));
}

async function showRunUnchecked(db: Db, id: number): Promise<Run> {
  const row = await findRun(db, id);
  if (row === undefined) {
    throw new KilnError('not_found', `run ${id} not found`);
  }
  return toRun(row, await listRunTasks(db, id));
}

/** Loads a run and checks the actor may read it or change it (cancel, retry). */
export async function authorizeRun(
  db: Db,
  actor: Actor,
  id: number,
  action: 'read' | 'change',
): Promise<RunWithNames> {
  const run = await findRun(db, id);
  const access =
    run === undefined ? undefined : await findWorkspaceAccessById(db, actor, run.workspace_id);
  if (run === undefined || access === undefined || !canSee(actor, access)) {
    throw new KilnError('not_found', `run ${id} not found`);
  }
  const starter = run.created_by !== null && run.created_by === actorUserId(actor);
  checkWorkspaceAccess(
    actor,
    access,
    action === 'read' ? 'read' : starter && roleAllows(access.role, 'upload') ? 'upload' : 'write',
  );
  return run;
}

export async function showRun(deps: WorkflowDeps, actor: Actor, id: number): Promise<Run> {
  const run = await authorizeRun(deps.db, actor, id, 'read');
  return toRun(run, await listRunTasks(deps.db, id));
}

export async function listRuns(
  deps: WorkflowDeps,
  actor: Actor,
  workspace: string,
  filter: {
    status?: WorkflowRunRow['status'] | undefined;
    template?: string | undefined;
    limit?: number | undefined;
    offset?: number | undefined;
  },
): Promise<{ items: RunSummary[]; total: number }> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'read');
  const { rows, total } = await listRunsInWorkspace(deps.db, access.workspace.id, {
    status: filter.status,
    template: filter.template,
    limit: filter.limit ?? 100,
    offset: filter.offset ?? 0,
  });
  return { items: rows.map(toRunSummary), total };
}

/** Cancels a running run: it is aborted and its unfinished tasks cancelled. */
export async function cancelRun(deps: WorkflowDeps, actor: Actor, id: number): Promise<Run> {
  await authorizeRun(deps.db, actor, id, 'change');
  await deps.db.transaction().execute(async (trx) => {
    const run = await lockRun(trx, id);
    if (run !== undefined) {
      await abortLockedRun(
        trx,
        run,
        `cancelled by ${actor.kind === 'user' ? actor.username : actor.kind}`,
      );
    }
  });
  return showRunUnchecked(deps.db, id);
}

/**
 * Retries a run that ended without success: its tasks that failed, errored or
 * were cancelled go back to the queue (with those they blocked), and the run
 * is running again. A run still running, or that succeeded, stays as it is.
 */
export async function retryRun(deps: WorkflowDeps, actor: Actor, id: number): Promise<Run> {
  await authorizeRun(deps.db, actor, id, 'change');
  await deps.db.transaction().execute(async (trx) => {
    const run = await lockRun(trx, id);
    if (run === undefined || run.status === 'running' || run.result === 'success') {
      return;
    }
    for (const task of await listRunTasks(trx, id)) {
      if (failedByItself(task)) {
        const row = await lockTask(trx, task.id);
        if (row !== undefined) {
          await retryLockedTask(trx, row);
          await trx.updateTable('tasks').set({ run_retries: 0 }).where('id', '=', row.id).execute();
        }
      }
    }
    await updateRun(trx, id, {
      status: 'running',
      result: null,
      message: null,
      completed_at: null,
      expires_at: null,
      superseded_by: null,
    });
    await insertEvent(trx, { run_id: id, kind: 'run-started', data: { retried: true } });
    await insertWakeup(trx, id);
  });
  return showRunUnchecked(deps.db, id);
}
