import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Db } from '../db/connect.ts';
import {
  claimDueDeliveries,
  recordAttempt,
  type AttemptResult,
  type ClaimedDelivery,
} from './webhook.repository.ts';

export interface WebhookSenderDeps {
  readonly db: Db;
  readonly secrets: SecretBox;
  readonly logger: Logger;
  /** Seconds before the first retry; each further one waits twice as long. */
  readonly retryBaseSeconds: number;
  readonly version: string;
}

/** Tries per delivery before it is marked failed. */
export const maxAttempts = 8;
const maxDelaySeconds = 3600;
const timeoutMs = 10_000;
/** A claim lasts this long: a replica that dies mid-send leaves the delivery due again. */
const leaseSeconds = 60;
const batchSize = 16;
/** Retries fall due without a notification: look for them this often. */
const pollMs = 1000;

/** Seconds before try `attempts + 1`, after `attempts` failed ones. */
export function retryDelaySeconds(baseSeconds: number, attempts: number): number {
  return Math.min(baseSeconds * 2 ** (attempts - 1), maxDelaySeconds);
}

/**
 * The `X-Kiln-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">`. The time is inside the MAC, so a receiver that refuses old
 * times refuses replays (the scheme Stripe and Standard Webhooks use).
 */
export function signWebhook(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

async function post(deps: WebhookSenderDeps, delivery: ClaimedDelivery): Promise<AttemptResult> {
  const body = JSON.stringify(delivery.payload);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(delivery.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': `kiln/${deps.version}`,
        'x-kiln-event': delivery.event,
        'x-kiln-delivery': String(delivery.id),
        'x-kiln-signature': signWebhook(
          deps.secrets.open(delivery.secret_sealed),
          Math.floor(Date.now() / 1000),
          body,
        ),
      },
      body,
    });
    await response.body?.cancel();
    return { status_code: response.status, error: null, duration_ms: elapsed() };
  } catch (error) {
    const cause = error instanceof Error ? (error.cause ?? error) : error;
    const message = cause instanceof Error ? cause.message : String(cause);
    return { status_code: null, error: message.slice(0, 500), duration_ms: elapsed() };
  }
}

async function deliver(deps: WebhookSenderDeps, delivery: ClaimedDelivery): Promise<void> {
  const result = await post(deps, delivery);
  const ok = result.status_code !== null && result.status_code >= 200 && result.status_code < 300;
  const outcome = ok ? 'delivered' : delivery.attempts >= maxAttempts ? 'failed' : 'retry';
  await recordAttempt(
    deps.db,
    delivery,
    result,
    outcome,
    retryDelaySeconds(deps.retryBaseSeconds, delivery.attempts),
  );
  deps.logger[ok ? 'debug' : 'info'](
    {
      delivery: delivery.id,
      event: delivery.event,
      attempt: delivery.attempts,
      ...result,
      outcome,
    },
    'webhook delivery',
  );
}

export interface WebhookSender {
  /** Deliveries were queued: look now rather than at the next poll. */
  wake(): void;
  stop(): Promise<void>;
}

/**
 * Sends due webhook deliveries until stopped: at once when woken (a
 * `NOTIFY` from any replica), else at each poll, when retries fall due.
 */
export function startWebhookSender(deps: WebhookSenderDeps): WebhookSender {
  let stopped = false;
  let wake: (() => void) | undefined;
  // A wake that came while sending: look again before waiting.
  let woken = false;
  // Read through a function: both change while the loop awaits.
  const idle = () => !stopped && !woken;
  const loop = async () => {
    while (!stopped) {
      woken = false;
      let claimed: ClaimedDelivery[] = [];
      try {
        claimed = await claimDueDeliveries(deps.db, batchSize, leaseSeconds);
        await Promise.all(claimed.map((delivery) => deliver(deps, delivery)));
      } catch (error) {
        deps.logger.error({ err: error }, 'webhook sender failed');
      }
      if (claimed.length < batchSize && idle()) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    }
  };
  const running = loop();
  return {
    wake() {
      woken = true;
      wake?.();
    },
    async stop() {
      stopped = true;
      wake?.();
      await running;
    },
  };
}
