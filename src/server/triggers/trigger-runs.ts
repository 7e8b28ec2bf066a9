import type { TSchema } from 'typebox';
import { KilnError } from '../../protocol/errors.ts';
import type { UserActor } from '../auth/actor.ts';
import { findTemplate } from '../workflows/workflow.repository.ts';
import { startWorkflowRun, type WorkflowDeps } from '../workflows/workflow.service.ts';
import { findTriggerOwner } from './trigger.repository.ts';
import type { RunRequest, TriggerDeps } from './trigger.service.ts';

/** The parameter names a workflow's schema declares. */
function declaredParameters(schema: TSchema): readonly string[] {
  const properties = (schema as { properties?: Record<string, unknown> }).properties;
  return properties === undefined ? [] : Object.keys(properties);
}

/**
 * Connects triggers to the workflow engine. A trigger starts runs as the user
 * who created it, with that user's rights now: one who has left the workspace
 * starts nothing. A run gets the pushed `url` and `ref` (the commit, when the
 * sender names it, so that a branch that moves on builds what was pushed) as
 * run-time parameters where its workflow takes them and its template does not
 * fix them; the trigger's record names the event either way.
 */
export function createTriggerRuns(
  workflows: WorkflowDeps,
): Pick<TriggerDeps, 'startRun' | 'explainBadTemplate'> {
  return {
    async startRun(request: RunRequest) {
      const { trigger } = request;
      const owner = await findTriggerOwner(workflows.db, trigger);
      if (owner === undefined) {
        throw new KilnError('forbidden', `the user who made trigger ${trigger.name} is gone`);
      }
      const template = await findTemplate(workflows.db, trigger.workspace_id, trigger.template);
      const workflow =
        template === undefined ? undefined : workflows.workflows.get(template.workflow);
      const offered: Record<string, string> = {
        url: request.repositoryUrl,
        ref: request.commit ?? request.ref,
      };
      const parameters = Object.fromEntries(
        Object.entries(offered).filter(
          ([name]) =>
            workflow !== undefined &&
            declaredParameters(workflow.parameters).includes(name) &&
            !(template !== undefined && name in template.parameters),
        ),
      );
      const actor: UserActor = {
        kind: 'user',
        userId: owner.id,
        username: owner.username,
        role: owner.role,
        // No token: the trigger's own secret authenticated the delivery.
        tokenId: 0,
        scopes: new Set(['read', 'write']),
      };
      const run = await startWorkflowRun(workflows, actor, {
        workspace: owner.workspace,
        template: trigger.template,
        parameters,
        trigger: {
          kind: trigger.kind === 'git' ? 'git-hook' : 'webhook',
          details: {
            trigger: trigger.name,
            event: request.event,
            url: request.repositoryUrl,
            ref: request.ref,
            ...(request.commit === undefined ? {} : { commit: request.commit }),
          },
        },
      });
      return { id: run.id };
    },
    async explainBadTemplate(workspaceId, name) {
      const template = await findTemplate(workflows.db, workspaceId, name);
      return template === undefined
        ? `workflow template ${name} is not registered in this workspace`
        : undefined;
    },
  };
}
