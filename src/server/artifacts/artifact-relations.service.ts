import {
  relationTypes,
  type Artifact,
  type RelationBody,
} from '../../protocol/artifacts.schema.ts';
import { KilnError } from '../../protocol/errors.ts';
import type { Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import { changeArtifact, type ArtifactDeps } from './artifact-change.ts';
import {
  deleteRelation,
  findVisibleArtifactIds,
  insertRelations,
  touchArtifact,
  type RelationType,
} from './artifact.repository.ts';
import { showArtifact } from './artifact-views.ts';

export interface CheckedRelation {
  readonly type: RelationType;
  readonly target: number;
}

/** Checks relation types and that the actor can see every target (`not_found` if not). */
export async function checkRelations(
  db: Db,
  actor: Actor,
  relations: readonly RelationBody[],
): Promise<CheckedRelation[]> {
  const checked = relations.map((r) => ({ type: checkRelationType(r.type), target: r.target }));
  const visible = await findVisibleArtifactIds(
    db,
    actor,
    checked.map((r) => r.target),
  );
  for (const relation of checked) {
    if (!visible.has(relation.target)) {
      throw new KilnError('not_found', `artifact ${relation.target} not found`);
    }
  }
  return checked;
}

function checkRelationType(type: string): RelationType {
  const known = relationTypes.find((t) => t === type);
  if (known === undefined) {
    throw new KilnError(
      'invalid_relation_type',
      `${JSON.stringify(type)} is not a relation type (${relationTypes.join(', ')})`,
    );
  }
  return known;
}

export async function addRelation(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  relation: RelationBody,
): Promise<Artifact> {
  if (relation.target === id) {
    throw new KilnError('bad_request', `artifact ${id} cannot relate to itself`);
  }
  const [checked] = await checkRelations(deps.db, actor, [relation]);
  await changeArtifact(deps, actor, id, async (db) => {
    if (checked !== undefined) {
      await insertRelations(db, [
        { artifact_id: id, target_id: checked.target, type: checked.type },
      ]);
      await touchArtifact(db, id);
    }
  });
  return showArtifact(deps, actor, id);
}

export async function removeRelation(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  relation: RelationBody,
): Promise<void> {
  const type = checkRelationType(relation.type);
  await changeArtifact(deps, actor, id, async (db) => {
    if (!(await deleteRelation(db, { artifact_id: id, target_id: relation.target, type }))) {
      throw new KilnError(
        'not_found',
        `artifact ${id} has no ${type} relation to ${relation.target}`,
      );
    }
    await touchArtifact(db, id);
  });
}
