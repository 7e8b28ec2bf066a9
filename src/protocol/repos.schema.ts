import { Type, type Static } from 'typebox';
import { Id, Name, Timestamp } from './common.schema.ts';

const Word = Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]{0,63}$' });
const Text = Type.String({ maxLength: 500, pattern: '^[^\\n]*$' });

export const SuiteBody = Type.Object(
  {
    /** The directory under dists/ (e.g. bookworm). */
    codename: Word,
    /** The Suite: field (e.g. stable); default: the codename. */
    suite: Type.Optional(Word),
    components: Type.Optional(Type.Array(Word, { minItems: 1, maxItems: 32, uniqueItems: true })),
    architectures: Type.Optional(
      Type.Array(Word, { minItems: 1, maxItems: 32, uniqueItems: true }),
    ),
  },
  { additionalProperties: false },
);
export type SuiteBody = Static<typeof SuiteBody>;

export const CreateRepositoryBody = Type.Object(
  {
    name: Name,
    origin: Type.Optional(Text),
    label: Type.Optional(Text),
    description: Type.Optional(Text),
    /** Seconds from Date to Valid-Until in Release; absent: no Valid-Until. */
    valid_for: Type.Optional(Type.Integer({ minimum: 3600, maximum: 10 * 365 * 86400 })),
    keep_publications: Type.Optional(Type.Integer({ minimum: 2, maximum: 10000 })),
    suites: Type.Array(SuiteBody, { minItems: 1, maxItems: 64 }),
  },
  { additionalProperties: false },
);
export type CreateRepositoryBody = Static<typeof CreateRepositoryBody>;

export const Suite = Type.Object({
  codename: Type.String(),
  suite: Type.String(),
  components: Type.Array(Type.String()),
  architectures: Type.Array(Type.String()),
});

export const RepositoryKey = Type.Object({
  fingerprint: Type.String(),
  state: Type.Enum(['active', 'retiring']),
  added_at: Timestamp,
});

export const Repository = Type.Object({
  name: Name,
  workspace: Name,
  origin: Type.String(),
  label: Type.String(),
  description: Type.String(),
  valid_for: Type.Union([Type.Integer(), Type.Null()]),
  keep_publications: Type.Integer(),
  suites: Type.Array(Suite),
  keys: Type.Array(RepositoryKey),
  /** The publication served now, if any. */
  publication: Type.Union([Type.Integer(), Type.Null()]),
  /** Where apt finds it. */
  url: Type.String(),
  created_at: Timestamp,
});
export type Repository = Static<typeof Repository>;

export const RepositoryParams = Type.Object({ workspace: Name, repository: Name });

export const RepoPackage = Type.Object({
  suite: Type.String(),
  component: Type.String(),
  package: Type.String(),
  version: Type.String(),
  architecture: Type.String(),
  source: Type.String(),
  kind: Type.Enum(['binary', 'source']),
});
export type RepoPackage = Static<typeof RepoPackage>;

export const Publication = Type.Object({
  number: Type.Integer(),
  created_at: Timestamp,
  current: Type.Boolean(),
  files: Type.Integer(),
});
export type Publication = Static<typeof Publication>;

/** Adds packages to a suite from artifacts (.debs, source packages, uploads). */
export const IncludeBody = Type.Object(
  {
    suite: Word,
    component: Type.Optional(Word),
    artifacts: Type.Array(Id, { minItems: 1, maxItems: 10000, uniqueItems: true }),
    /** Accept a version older than the one in the suite. */
    force: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type IncludeBody = Static<typeof IncludeBody>;

export const RemoveBody = Type.Object(
  {
    suite: Word,
    package: Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]*$' }),
    /** Remove only this architecture's binary; absent: the source and all its binaries. */
    architecture: Type.Optional(Word),
  },
  { additionalProperties: false },
);
export type RemoveBody = Static<typeof RemoveBody>;

export const CopyBody = Type.Object(
  {
    from: Word,
    to: Word,
    /** Source packages to copy with their binaries; absent: everything. */
    packages: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]*$' }), { maxItems: 10000 }),
    ),
  },
  { additionalProperties: false },
);
export type CopyBody = Static<typeof CopyBody>;

export const SnapshotBody = Type.Object(
  { suite: Word, name: Word },
  { additionalProperties: false },
);

export const AddArchitectureBody = Type.Object(
  { suite: Word, architecture: Word },
  { additionalProperties: false },
);

export const RollbackBody = Type.Object(
  { publication: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);
