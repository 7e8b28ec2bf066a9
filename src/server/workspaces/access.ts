import type { ExpressionBuilder } from 'kysely';
import { KilnError } from '../../protocol/errors.ts';
import { workspaceRoles, type WorkspaceRole } from '../../protocol/workspaces.schema.ts';
import { actorUserId, isAdmin, type Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import type { Database } from '../db/schema.ts';
import {
  findWorkspaceByIdWithRole,
  findWorkspaceWithRole,
  type WorkspaceWithRole,
} from './workspace.repository.ts';

/**
 * What an actor wants to do in a workspace, and the weakest role that may:
 * read (viewer), upload (uploader: create artifacts, change its own), write
 * (writer: change anything), own (owner: members and settings).
 */
export type WorkspaceAction = 'read' | 'upload' | 'write' | 'own';

const weakestRole: Readonly<Record<WorkspaceAction, WorkspaceRole>> = {
  read: 'viewer',
  upload: 'uploader',
  write: 'writer',
  own: 'owner',
};

/** Whether `role` may do `action`. */
export function roleAllows(role: WorkspaceRole | null, action: WorkspaceAction): boolean {
  return (
    role !== null && workspaceRoles.indexOf(role) >= workspaceRoles.indexOf(weakestRole[action])
  );
}

/** Whether the actor may see the workspace at all (a task sees its own). */
export function canSee(actor: Actor, access: WorkspaceWithRole): boolean {
  return (
    access.workspace.public ||
    access.role !== null ||
    isAdmin(actor) ||
    (actor.kind === 'task' && actor.workspaceId === access.workspace.id)
  );
}

/**
 * Throws unless the actor may do `action` in the workspace. One it may not see
 * is `not_found`, exactly as a workspace that does not exist, so that a private
 * workspace's existence does not leak.
 */
export function checkWorkspaceAccess(
  actor: Actor,
  access: WorkspaceWithRole,
  action: WorkspaceAction,
): void {
  if (!canSee(actor, access)) {
    throw new KilnError('not_found', `workspace ${access.workspace.name} not found`);
  }
  if ((action === 'read' && actor.kind !== 'task') || isAdmin(actor)) {
    return;
  }
  if (actor.kind === 'anonymous') {
    throw new KilnError('unauthenticated', 'this needs a token: log in first');
  }
  if (actor.kind === 'task') {
    // A task token creates its outputs in its own workspace, and does nothing else there.
    const own = actor.workspaceId === access.workspace.id;
    if ((action === 'upload' && own) || (action === 'read' && access.workspace.public)) {
      return;
    }
    throw new KilnError('forbidden', "a task token reaches only its task's inputs and outputs");
  }
  if (actor.kind !== 'user') {
    throw new KilnError('forbidden', `a ${actor.kind} token cannot do this`);
  }
  if (!actor.scopes.has('write')) {
    throw new KilnError('insufficient_scope', 'this needs a token with the write scope');
  }
  if (!roleAllows(access.role, action)) {
    throw new KilnError(
      'forbidden',
      `this needs the ${weakestRole[action]} role in workspace ${access.workspace.name}`,
    );
  }
}

/** Finds a workspace by name and checks the actor may do `action` in it. */
export async function authorizeWorkspace(
  db: Db,
  actor: Actor,
  name: string,
  action: WorkspaceAction,
): Promise<WorkspaceWithRole> {
  const access = await findWorkspaceWithRole(db, name, actorUserId(actor));
  if (access === undefined) {
    throw new KilnError('not_found', `workspace ${name} not found`);
  }
  checkWorkspaceAccess(actor, access, action);
  return access;
}

/** Like `authorizeWorkspace`, by id; a workspace that is gone is `undefined`. */
export async function findWorkspaceAccessById(
  db: Db,
  actor: Actor,
  id: number,
): Promise<WorkspaceWithRole | undefined> {
  return findWorkspaceByIdWithRole(db, id, actorUserId(actor));
}

/**
 * An SQL condition on `workspaces` rows in scope as `workspaces`: those the
 * actor may see. For queries that list across workspaces.
 */
export function visibleWorkspaces(actor: Actor) {
  return (eb: ExpressionBuilder<Database, 'workspaces'>) => {
    if (isAdmin(actor)) {
      return eb.lit(true);
    }
    const userId = actorUserId(actor);
    return eb.or([
      eb('workspaces.public', '=', true),
      ...(userId === undefined
        ? []
        : [
            eb.exists(
              eb
                .selectFrom('workspace_members as vm')
                .select('vm.user_id')
                .whereRef('vm.workspace_id', '=', 'workspaces.id')
                .where('vm.user_id', '=', userId),
            ),
          ]),
    ]);
  };
}
