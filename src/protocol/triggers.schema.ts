import { Type, type Static } from 'typebox';
import { Id, Name, Timestamp } from './common.schema.ts';

/**
 * Where a trigger's pushes come from: a forge's webhook, or the post-receive
 * hook that `kiln hook install` puts in a bare repository (`git`).
 */
export const triggerKinds = ['github', 'gitlab', 'gitea', 'forgejo', 'git'] as const;
export type TriggerKind = (typeof triggerKinds)[number];

/** A glob on full ref names: `refs/heads/main`, `refs/tags/v*`, `refs/heads/**`. */
const RefGlob = Type.String({ minLength: 6, maxLength: 255 });

export const CreateTriggerBody = Type.Object(
  {
    name: Name,
    kind: Type.Enum(triggerKinds),
    /** The workflow template a matching push starts. */
    template: Name,
    refs: Type.Array(RefGlob, { minItems: 1, maxItems: 50, uniqueItems: true }),
    /**
     * Where runs fetch from: required for `git`; for a forge, a mirror to use
     * instead of the clone URL the forge sends.
     */
    repository_url: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    /** A pull-request comment that starts a run (GitHub), e.g. `/kiln build`. */
    command: Type.Optional(Type.String({ pattern: '^/[a-z0-9][a-z0-9 ._-]{0,63}$' })),
  },
  { additionalProperties: false },
);
export type CreateTriggerBody = Static<typeof CreateTriggerBody>;

export const Trigger = Type.Object({
  id: Type.Integer(),
  name: Name,
  workspace: Name,
  kind: Type.Enum(triggerKinds),
  template: Name,
  refs: Type.Array(Type.String()),
  repository_url: Type.Union([Type.String(), Type.Null()]),
  command: Type.Union([Type.String(), Type.Null()]),
  /** Where the forge or the hook sends its deliveries. */
  hook_url: Type.String(),
  created_at: Timestamp,
});
export type Trigger = Static<typeof Trigger>;

/**
 * A trigger as created: `secret` is the forge webhook's secret (GitLab: its
 * token) or the git hook's token, shown this once and never again.
 */
export const CreatedTrigger = Type.Intersect([Trigger, Type.Object({ secret: Type.String() })]);
export type CreatedTrigger = Static<typeof CreatedTrigger>;

export const TriggerParams = Type.Object({ workspace: Name, trigger: Name });

export const HookParams = Type.Object({ id: Id });

/** One delivery that reached a trigger, and what came of it. */
export const TriggerDelivery = Type.Object({
  id: Type.Integer(),
  delivery_id: Type.String(),
  event: Type.String(),
  outcome: Type.Enum(['received', 'started', 'ignored', 'failed']),
  message: Type.Union([Type.String(), Type.Null()]),
  received_at: Timestamp,
});
export type TriggerDelivery = Static<typeof TriggerDelivery>;

/** What a delivery did: the runs it started, and why refs started nothing. */
export const HookResult = Type.Object({
  runs: Type.Array(Type.Object({ id: Type.Integer(), ref: Type.String() })),
  ignored: Type.Array(Type.String()),
});
export type HookResult = Static<typeof HookResult>;
