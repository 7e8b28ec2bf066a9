import type { TokenScope } from '../../protocol/tokens.schema.ts';
import type { InstanceRole } from '../../protocol/users.schema.ts';

/** Who is making a request, as established by authentication. */
export type Actor = AnonymousActor | UserActor | EnrolmentActor | WorkerActor | TaskActor;

export interface AnonymousActor {
  readonly kind: 'anonymous';
}

export interface UserActor {
  readonly kind: 'user';
  readonly userId: number;
  readonly username: string;
  readonly role: InstanceRole;
  readonly tokenId: number;
  readonly scopes: ReadonlySet<TokenScope>;
}

/** Holder of an enrolment token: may only enrol a worker. */
export interface EnrolmentActor {
  readonly kind: 'enrolment';
  readonly tokenId: number;
}

/** A worker, by its own token: heartbeats and claims tasks. */
export interface WorkerActor {
  readonly kind: 'worker';
  readonly workerId: number;
  readonly workerName: string;
  readonly tokenId: number;
}

/**
 * A task attempt, by its task token: reaches that attempt's input and output
 * artifacts, its log and its result, and nothing else.
 */
export interface TaskActor {
  readonly kind: 'task';
  readonly taskId: number;
  readonly attempt: number;
  readonly workspaceId: number;
  /** The user who submitted the task; artifacts it creates are theirs too. */
  readonly submittedBy: number | null;
  readonly tokenId: number;
}

export const anonymous: AnonymousActor = Object.freeze({ kind: 'anonymous' });

/** Whether the actor holds instance-admin powers (admin role and `admin` scope). */
export function isAdmin(actor: Actor): boolean {
  return actor.kind === 'user' && actor.role === 'admin' && actor.scopes.has('admin');
}

/**
 * The user whose memberships the actor has, or `undefined`. A task actor has
 * none: its token reaches only its own inputs and outputs.
 */
export function actorUserId(actor: Actor): number | undefined {
  return actor.kind === 'user' ? actor.userId : undefined;
}

/** The user recorded as creator of what the actor creates (a task's submitter). */
export function creatorUserId(actor: Actor): number | undefined {
  if (actor.kind === 'task') {
    return actor.submittedBy ?? undefined;
  }
  return actorUserId(actor);
}

/** A short name for logs. */
export function describeActor(actor: Actor): string {
  switch (actor.kind) {
    case 'user':
      return actor.username;
    case 'worker':
      return `worker:${actor.workerName}`;
    case 'task':
      return `task:${actor.taskId}.${actor.attempt}`;
    default:
      return actor.kind;
  }
}
