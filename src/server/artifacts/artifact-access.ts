import { KilnError } from '../../protocol/errors.ts';
import { actorUserId, type Actor, type TaskActor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import {
  canSee,
  checkWorkspaceAccess,
  findWorkspaceAccessById,
  roleAllows,
} from '../workspaces/access.ts';
import type { WorkspaceWithRole } from '../workspaces/workspace.repository.ts';
import { findArtifact, isTaskArtifact, type ArtifactWithNames } from './artifact.repository.ts';

/**
 * What an actor wants to do with an artifact: read it; change it (writers, or
 * uploaders for artifacts they created); delete it (as change, and an immutable
 * artifact only by an owner).
 */
export type ArtifactAction = 'read' | 'change' | 'delete';

export interface ArtifactAccess {
  readonly artifact: ArtifactWithNames;
  readonly access: WorkspaceWithRole;
}

/**
 * Loads an artifact and checks the actor may do `action` with it. An artifact in
 * a workspace the actor cannot see is `not_found`, like one that does not exist.
 */
export async function authorizeArtifact(
  db: Db,
  actor: Actor,
  id: number,
  action: ArtifactAction,
): Promise<ArtifactAccess> {
  const artifact = await findArtifact(db, id);
  const access =
    artifact === undefined
      ? undefined
      : await findWorkspaceAccessById(db, actor, artifact.workspace_id);
  if (artifact === undefined || access === undefined || !canSee(actor, access)) {
    throw new KilnError('not_found', `artifact ${id} not found`);
  }
  if (actor.kind === 'task') {
    return authorizeTaskArtifact(db, actor, { artifact, access }, action);
  }
  if (action === 'read') {
    return { artifact, access };
  }
  if (action === 'delete' && artifact.immutable) {
    checkWorkspaceAccess(actor, access, 'own');
    return { artifact, access };
  }
  const ownArtifact = artifact.created_by !== null && artifact.created_by === actorUserId(actor);
  const uploaderOwnsIt = ownArtifact && roleAllows(access.role, 'upload');
  checkWorkspaceAccess(actor, access, uploaderOwnsIt ? 'upload' : 'write');
  if (action === 'change' && artifact.immutable) {
    throw immutable(id);
  }
  return { artifact, access };
}

/**
 * A task token reads its inputs and outputs (and public artifacts), and changes
 * only the artifacts its task created.
 */
async function authorizeTaskArtifact(
  db: Db,
  actor: TaskActor,
  found: ArtifactAccess,
  action: ArtifactAction,
): Promise<ArtifactAccess> {
  const { artifact, access } = found;
  const created = artifact.created_by_task === actor.taskId;
  if (action === 'read') {
    if (
      created ||
      access.workspace.public ||
      (await isTaskArtifact(db, actor.taskId, artifact.id))
    ) {
      return found;
    }
    throw new KilnError('not_found', `artifact ${artifact.id} not found`);
  }
  if (!created) {
    throw new KilnError('forbidden', `task ${actor.taskId} did not create artifact ${artifact.id}`);
  }
  if (artifact.immutable) {
    throw immutable(artifact.id);
  }
  return found;
}

export function immutable(id: number): KilnError {
  return new KilnError('artifact_immutable', `artifact ${id} is immutable`);
}
