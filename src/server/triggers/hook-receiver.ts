import { createHash, randomUUID } from 'node:crypto';
import { KilnError } from '../../protocol/errors.ts';
import type { HookResult } from '../../protocol/triggers.schema.ts';
import type { TriggerRow } from '../db/trigger-tables.ts';
import { parseForgeEvent, type ForgeEvent } from './forge-events.ts';
import { constantTimeEqual, verifyForgeDelivery, type Headers } from './forge-signatures.ts';
import { refMatches } from './ref-filter.ts';
import {
  claimTriggerDelivery,
  deleteTriggerDelivery,
  findTriggerById,
  recordDeliveryOutcome,
} from './trigger.repository.ts';
import type { RunRequest, TriggerDeps } from './trigger.service.ts';

/**
 * A forge delivery whose signed payload says it happened longer ago than this
 * is refused as stale (GitHub's push `pushed_at`, a comment's `created_at`):
 * forges deliver within seconds, and the delivery records catch replays inside
 * the window.
 */
export const staleAfterSeconds = 600;

/** The header a git hook sends its trigger's token in (not Authorization: it is no kiln token). */
export const hookTokenHeader = 'x-kiln-hook-token';

const refused = () =>
  new KilnError('invalid_signature', "the delivery's signature or token does not match");

/** A ref update as git's post-receive hook reads it: `<old> <new> <ref>` (githooks(5)). */
interface RefUpdate {
  readonly ref: string;
  readonly commit: string;
}

function parseRefUpdates(body: string): RefUpdate[] | undefined {
  const updates: RefUpdate[] = [];
  for (const line of body.split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    const [, commit, ref, extra] = line.trim().split(/\s+/);
    if (commit === undefined || ref === undefined || extra !== undefined) {
      return undefined;
    }
    if (!/^0+$/.test(commit)) {
      updates.push({ ref, commit });
    }
  }
  return updates;
}

/**
 * Takes a delivery to `POST /api/v1/hooks/{id}`: checks its secret (a forge's
 * signature, a git hook's token), refuses replays and stale deliveries, and
 * starts a run of the trigger's template for each pushed ref its filter
 * matches (or a pull request whose comment is the trigger's command).
 * An unknown trigger is refused exactly as a wrong secret.
 */
export async function receiveHookDelivery(
  deps: TriggerDeps,
  triggerId: number,
  headers: Headers,
  body: Buffer,
): Promise<HookResult> {
  const trigger = await findTriggerById(deps.db, triggerId);
  if (trigger === undefined) {
    throw refused();
  }
  const secret = deps.secrets.open(trigger.secret_sealed);
  if (trigger.kind === 'git') {
    const token = headers[hookTokenHeader];
    if (typeof token !== 'string' || !constantTimeEqual(token, secret)) {
      throw refused();
    }
    const updates = parseRefUpdates(body.toString('utf8'));
    if (updates === undefined) {
      throw new KilnError('bad_request', 'a git hook sends lines of "<old> <new> <ref>"');
    }
    const claim = await claimTriggerDelivery(deps.db, {
      trigger_id: trigger.id,
      delivery_id: randomUUID(),
      payload_sha256: null,
      event: 'push',
    });
    return settle(deps, trigger, claim, () =>
      startMatching(deps, trigger, updates, trigger.repository_url ?? '', 'git push'),
    );
  }
  const verified = verifyForgeDelivery(trigger.kind, secret, headers, body);
  if (!verified.ok) {
    deps.logger.warn({ trigger: trigger.id, reason: verified.reason }, 'hook delivery refused');
    throw refused();
  }
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new KilnError('malformed_json', 'the delivery is not JSON', { cause: error });
  }
  const event = parseForgeEvent(trigger.kind, verified.event, payload);
  const signedAt = event.kind === 'ignored' ? undefined : event.signedAt;
  if (signedAt !== undefined && Date.now() - signedAt.getTime() > staleAfterSeconds * 1000) {
    throw new KilnError(
      'stale_delivery',
      `the delivery says it happened at ${signedAt.toISOString()}, more than ${staleAfterSeconds} s ago`,
    );
  }
  const claim = await claimTriggerDelivery(deps.db, {
    trigger_id: trigger.id,
    delivery_id: verified.deliveryId,
    payload_sha256: createHash('sha256').update(body).digest('hex'),
    event: verified.event,
  });
  return settle(deps, trigger, claim, () => actOnForgeEvent(deps, trigger, event));
}

/**
 * Runs `act` for a claimed delivery and records its outcome. A delivery that
 * was claimed before is a replay. One that failed on kiln's side is forgotten,
 * so that the forge's retry is taken.
 */
async function settle(
  deps: TriggerDeps,
  trigger: TriggerRow,
  claim: number | undefined,
  act: () => Promise<HookResult>,
): Promise<HookResult> {
  if (claim === undefined) {
    throw new KilnError('replayed_delivery', 'this delivery was received before');
  }
  let result: HookResult;
  try {
    result = await act();
  } catch (error) {
    if (error instanceof KilnError) {
      await recordDeliveryOutcome(deps.db, claim, 'failed', error.message);
    } else {
      await deleteTriggerDelivery(deps.db, claim);
    }
    throw error;
  }
  const message = [
    ...result.runs.map((run) => `run ${run.id} started for ${run.ref}`),
    ...result.ignored,
  ].join('; ');
  await recordDeliveryOutcome(
    deps.db,
    claim,
    result.runs.length > 0 ? 'started' : 'ignored',
    message,
  );
  deps.logger.info({ trigger: trigger.id, ...result }, 'hook delivery taken');
  return result;
}

function actOnForgeEvent(
  deps: TriggerDeps,
  trigger: TriggerRow,
  event: ForgeEvent,
): Promise<HookResult> {
  const url = (sent: string) => trigger.repository_url ?? sent;
  switch (event.kind) {
    case 'ignored':
      return Promise.resolve({ runs: [], ignored: [event.reason] });
    case 'push':
      return startMatching(
        deps,
        trigger,
        [event],
        url(event.repositoryUrl),
        `${trigger.kind} push`,
      );
    case 'comment': {
      const wanted = trigger.command !== null && event.command === trigger.command;
      if (!wanted || !event.trusted) {
        const why = wanted
          ? 'the commenter may not start builds'
          : 'the comment is not the command';
        return Promise.resolve({ runs: [], ignored: [`${event.ref}: ${why}`] });
      }
      const request = {
        trigger,
        ref: event.ref,
        commit: undefined,
        repositoryUrl: url(event.repositoryUrl),
        event: `${trigger.kind} comment ${event.command}`,
      };
      return startRuns(deps, [request]);
    }
  }
}

function startMatching(
  deps: TriggerDeps,
  trigger: TriggerRow,
  updates: readonly RefUpdate[],
  repositoryUrl: string,
  event: string,
): Promise<HookResult> {
  const ignored = updates
    .filter((update) => !refMatches(trigger.refs, update.ref))
    .map((update) => `${update.ref}: no ref filter of trigger ${trigger.name} matches`);
  const requests = updates
    .filter((update) => refMatches(trigger.refs, update.ref))
    .map((update) => ({ trigger, ...update, repositoryUrl, event }));
  return startRuns(deps, requests, ignored);
}

async function startRuns(
  deps: TriggerDeps,
  requests: readonly RunRequest[],
  ignored: readonly string[] = [],
): Promise<HookResult> {
  const runs: { id: number; ref: string }[] = [];
  for (const request of requests) {
    runs.push({ id: (await deps.startRun(request)).id, ref: request.ref });
  }
  return { runs, ignored: [...ignored] };
}
