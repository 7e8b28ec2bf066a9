import { createKiln } from './kiln.ts';
import { createAptFtparchive } from './peers/apt-ftparchive.ts';
import { createAptly } from './peers/aptly.ts';
import { createReprepro } from './peers/reprepro.ts';
import type { RepoTool } from './tool.ts';

/** The peers kiln is measured against, in the order they run. */
export const peerTools: readonly (() => RepoTool)[] = [
  createAptFtparchive,
  createReprepro,
  createAptly,
];

/** kiln's own adapter; undefined would print kiln as "not yet measured". */
export const kilnTool: (() => RepoTool) | undefined = createKiln;
