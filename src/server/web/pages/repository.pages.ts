import { RepositoryParams } from '../../../protocol/repos.schema.ts';
import type { App } from '../../http/types.ts';
import {
  authorizeRepository,
  listPackages,
  listPublications,
  repositoryPublicKeys,
  showRepository,
} from '../../repos/apt/repository.service.ts';
import { html } from '../html.ts';
import { page, time } from '../layout.ts';
import type { Web, WebDeps } from '../web.routes.ts';

export function registerRepositoryPages(web: App, deps: WebDeps, view: Web): void {
  const repos = deps.repositories;

  web.get(
    '/workspaces/:workspace/repos/:repository',
    { schema: { hide: true, params: RepositoryParams } },
    async (request, reply) => {
      const { workspace, repository: name } = request.params;
      const repository = await showRepository(repos, request.actor, workspace, name);
      const { repository: row } = await authorizeRepository(
        repos.db,
        request.actor,
        workspace,
        name,
        'read',
      );
      const [packages, publications, key] = await Promise.all([
        listPackages(repos, request.actor, workspace, name, undefined),
        listPublications(repos, request.actor, workspace, name),
        repositoryPublicKeys(repos.db, repos.signer, row.id),
      ]);
      // One row per (suite, package): its version on each architecture.
      const architectures = [...new Set(packages.map((p) => p.architecture))].sort();
      const rows = new Map<string, Map<string, string>>();
      for (const p of packages) {
        const key = `${p.suite}\u0000${p.component}\u0000${p.package}`;
        const versions = rows.get(key) ?? new Map<string, string>();
        versions.set(p.architecture, p.version);
        rows.set(key, versions);
      }
      const keyring = `/etc/apt/keyrings/${repository.name}.asc`;
      return view.send(
        reply,
        page(
          view.context(request),
          `Repository ${workspace}/${name}`,
          html`<p>${repository.description}</p>
            <h2>Use it</h2>
            <p>
              Save the key as <code>${keyring}</code> (<a href="${repository.url}/key.asc"
                >key.asc</a
              >), then add to <code>/etc/apt/sources.list.d/${repository.name}.list</code>:
            </p>
            ${repository.suites.map(
              (s) =>
                html`<div class="copy">
                  <pre><code>deb [signed-by=${keyring}] ${repository.url} ${s.codename} ${s.components.join(' ')}</code></pre>
                  <button type="button" class="copy-button">Copy</button>
                </div>`,
            )}
            <details>
              <summary>Public key</summary>
              <div class="copy">
                <pre><code>${key}</code></pre>
                <button type="button" class="copy-button">Copy</button>
              </div>
            </details>
            <h2>Suites</h2>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Codename</th>
                    <th>Suite</th>
                    <th>Components</th>
                    <th>Architectures</th>
                  </tr>
                </thead>
                <tbody>
                  ${repository.suites.map(
                    (s) =>
                      html`<tr>
                        <td>${s.codename}</td>
                        <td>${s.suite}</td>
                        <td>${s.components.join(' ')}</td>
                        <td>${s.architectures.join(' ')}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>
            <h2>Packages</h2>
            ${
              rows.size === 0
                ? html`<p class="empty">No packages yet.</p>`
                : html`<div class="scroll">
                    <table>
                      <thead>
                        <tr>
                          <th>Suite</th>
                          <th>Component</th>
                          <th>Package</th>
                          ${architectures.map((a) => html`<th>${a}</th>`)}
                        </tr>
                      </thead>
                      <tbody>
                        ${[...rows].map(([k, versions]) => {
                          const [suite, component, pkg] = k.split('\u0000');
                          return html`<tr>
                            <td>${suite}</td>
                            <td>${component}</td>
                            <td>${pkg}</td>
                            ${architectures.map((a) => html`<td>${versions.get(a) ?? '–'}</td>`)}
                          </tr>`;
                        })}
                      </tbody>
                    </table>
                  </div>`
            }
            <h2>Publications</h2>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>#</th>
                    <th>Published</th>
                    <th class="num">Files</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  ${publications.map(
                    (p) =>
                      html`<tr>
                        <td>${p.number}</td>
                        <td>${time(p.created_at)}</td>
                        <td class="num">${p.files}</td>
                        <td>${p.current ? 'served now' : ''}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>
            <h2>Signing keys</h2>
            <ul>
              ${repository.keys.map((k) => html`<li><code>${k.fingerprint}</code> ${k.state}, added ${time(k.added_at)}</li>`)}
            </ul>`,
        ),
      );
    },
  );
}
