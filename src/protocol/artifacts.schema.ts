import { Type, type Static } from 'typebox';
import { Id, Name, Offset, Sha256, Timestamp } from './common.schema.ts';

/** Relations between artifacts, as in debusine. */
export const relationTypes = ['built-using', 'extends', 'relates-to'] as const;
export type RelationType = (typeof relationTypes)[number];

/** An artifact type: a short identifier such as `debian:source-package`. */
export const ArtifactType = Type.String({ pattern: '^[a-z0-9][a-z0-9:._-]{0,99}$' });

/** A file as declared by a client: its name, size and sha256. */
export const FileDeclaration = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: 4096 }),
    size: Type.Integer({ minimum: 0 }),
    sha256: Sha256,
  },
  { additionalProperties: false },
);
export type FileDeclaration = Static<typeof FileDeclaration>;

export const ArtifactFile = Type.Object({
  path: Type.String(),
  size: Type.Integer(),
  sha256: Sha256,
  /** Whether the content is in the file store (uploaded, or known already). */
  complete: Type.Boolean(),
});
export type ArtifactFile = Static<typeof ArtifactFile>;

/**
 * A relation as given by a client. `type` is a plain string here, not an enum,
 * so that an unknown type gets the clear `invalid_relation_type` error.
 */
export const RelationBody = Type.Object(
  { type: Type.String({ maxLength: 100 }), target: Id },
  { additionalProperties: false },
);
export type RelationBody = Static<typeof RelationBody>;

export const Relation = Type.Object({ type: Type.String(), target: Type.Integer() });
export type Relation = Static<typeof Relation>;

export const Artifact = Type.Object({
  id: Type.Integer(),
  workspace: Name,
  type: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
  files: Type.Array(ArtifactFile),
  relations: Type.Array(Relation),
  immutable: Type.Boolean(),
  created_by: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
  updated_at: Timestamp,
  expires_at: Type.Union([Timestamp, Type.Null()]),
});
export type Artifact = Static<typeof Artifact>;

export const ArtifactSummary = Type.Omit(Artifact, ['files', 'relations', 'data']);
export type ArtifactSummary = Static<typeof ArtifactSummary>;

export const CreateArtifactBody = Type.Object(
  {
    type: ArtifactType,
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    files: Type.Optional(Type.Array(FileDeclaration, { maxItems: 10000 })),
    relations: Type.Optional(Type.Array(RelationBody, { maxItems: 1000 })),
    /** Overrides the workspace's default expiry; null keeps the artifact forever. */
    expires_at: Type.Optional(Type.Union([Timestamp, Type.Null()])),
  },
  { additionalProperties: false },
);
export type CreateArtifactBody = Static<typeof CreateArtifactBody>;

export const UpdateArtifactBody = Type.Object(
  {
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    expires_at: Type.Optional(Type.Union([Timestamp, Type.Null()])),
    immutable: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false },
);
export type UpdateArtifactBody = Static<typeof UpdateArtifactBody>;

export const ListArtifactsQuery = Type.Object({
  type: Type.Optional(ArtifactType),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  offset: Type.Optional(Offset),
});

export const FileParams = Type.Object({ id: Id, '*': Type.String() });
export const RelationParams = Type.Object({
  id: Id,
  type: Type.String({ maxLength: 100 }),
  target: Id,
});

export const GcResult = Type.Object({
  artifacts_deleted: Type.Integer(),
  files_deleted: Type.Integer(),
  bytes_freed: Type.Integer(),
});
export type GcResult = Static<typeof GcResult>;
