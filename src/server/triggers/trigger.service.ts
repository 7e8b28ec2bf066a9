import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { KilnError } from '../../protocol/errors.ts';
import type {
  CreatedTrigger,
  CreateTriggerBody,
  Trigger,
  TriggerDelivery,
} from '../../protocol/triggers.schema.ts';
import { creatorUserId, type Actor } from '../auth/actor.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Db } from '../db/connect.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { TriggerRow } from '../db/trigger-tables.ts';
import { authorizeWorkspace } from '../workspaces/access.ts';
import { explainBadRefGlob } from './ref-filter.ts';
import {
  deleteTrigger,
  findTriggerByName,
  insertTrigger,
  listTriggerDeliveries,
  listTriggersOfWorkspace,
} from './trigger.repository.ts';

/** What a trigger asks the workflow engine to start. */
export interface RunRequest {
  readonly trigger: TriggerRow;
  readonly ref: string;
  /** The pushed commit, when the sender names it. */
  readonly commit: string | undefined;
  readonly repositoryUrl: string;
  /** What happened, for the run's record: `github push`, `git push`, ... */
  readonly event: string;
}

/** Starts a run of the trigger's template (the workflow engine's side). */
export type RunStarter = (request: RunRequest) => Promise<{ readonly id: number }>;

export interface TriggerDeps {
  readonly db: Db;
  readonly secrets: SecretBox;
  /** The server's public URL (known once it listens). */
  readonly publicUrl: () => string;
  readonly startRun: RunStarter;
  /** Why a template cannot be a trigger's, or `undefined` when it can. */
  readonly explainBadTemplate: (
    workspaceId: number,
    template: string,
  ) => Promise<string | undefined>;
  readonly logger: Logger;
}

export function hookUrl(deps: TriggerDeps, id: number): string {
  return `${deps.publicUrl()}/api/v1/hooks/${id}`;
}

function toTrigger(deps: TriggerDeps, workspace: string, row: TriggerRow): Trigger {
  return {
    id: row.id,
    name: row.name,
    workspace,
    kind: row.kind,
    template: row.template,
    refs: row.refs,
    repository_url: row.repository_url,
    command: row.command,
    hook_url: hookUrl(deps, row.id),
    created_at: row.created_at.toISOString(),
  };
}

/**
 * Creates a trigger (workspace owners). Its secret is made here, returned
 * once, and kept only sealed: the server must read it back to verify HMACs.
 */
export async function createTrigger(
  deps: TriggerDeps,
  actor: Actor,
  workspace: string,
  body: CreateTriggerBody,
): Promise<CreatedTrigger> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'own');
  for (const glob of body.refs) {
    const bad = explainBadRefGlob(glob);
    if (bad !== undefined) {
      throw new KilnError('validation_failed', `ref filter ${JSON.stringify(glob)} ${bad}`);
    }
  }
  if (body.kind === 'git' && body.repository_url === undefined) {
    throw new KilnError('validation_failed', 'a git trigger needs the repository_url runs fetch');
  }
  if (body.command !== undefined && body.kind !== 'github') {
    throw new KilnError('validation_failed', 'comment commands are read from GitHub only');
  }
  const badTemplate = await deps.explainBadTemplate(access.workspace.id, body.template);
  if (badTemplate !== undefined) {
    throw new KilnError('validation_failed', badTemplate);
  }
  // A git hook's secret is a bearer token; a forge's keys an HMAC (or is GitLab's token).
  const secret = (body.kind === 'git' ? 'kiln_h_' : '') + randomBytes(32).toString('base64url');
  try {
    const row = await insertTrigger(deps.db, {
      workspace_id: access.workspace.id,
      name: body.name,
      kind: body.kind,
      template: body.template,
      refs: body.refs,
      repository_url: body.repository_url ?? null,
      command: body.command ?? null,
      secret_sealed: deps.secrets.seal(secret),
      created_by: creatorUserId(actor) ?? null,
    });
    return { ...toTrigger(deps, workspace, row), secret };
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new KilnError('already_exists', `trigger ${body.name} exists in ${workspace}`, {
        cause: error,
      });
    }
    throw error;
  }
}

export async function listTriggers(
  deps: TriggerDeps,
  actor: Actor,
  workspace: string,
): Promise<Trigger[]> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'read');
  const rows = await listTriggersOfWorkspace(deps.db, access.workspace.id);
  return rows.map((row) => toTrigger(deps, workspace, row));
}

async function findTrigger(
  deps: TriggerDeps,
  actor: Actor,
  workspace: string,
  name: string,
  action: 'read' | 'own',
): Promise<TriggerRow> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, action);
  const row = await findTriggerByName(deps.db, access.workspace.id, name);
  if (row === undefined) {
    throw new KilnError('not_found', `trigger ${name} not found in ${workspace}`);
  }
  return row;
}

export async function showTrigger(
  deps: TriggerDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<Trigger> {
  return toTrigger(deps, workspace, await findTrigger(deps, actor, workspace, name, 'read'));
}

export async function removeTrigger(
  deps: TriggerDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<void> {
  await deleteTrigger(deps.db, (await findTrigger(deps, actor, workspace, name, 'own')).id);
}

/** A trigger's latest deliveries, newest first (owners: they show what forges sent). */
export async function listDeliveriesOfTrigger(
  deps: TriggerDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<TriggerDelivery[]> {
  const trigger = await findTrigger(deps, actor, workspace, name, 'own');
  const rows = await listTriggerDeliveries(deps.db, trigger.id, 100);
  return rows.map((row) => ({
    id: row.id,
    delivery_id: row.delivery_id,
    event: row.event,
    outcome: row.outcome,
    message: row.message,
    received_at: row.received_at.toISOString(),
  }));
}
