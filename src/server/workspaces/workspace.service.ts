import { KilnError } from '../../protocol/errors.ts';
import type {
  CreateWorkspaceBody,
  Member,
  UpdateWorkspaceBody,
  Workspace,
  WorkspaceRole,
} from '../../protocol/workspaces.schema.ts';
import { actorUserId, isAdmin, type Actor } from '../auth/actor.ts';
import { requireUser } from '../auth/auth.service.ts';
import { findUserByName } from '../auth/user.repository.ts';
import type { Db } from '../db/connect.ts';
import { isForeignKeyViolation } from '../db/errors.ts';
import { authorizeWorkspace } from './access.ts';
import {
  countOwners,
  deleteMember,
  deleteWorkspace,
  insertWorkspace,
  listMembers,
  listVisibleWorkspaces,
  lockWorkspace,
  updateWorkspace,
  upsertMember,
  type WorkspaceWithRole,
} from './workspace.repository.ts';

export function toWorkspace({ workspace, role }: WorkspaceWithRole): Workspace {
  return {
    name: workspace.name,
    public: workspace.public,
    default_expiration: workspace.default_expiration,
    max_running_tasks: workspace.max_running_tasks,
    created_at: workspace.created_at.toISOString(),
    role,
  };
}

/** Creates a workspace; developers and admins may, and become its owner. */
export async function createWorkspace(
  db: Db,
  actor: Actor,
  request: CreateWorkspaceBody,
): Promise<Workspace> {
  const user = requireUser(actor);
  if (!user.scopes.has('write')) {
    throw new KilnError('insufficient_scope', 'this needs a token with the write scope');
  }
  if (user.role === 'guest') {
    throw new KilnError('forbidden', 'guests may not create workspaces');
  }
  return db.transaction().execute(async (trx) => {
    const workspace = await insertWorkspace(trx, {
      name: request.name,
      public: request.public ?? false,
      default_expiration: request.default_expiration ?? null,
    });
    if (workspace === undefined) {
      throw new KilnError('already_exists', `workspace ${request.name} already exists`);
    }
    await upsertMember(trx, workspace.id, user.userId, 'owner');
    return toWorkspace({ workspace, role: 'owner' });
  });
}

export async function listWorkspaces(db: Db, actor: Actor): Promise<Workspace[]> {
  return (await listVisibleWorkspaces(db, actorUserId(actor), isAdmin(actor))).map(toWorkspace);
}

export async function showWorkspace(db: Db, actor: Actor, name: string): Promise<Workspace> {
  return toWorkspace(await authorizeWorkspace(db, actor, name, 'read'));
}

export async function changeWorkspace(
  db: Db,
  actor: Actor,
  name: string,
  changes: UpdateWorkspaceBody,
): Promise<Workspace> {
  const access = await authorizeWorkspace(db, actor, name, 'own');
  const workspace = await updateWorkspace(db, access.workspace.id, {
    ...(changes.public === undefined ? {} : { public: changes.public }),
    ...(changes.default_expiration === undefined
      ? {}
      : { default_expiration: changes.default_expiration }),
    ...(changes.max_running_tasks === undefined
      ? {}
      : { max_running_tasks: changes.max_running_tasks }),
  });
  return toWorkspace({ workspace, role: access.role });
}

/** Deletes a workspace and its artifacts, unless another workspace's artifacts use them. */
export async function removeWorkspace(db: Db, actor: Actor, name: string): Promise<void> {
  const access = await authorizeWorkspace(db, actor, name, 'own');
  try {
    await db.transaction().execute((trx) => deleteWorkspace(trx, access.workspace.id));
  } catch (error) {
    if (isForeignKeyViolation(error)) {
      throw new KilnError(
        'workspace_in_use',
        `artifacts in other workspaces refer to artifacts in ${name}`,
        { cause: error },
      );
    }
    throw error;
  }
}

export async function listWorkspaceMembers(db: Db, actor: Actor, name: string): Promise<Member[]> {
  const access = await authorizeWorkspace(db, actor, name, 'read');
  return (await listMembers(db, access.workspace.id)).map((m) => ({
    username: m.username,
    role: m.role,
    added_at: m.added_at.toISOString(),
  }));
}

/** Adds a member or changes a member's role; a workspace keeps at least one owner. */
export async function setMember(
  db: Db,
  actor: Actor,
  name: string,
  username: string,
  role: WorkspaceRole,
): Promise<Member> {
  const access = await authorizeWorkspace(db, actor, name, 'own');
  return db.transaction().execute(async (trx) => {
    await lockWorkspace(trx, access.workspace.id);
    const user = await findUserByName(trx, username);
    if (user === undefined) {
      throw new KilnError('not_found', `user ${username} not found`);
    }
    const members = await listMembers(trx, access.workspace.id);
    const current = members.find((m) => m.username === username);
    if (current?.role === 'owner' && role !== 'owner') {
      await refuseLastOwner(trx, access.workspace.id, username);
    }
    await upsertMember(trx, access.workspace.id, user.id, role);
    return {
      username,
      role,
      added_at: (current?.added_at ?? new Date()).toISOString(),
    };
  });
}

export async function removeMember(
  db: Db,
  actor: Actor,
  name: string,
  username: string,
): Promise<void> {
  const access = await authorizeWorkspace(db, actor, name, 'own');
  await db.transaction().execute(async (trx) => {
    await lockWorkspace(trx, access.workspace.id);
    const user = await findUserByName(trx, username);
    const members = await listMembers(trx, access.workspace.id);
    const current = members.find((m) => m.username === username);
    if (user === undefined || current === undefined) {
      throw new KilnError('not_found', `${username} is not a member of ${name}`);
    }
    if (current.role === 'owner') {
      await refuseLastOwner(trx, access.workspace.id, username);
    }
    await deleteMember(trx, access.workspace.id, user.id);
  });
}

async function refuseLastOwner(db: Db, workspaceId: number, username: string): Promise<void> {
  if ((await countOwners(db, workspaceId)) <= 1) {
    throw new KilnError('conflict', `${username} is the workspace's last owner`);
  }
}
