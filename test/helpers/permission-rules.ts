import { actorNames, type ActorName, type Visibility } from './permission-fixtures.ts';

/**
 * The rules of the permission matrix (DESIGN.md, README's Concepts, the
 * permissions issue), written out independently of the server's own access
 * checks so that the two can disagree.
 *
 * `machine` is the worker protocol (enrol, heartbeat, claim; a task's log,
 * result and hand-back): it needs an enrolment, worker or task token, and no
 * user may use it, however powerful. A caller without a token is asked for one
 * (401); a user's token is the wrong kind (403). The refusal comes before any
 * workspace is looked at, so it is the same for a private task as for one
 * that does not exist, and leaks nothing.
 *
 * `signed` is the hook endpoint's without its trigger's secret: who calls
 * does not count, so everyone, admin included, gets 401 `invalid_signature`,
 * the same for a private workspace's trigger as for none.
 */
export type Rule =
  | 'anyone'
  | 'user'
  | 'developer'
  | 'admin'
  | 'read'
  | 'upload'
  | 'change-own'
  | 'write'
  | 'own'
  | 'machine'
  | 'signed';

/** What a cell of the permission matrix expects: a status, and an error code on failure. */
export interface Outcome {
  readonly status: number;
  readonly code?: string;
}

/** Who may, by rule, in any workspace; in a public one, anyone may also `read`. */
const may: Readonly<Record<Rule, readonly ActorName[]>> = {
  anyone: actorNames,
  user: ['guest', 'non-member', 'viewer', 'uploader', 'writer', 'owner', 'admin'],
  developer: ['non-member', 'viewer', 'uploader', 'writer', 'owner', 'admin'],
  admin: ['admin'],
  read: ['viewer', 'uploader', 'writer', 'owner', 'admin'],
  upload: ['uploader', 'writer', 'owner', 'admin'],
  /** Changing what the uploader created (an artifact, a task): its creator, or a writer. */
  'change-own': ['uploader', 'writer', 'owner', 'admin'],
  write: ['writer', 'owner', 'admin'],
  own: ['owner', 'admin'],
  machine: [],
  signed: [],
};

/** Who may see a private workspace; to everyone else it and its content do not exist. */
export const seesPrivate: readonly ActorName[] = ['viewer', 'uploader', 'writer', 'owner', 'admin'];

/** What `actor` gets for an operation under `rule` that answers `success` when allowed. */
export function expectedOutcome(
  rule: Rule,
  actor: ActorName,
  success: number,
  visibility?: Visibility,
): Outcome {
  if (rule === 'signed') {
    return { status: 401, code: 'invalid_signature' };
  }
  if (may[rule].includes(actor) || (rule === 'read' && visibility === 'public')) {
    return { status: success };
  }
  if (visibility === 'private' && !seesPrivate.includes(actor) && rule !== 'machine') {
    return { status: 404, code: 'not_found' };
  }
  return actor === 'anonymous'
    ? { status: 401, code: 'unauthenticated' }
    : { status: 403, code: 'forbidden' };
}
