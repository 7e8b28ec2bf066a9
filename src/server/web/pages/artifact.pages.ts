import { Type } from 'typebox';
import type { Artifact } from '../../../protocol/artifacts.schema.ts';
import { IdParams, Offset } from '../../../protocol/common.schema.ts';
import { FileParams } from '../../../protocol/artifacts.schema.ts';
import { WorkspaceParams } from '../../../protocol/workspaces.schema.ts';
import type { Actor } from '../../auth/actor.ts';
import { replyWithArtifactFile } from '../../artifacts/artifact.routes.ts';
import type { ArtifactDeps } from '../../artifacts/artifact-change.ts';
import { findDownloadableFile } from '../../artifacts/artifact-files.service.ts';
import { showArtifact } from '../../artifacts/artifact-views.ts';
import { listArtifacts } from '../../artifacts/artifact.service.ts';
import type { App } from '../../http/types.ts';
import { html, type Html } from '../html.ts';
import { page, pager, time } from '../layout.ts';
import type { Web, WebDeps } from '../web.routes.ts';

const hide = { hide: true } as const;
const pageSize = 50;
/** How far, and how wide, the lineage graph follows relations. */
const lineageDepth = 4;
const lineageNodes = 60;

interface LineageNode {
  readonly artifact: Artifact;
  readonly edges: readonly { readonly type: string; readonly node: LineageNode | number }[];
}

/**
 * The artifacts this one was made from (its relations, and theirs), as far as
 * the actor may see them; one seen before is a reference, not walked again.
 */
async function lineage(deps: ArtifactDeps, actor: Actor, root: Artifact): Promise<LineageNode> {
  const seen = new Set<number>([root.id]);
  const walk = async (artifact: Artifact, depth: number): Promise<LineageNode> => {
    const edges: { type: string; node: LineageNode | number }[] = [];
    for (const relation of artifact.relations) {
      if (depth >= lineageDepth || seen.has(relation.target) || seen.size >= lineageNodes) {
        edges.push({ type: relation.type, node: relation.target });
        continue;
      }
      seen.add(relation.target);
      const target = await showArtifact(deps, actor, relation.target);
      edges.push({ type: relation.type, node: await walk(target, depth + 1) });
    }
    return { artifact, edges };
  };
  return walk(root, 0);
}

function lineageTree(node: LineageNode): Html {
  const label = (a: Artifact) =>
    html`<a href="/artifacts/${a.id}">#${a.id}</a> <span>${a.type}</span>`;
  return html`${label(node.artifact)}${
    node.edges.length === 0
      ? ''
      : html`<ul>
          ${node.edges.map(
            (e) =>
              html`<li>
                <span class="edge">${e.type}</span>
                ${typeof e.node === 'number' ? html`<a href="/artifacts/${e.node}">#${e.node}</a>` : lineageTree(e.node)}
              </li>`,
          )}
        </ul>`
  }`;
}

function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let n = bytes;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${unit === 0 ? n : n.toFixed(1)} ${units[unit] ?? 'B'}`;
}

export function registerArtifactPages(web: App, deps: WebDeps, view: Web): void {
  const artifacts = deps.artifacts;

  web.get(
    '/workspaces/:workspace/artifacts',
    {
      schema: {
        ...hide,
        params: WorkspaceParams,
        querystring: Type.Object({
          type: Type.Optional(Type.String({ maxLength: 100 })),
          offset: Type.Optional(Offset),
        }),
      },
    },
    async (request, reply) => {
      const { workspace } = request.params;
      const { type, offset = 0 } = request.query;
      const found = await listArtifacts(artifacts, request.actor, workspace, {
        type: type === '' ? undefined : type,
        limit: pageSize,
        offset,
      });
      const base = `/workspaces/${encodeURIComponent(workspace)}/artifacts`;
      const params = new URLSearchParams({ type: type ?? '' });
      return view.send(
        reply,
        page(
          view.context(request),
          `Artifacts of ${workspace}`,
          html`<form method="get" action="${base}" class="filters">
              <label>Type <input name="type" value="${type ?? ''}" /></label>
              <button type="submit">Filter</button>
            </form>
            ${pager(base, params, { offset, limit: pageSize, total: found.total })}
            ${
              found.items.length === 0
                ? html`<p class="empty">No artifacts.</p>`
                : html`<div class="scroll">
                    <table>
                      <thead>
                        <tr>
                          <th>Artifact</th>
                          <th>Type</th>
                          <th>Created</th>
                          <th>Expires</th>
                        </tr>
                      </thead>
                      <tbody>
                        ${found.items.map(
                          (a) =>
                            html`<tr>
                              <td><a href="/artifacts/${a.id}">#${a.id}</a></td>
                              <td>${a.type}</td>
                              <td>${time(a.created_at)}</td>
                              <td>${a.expires_at === null ? 'never' : time(a.expires_at)}</td>
                            </tr>`,
                        )}
                      </tbody>
                    </table>
                  </div>`
            }`,
        ),
      );
    },
  );

  web.get('/artifacts/:id', { schema: { ...hide, params: IdParams } }, async (request, reply) => {
    const artifact = await showArtifact(artifacts, request.actor, request.params.id);
    const graph = await lineage(artifacts, request.actor, artifact);
    return view.send(
      reply,
      page(
        view.context(request),
        `Artifact #${artifact.id}`,
        html`<dl class="facts">
            <dt>Type</dt>
            <dd>${artifact.type}</dd>
            <dt>Workspace</dt>
            <dd>
              <a href="/workspaces/${encodeURIComponent(artifact.workspace)}"
                >${artifact.workspace}</a
              >
            </dd>
            <dt>Created</dt>
            <dd>${time(artifact.created_at)} by ${artifact.created_by ?? 'nobody'}</dd>
            <dt>Updated</dt>
            <dd>${time(artifact.updated_at)}</dd>
            <dt>Expires</dt>
            <dd>${artifact.expires_at === null ? 'never' : time(artifact.expires_at)}</dd>
            <dt>Immutable</dt>
            <dd>${artifact.immutable ? 'yes' : 'no'}</dd>
          </dl>
          <h2>Files</h2>
          ${
            artifact.files.length === 0
              ? html`<p class="empty">No files.</p>`
              : html`<div class="scroll">
                  <table>
                    <thead>
                      <tr>
                        <th>Path</th>
                        <th class="num">Size</th>
                        <th>SHA-256</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${artifact.files.map(
                        (f) =>
                          html`<tr>
                            <td>
                              ${f.complete ? html`<a href="/artifacts/${artifact.id}/files/${f.path.split('/').map(encodeURIComponent).join('/')}">${f.path}</a>` : html`${f.path} <em>(not uploaded)</em>`}
                            </td>
                            <td class="num">${formatSize(f.size)}</td>
                            <td><code class="hash">${f.sha256}</code></td>
                          </tr>`,
                      )}
                    </tbody>
                  </table>
                </div>`
          }
          <h2>Data</h2>
          <pre>${JSON.stringify(artifact.data, null, 2)}</pre>
          <h2>Lineage</h2>
          ${artifact.relations.length === 0 ? html`<p class="empty">No relations.</p>` : html`<div class="lineage" role="tree">${lineageTree(graph)}</div>`}`,
      ),
    );
  });

  web.get(
    '/artifacts/:id/files/*',
    { schema: { ...hide, params: FileParams } },
    async (request, reply) => {
      const file = await findDownloadableFile(
        artifacts,
        request.actor,
        request.params.id,
        request.params['*'],
      );
      return replyWithArtifactFile(request, reply, artifacts.store, file);
    },
  );
}
