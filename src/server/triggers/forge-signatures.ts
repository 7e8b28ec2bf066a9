import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The forges whose webhooks kiln verifies. */
export type Forge = 'github' | 'gitlab' | 'gitea' | 'forgejo';

export type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** A delivery whose secret checked out: its id and the forge's event name. */
export interface VerifiedDelivery {
  readonly deliveryId: string;
  readonly event: string;
}

export type Verification =
  ({ readonly ok: true } & VerifiedDelivery) | { readonly ok: false; readonly reason: string };

function header(headers: Headers, ...names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = headers[name];
    const text = Array.isArray(value) ? value[0] : value;
    if (text !== undefined && text !== '') {
      return text;
    }
  }
  return undefined;
}

/** Compares in time independent of where they differ (and of their lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Checks a forge delivery against the trigger's secret:
 * - GitHub: `X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body) hex>`
 *   (docs.github.com, "Validating webhook deliveries");
 * - GitLab: `X-Gitlab-Token` is the secret itself (GitLab signs nothing);
 * - Gitea and Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature`,
 *   HMAC-SHA256 of the body in hex (Forgejo sends both).
 * Each also names the delivery (the replay check needs it) and the event.
 */
export function verifyForgeDelivery(
  forge: Forge,
  secret: string,
  headers: Headers,
  body: Buffer,
): Verification {
  let good: boolean;
  let deliveryId: string | undefined;
  let event: string | undefined;
  switch (forge) {
    case 'github': {
      const signature = header(headers, 'x-hub-signature-256') ?? '';
      good = constantTimeEqual(signature, `sha256=${hmacHex(secret, body)}`);
      deliveryId = header(headers, 'x-github-delivery');
      event = header(headers, 'x-github-event');
      break;
    }
    case 'gitlab':
      good = constantTimeEqual(header(headers, 'x-gitlab-token') ?? '', secret);
      deliveryId = header(
        headers,
        'x-gitlab-webhook-uuid',
        'x-gitlab-event-uuid',
        'idempotency-key',
      );
      event = header(headers, 'x-gitlab-event');
      break;
    case 'gitea':
    case 'forgejo': {
      const signature = header(headers, 'x-forgejo-signature', 'x-gitea-signature') ?? '';
      good = constantTimeEqual(signature.toLowerCase(), hmacHex(secret, body));
      deliveryId = header(headers, 'x-forgejo-delivery', 'x-gitea-delivery');
      event = header(headers, 'x-forgejo-event', 'x-gitea-event');
      break;
    }
  }
  if (!good) {
    return { ok: false, reason: `the ${forge} signature does not match the trigger's secret` };
  }
  if (deliveryId === undefined || event === undefined) {
    return { ok: false, reason: `a ${forge} delivery must name its delivery id and event` };
  }
  return { ok: true, deliveryId, event };
}
