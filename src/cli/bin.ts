#!/usr/bin/env node
/**
 * The `retryscope` executable. The CLI's libraries (commander and
 * yaml) and the SDK pieces the demo records with are optional peers, so an
 * app that only calls `instrument()` never installs them. `npx retryscope demo`
 * installs the package alone, though, so when they are missing this runs the
 * same command again through `npm exec` with them added: still one command
 * on a fresh machine, and npm, not this file, does the installing (into its
 * npx cache, not into the app).
 */
import { spawn } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { CLI_PEERS, installLine, peerSpec, TOKENIZER_PEER } from '../optional-peers.ts';
import { VERSION } from '../version.ts';

/** Set on the second run, so a tree where npm could not supply them fails instead of looping. */
const REEXEC = 'RETRYSCOPE_CLI_REEXEC';

function resolvable(name: string): boolean {
  try {
    import.meta.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** npm itself: the one that ran us if there is one (`npx`, `npm exec`, an npm script), else `npm` on PATH. */
function npmCommand(): { command: string; prefix: string[]; shell: boolean } {
  const execPath = process.env.npm_execpath;
  if (execPath && /\.[cm]?js$/.test(execPath)) {
    const cli = basename(execPath) === 'npx-cli.js' ? join(dirname(execPath), 'npm-cli.js') : execPath;
    return { command: process.execPath, prefix: [cli], shell: false };
  }
  return { command: 'npm', prefix: [], shell: process.platform === 'win32' };
}

function runWithPeers(): void {
  const self = process.env.RETRYSCOPE_PACKAGE_SPEC || `retryscope@${VERSION}`;
  const peers = [...CLI_PEERS, TOKENIZER_PEER];
  process.stderr.write(
    `retryscope: the CLI's dependencies are not installed here; running it through npm exec with them (or: ${installLine(CLI_PEERS)})\n`,
  );
  const npm = npmCommand();
  const args = [
    ...npm.prefix,
    'exec',
    '--yes',
    `--package=${self}`,
    ...peers.map((p) => `--package=${peerSpec(p)}`),
    '--',
    'retryscope',
    ...process.argv.slice(2),
  ];
  const child = spawn(npm.command, args, {
    stdio: 'inherit',
    shell: npm.shell,
    env: { ...process.env, [REEXEC]: '1' },
  });
  // Ctrl-C reaches the child through the terminal; wait for it and pass on how it ended.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  child.on('error', (error) => {
    process.stderr.write(`retryscope: could not run npm: ${error.message} (${installLine(CLI_PEERS)})\n`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', ignore);
    process.exitCode = code ?? (signal === 'SIGINT' ? 130 : 1);
  });
}

const missing = CLI_PEERS.filter((name) => !resolvable(name));
if (missing.length === 0) {
  await import('./main.ts');
} else if (process.env[REEXEC]) {
  process.stderr.write(
    `retryscope: the CLI needs ${missing.join(', ')}, which npm exec did not provide (${installLine(CLI_PEERS)})\n`,
  );
  process.exitCode = 1;
} else {
  runWithPeers();
}
