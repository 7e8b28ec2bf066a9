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

export interface ClaimOptions<T> {
  readonly workerId: number | null;
  readonly leaseSeconds: number;
  /** Runs in the claiming transaction: records the attempt, issues the token. */
  readonly onClaimed: (db: Db, task: TaskRow) => Promise<T>;
}

/**
 * Claims the best task for the claimer, or returns `undefined`: ranks the
 * partitions, then takes the head of the first with `FOR UPDATE SKIP LOCKED`,
 * so concurrent claimers never wait on each other and never take one task
 * twice. The claimed task is running, with a new attempt and a lease.
 */
export async function claimNextTask<T>(
  db: Db,
  claimer: Claimer,
  options: ClaimOptions<T>,
): Promise<T | undefined> {
  for (const partition of await rankPartitions(db, claimer)) {
    const claimed = await db.transaction().execute(async (trx) => {
      if (partition.max_running_tasks !== null) {
        // Serialise claims in a limited workspace so the limit holds exactly.
        await sql`select pg_advisory_xact_lock(${0x6b696c6f}, ${partition.workspace_id}::int)`.execute(
          trx,
        );
        const running = await sql<{ n: number }>`
          select count(*)::int as n from tasks
          where state = 'running' and workspace_id = ${partition.workspace_id}`.execute(trx);
        if ((running.rows[0]?.n ?? 0) >= partition.max_running_tasks) {
          return undefined;
        }
      }
      const rows = await sql<TaskRow>`
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
        returning *`.execute(trx);
      const task = rows.rows[0];
      return task === undefined ? undefined : { value: await options.onClaimed(trx, task) };
    });
    if (claimed !== undefined) {
      return claimed.value;
    }
  }
  return undefined;
}
