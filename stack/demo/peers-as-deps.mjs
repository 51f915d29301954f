// The demo image runs the CLI, which needs the package's optional peers (the
// OpenTelemetry SDK, commander, cli-progress, yaml, gpt-tokenizer). In this
// repository they are devDependencies, for the tests, so `--omit=dev` would
// leave them out: make them dependencies at the versions the lockfile pins.
import { readFileSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
for (const name of Object.keys(pkg.peerDependenciesMeta ?? {})) {
  pkg.dependencies[name] = pkg.devDependencies[name];
  delete pkg.devDependencies[name];
}
writeFileSync('package.json', `${JSON.stringify(pkg, null, 2)}\n`);
