// The demo image runs the CLI, which needs the package's peers: openai,
// @opentelemetry/api and the optional ones (the OpenTelemetry SDK, commander,
// cli-progress, yaml, gpt-tokenizer). In this repository they are also
// devDependencies, for the tests, so `--omit=dev` would leave them out: make
// them dependencies, at the versions the lockfile pins.
import { readFileSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
pkg.dependencies ??= {};
for (const name of Object.keys(pkg.peerDependencies ?? {})) {
  const pinned = pkg.devDependencies?.[name];
  if (!pinned) continue;
  pkg.dependencies[name] = pinned;
  delete pkg.devDependencies[name];
}
writeFileSync('package.json', `${JSON.stringify(pkg, null, 2)}\n`);
