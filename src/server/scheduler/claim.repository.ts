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
  /** What it is ranked by: its head's score, plus time waited, minus the fair-share penalty. */
  readonly rank_score: number;
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
    select * from (
      select heads.workspace_id, heads.submitter, w.max_running_tasks,
        (heads.score
          + least(extract(epoch from now() - heads.waiting_since) / 60, ${fairShare.waitingCapMinutes})
          - ${fairShare.runningPenalty} * (
              coalesce((select sum(n) from running r where r.workspace_id = heads.workspace_id), 0)
            + coalesce((select sum(n) from running r where r.submitter = heads.submitter and heads.submitter <> 0), 0))
        )::float8 as rank_score
      from heads join workspaces w on w.id = heads.workspace_id
      where w.max_running_tasks is null
        or w.max_running_tasks > (select coalesce(sum(n), 0) from running r where r.workspace_id = heads.workspace_id)
    ) ranked
    order by rank_score desc, workspace_id, submitter`.execute(db);
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

/** What `claimTasks` got: a task or nothing per request, in their order. */
export interface ClaimedBatch {
  readonly claimed: readonly (ClaimedTask | undefined)[];
  /** Some candidates were locked by another claimer: a request left without a task may try again. */
  readonly contended: boolean;
}

/**
 * Claims a task for each of `requests` (each a worker's claim, or a server
 * slot's) that fit the same claimer, in one ranking and one statement: the
 * batched form of `claimNextTask` for a busy farm, where many workers ask at
 * once. Each task taken from a partition costs it the fair-share penalty of
 * a running task before the next is taken from it, as one claim after another
 * would. Partitions of workspaces with a running-task limit are claimed from
 * one at a time (their limit is checked under a lock), so a batch with one
 * of those among its candidates goes one request after another.
 */
export async function claimTasks(
  db: Db,
  claimer: Claimer,
  requests: readonly ClaimOptions[],
): Promise<ClaimedBatch> {
  const partitions = await rankPartitions(db, claimer);
  if (partitions.length === 0) {
    return { claimed: requests.map(() => undefined), contended: false };
  }
  if (requests.length === 1 || partitions.some((p) => p.max_running_tasks !== null)) {
    const claimed: (ClaimedTask | undefined)[] = [];
    for (const request of requests) {
      claimed.push(await claimNextTask(db, claimer, request));
    }
    return { claimed, contended: false };
  }
  const column = <T>(items: readonly T[], pick: (item: T) => unknown) => items.map(pick);
  const wanted = requests.length;
  // A few candidates more than wanted, so that tasks another replica holds are stepped over.
  const candidates = wanted + 8;
  const rows = await sql<
    ClaimedTask & {
      claim_n: number;
      claim_candidates: number;
      claim_worker_name: string;
      claim_token_hash: string | null;
    }
  >`
    with ranked as (
      select * from unnest(${column(partitions, (p) => p.workspace_id)}::bigint[],
        ${column(partitions, (p) => p.submitter)}::bigint[],
        ${column(partitions, (p) => p.rank_score)}::float8[]) with ordinality
        as p(workspace_id, submitter, rank_score, rank)
    ),
    requests as (
      select * from unnest(${column(requests, (r) => r.workerId)}::bigint[],
        ${column(requests, (r) => r.workerName)}::text[],
        ${column(requests, (r) => r.tokenHash ?? null)}::text[],
        ${column(requests, (r) => r.leaseSeconds)}::int[]) with ordinality
        as r(worker_id, worker_name, token_hash, lease_seconds, n)
    ),
    candidates as (
      select c.id, row_number() over (
          order by p.rank_score - ${fairShare.runningPenalty} * (c.r - 1) desc, p.rank, c.r) as n
      from ranked p cross join lateral (
        select t.id, row_number() over (order by t.queue_key desc, t.id) as r from tasks t
        where t.state = 'pending' and t.runs_on = ${claimer.runsOn}
          and t.workspace_id = p.workspace_id and coalesce(t.created_by, 0) = p.submitter
          and ${fits(claimer)}
        order by t.queue_key desc, t.id limit ${candidates}) c
      order by n limit ${candidates}
    ),
    locked as (
      select t.id from tasks t
      where t.id in (select id from candidates) and t.state = 'pending'
      for update skip locked
    ),
    assigned as (
      select c.id, r.* from (
        select candidates.id, row_number() over (order by candidates.n) as n
        from candidates where candidates.id in (select id from locked)) c
      join requests r on r.n = c.n
    ),
    claimed as (
      update tasks set state = 'running', attempt = tasks.attempt + 1, worker_id = a.worker_id,
        started_at = now(), lease_expires_at = now() + make_interval(secs => a.lease_seconds)
      from assigned a where tasks.id = a.id
      returning tasks.*, a.n as claim_n, a.worker_name as claim_worker_name,
        a.token_hash as claim_token_hash
    ),
    attempt as (
      insert into task_attempts (task_id, attempt, worker_id, worker_name)
      select id, attempt, worker_id, claim_worker_name from claimed
    ),
    token as (
      insert into tokens (hash, kind, name, worker_id, task_id, task_attempt)
      select claim_token_hash, 'task', 'task ' || id || ' attempt ' || attempt, worker_id, id, attempt
      from claimed where claim_token_hash is not null
    )
    select claimed.*, w.name as workspace_name,
      (select count(*) from candidates)::int as claim_candidates
    from claimed join workspaces w on w.id = claimed.workspace_id`.execute(db);
  const claimed: (ClaimedTask | undefined)[] = requests.map(() => undefined);
  for (const row of rows.rows) {
    const { claim_n, claim_candidates, claim_worker_name, claim_token_hash, ...task } = row;
    claimed[claim_n - 1] = task;
  }
  // Fewer than wanted though the ranking found tasks: another claimer took or held some.
  const got = rows.rows.length;
  const offered = rows.rows[0]?.claim_candidates ?? wanted;
  return { claimed, contended: got < Math.min(offered, wanted) };
}
