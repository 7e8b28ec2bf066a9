import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/connect.ts';
import type { TaskRow } from '../db/schema.ts';

/** Who is claiming: a worker with its capabilities, or a server's task runner. */
export type Claimer =
  | {
      readonly runsOn: 'worker';
      readonly architectures: readonly string[];
      readonly crossArchitectures: readonly string[];
      readonly executors: readonly string[];
      readonly memory: number;
      readonly freeDisk: number;
      readonly tags: readonly string[];
    }
  | { readonly runsOn: 'server' };

/**
 * Fair-share weights. A partition (workspace, submitter) loses this many score
 * points per task it (or its workspace, or its submitter anywhere) already
 * runs, and its head task gains one point per minute waited, up to the cap,
 * counted from the later of the head's submission and the partition's last
 * claim. So a mass rebuild that keeps workers busy cannot starve a newcomer's
 * one-off task, even when its tasks are quick and none runs when the next
 * worker asks: the partition served last waits its turn. An admin's priority
 * outweighs both.
 */
export const fairShare = { runningPenalty: 100, waitingCapMinutes: 60 } as const;

/** The SQL condition "task `t` fits the claimer". */
function fits(claimer: Claimer): RawBuilder<boolean> {
  if (claimer.runsOn === 'server') {
    return sql<boolean>`true`;
  }
  const natives = sql`${[...claimer.architectures]}::text[]`;
  const crosses = sql`${[...claimer.crossArchitectures]}::text[]`;
  return sql<boolean>`(t.architecture is null or t.architecture = any(${natives}))
    and (t.host_architecture is null
      or (t.host_architecture = any(${natives}) and (t.architecture is null or t.architecture = t.host_architecture))
      or t.host_architecture = any(${crosses}))
    and (t.executor is null or t.executor = any(${sql`${[...claimer.executors]}::text[]`}))
    and t.min_memory <= ${claimer.memory}
    and t.min_disk <= ${claimer.freeDisk}
    and t.tags <@ ${sql`${[...claimer.tags]}::text[]`}`;
}

interface Partition {
  readonly workspace_id: number;
  readonly submitter: number;
  readonly max_running_tasks: number | null;
}

/**
 * The queue's partitions that hold a task fitting the claimer, best first: by
 * the head task's score plus capped waiting time (since submission, or since
 * the partition's last claim when that is later), minus the fair-share penalty.
 * Partitions of workspaces at their running-task limit are left out.
 */
async function rankPartitions(db: Db, claimer: Claimer): Promise<Partition[]> {
  const result = await sql<Partition>`
    with recursive parts(workspace_id, submitter) as (
      (select workspace_id, coalesce(created_by, 0) from tasks
        where state = 'pending' and runs_on = ${claimer.runsOn}
        order by workspace_id, coalesce(created_by, 0) limit 1)
      union all
      select next.workspace_id, next.submitter from parts cross join lateral (
        select workspace_id, coalesce(created_by, 0) as submitter from tasks
        where state = 'pending' and runs_on = ${claimer.runsOn}
          and (workspace_id, coalesce(created_by, 0)) > (parts.workspace_id, parts.submitter)
        order by workspace_id, coalesce(created_by, 0) limit 1) next
    ),
    running as (
      select workspace_id, coalesce(created_by, 0) as submitter, count(*) as n
      from tasks where state = 'running' group by 1, 2
    ),
    heads as (
      select parts.workspace_id, parts.submitter, head.score,
        greatest(head.created_at, served.last_started) as waiting_since
      from parts cross join lateral (
        select max(s.started_at) as last_started from tasks s
        where s.workspace_id = parts.workspace_id and coalesce(s.created_by, 0) = parts.submitter
          and s.started_at is not null) served
      cross join lateral (
        select t.base_score + t.priority as score, t.created_at from tasks t
        where t.state = 'pending' and t.runs_on = ${claimer.runsOn}
          and t.workspace_id = parts.workspace_id and coalesce(t.created_by, 0) = parts.submitter
          and ${fits(claimer)}
        order by t.queue_key desc, t.id limit 1) head
    )
    select heads.workspace_id, heads.submitter, w.max_running_tasks
    from heads join workspaces w on w.id = heads.workspace_id
    where w.max_running_tasks is null
      or w.max_running_tasks > (select coalesce(sum(n), 0) from running r where r.workspace_id = heads.workspace_id)
    order by heads.score
      + least(extract(epoch from now() - heads.waiting_since) / 60, ${fairShare.waitingCapMinutes})
      - ${fairShare.runningPenalty} * (
          coalesce((select sum(n) from running r where r.workspace_id = heads.workspace_id), 0)
        + coalesce((select sum(n) from running r where r.submitter = heads.submitter and heads.submitter <> 0), 0))
      desc, heads.workspace_id, heads.submitter`.execute(db);
  return result.rows;
}

export interface ClaimOptions {
  readonly workerId: number | null;
  /** Recorded with the attempt: the worker's name, or the server runner's. */
  readonly workerName: string;
  readonly leaseSeconds: number;
  /** The hash of a new task token to issue for the attempt (workers; none on the server). */
  readonly tokenHash?: string | undefined;
}

/** A claimed task: running, with a new attempt and a lease; with its workspace's name. */
export type ClaimedTask = TaskRow & { readonly workspace_name: string };

/**
 * Claims the best task for the claimer, or returns `undefined`: ranks the
 * partitions, then takes the head of the first with `FOR UPDATE SKIP LOCKED`,
 * so concurrent claimers never wait on each other and never take one task
 * twice. The claimed task is running, with a new attempt and a lease, and the
 * task token when `options` give its hash.
 */
export async function claimNextTask(
  db: Db,
  claimer: Claimer,
  options: ClaimOptions,
): Promise<ClaimedTask | undefined> {
  for (const partition of await rankPartitions(db, claimer)) {
    const claimed =
      partition.max_running_tasks === null
        ? await claimHead(db, claimer, partition, options)
        : await db.transaction().execute(async (trx) => {
            // Serialise claims in a limited workspace so the limit holds exactly.
            await sql`select pg_advisory_xact_lock(${0x6b696c6f}, ${partition.workspace_id}::int)`.execute(
              trx,
            );
            const running = await sql<{ n: number }>`
              select count(*)::int as n from tasks
              where state = 'running' and workspace_id = ${partition.workspace_id}`.execute(trx);
            return (running.rows[0]?.n ?? 0) >= (partition.max_running_tasks ?? 0)
              ? undefined
              : claimHead(trx, claimer, partition, options);
          });
    if (claimed !== undefined) {
      return claimed;
    }
  }
  return undefined;
}

/**
 * Takes the head of the partition that fits the claimer, records the attempt
 * and issues the task token, in one statement: one round trip, and one commit
 * outside a transaction, on the path every task takes.
 */
async function claimHead(
  db: Db,
  claimer: Claimer,
  partition: Partition,
  options: ClaimOptions,
): Promise<ClaimedTask | undefined> {
  const tokenHash = options.tokenHash ?? null;
  const rows = await sql<ClaimedTask>`
    with claimed as (
      update tasks set state = 'running', attempt = attempt + 1, worker_id = ${options.workerId},
        started_at = now(), lease_expires_at = now() + make_interval(secs => ${options.leaseSeconds})
      where id = (
        select t.id from tasks t
        where t.state = 'pending' and t.runs_on = ${claimer.runsOn}
          and t.workspace_id = ${partition.workspace_id}
          and coalesce(t.created_by, 0) = ${partition.submitter}
          and ${fits(claimer)}
        order by t.queue_key desc, t.id limit 1
        for update skip locked)
      returning *
    ),
    attempt as (
      insert into task_attempts (task_id, attempt, worker_id, worker_name)
      select id, attempt, worker_id, ${options.workerName} from claimed
    ),
    token as (
      insert into tokens (hash, kind, name, worker_id, task_id, task_attempt)
      select ${tokenHash}::text, 'task', 'task ' || id || ' attempt ' || attempt, worker_id, id, attempt
      from claimed where ${tokenHash}::text is not null
    )
    select claimed.*, w.name as workspace_name
    from claimed join workspaces w on w.id = claimed.workspace_id`.execute(db);
  return rows.rows[0];
}
