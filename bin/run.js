#!/usr/bin/env node
// Start-up matters for a container tool: `tsoci --version`, `pull`, `run` and `bundle` (the lean fast path) answer without
// loading the CLI framework; everything else, and anything the fast path does not handle, goes to oclif.
const argv = process.argv.slice(2);
let code;
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
  const { readFileSync } = await import('node:fs');
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`tsoci/${version} ${process.platform}-${process.arch} node-${process.version}\n`);
  code = 0;
} else if (argv[0] === 'run' || argv[0] === 'bundle' || argv[0] === 'pull') {
  const { main } = await import('../dist/cli-bundle/fast.js');
  code = await main(argv);
}
if (code === undefined) {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
} else {
  process.exitCode = code;
}
