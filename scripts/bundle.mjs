// Bundles the CLI for start-up speed: src/cli.ts and its lazily imported modules become a few ESM chunks in
// dist/cli-bundle (code splitting keeps the lazy imports lazy). @oclif/core stays external: bin/run.js loads it.
import { build } from 'esbuild';

await build({
  entryPoints: { cli: 'src/cli.ts', fast: 'src/fast.ts', 'extract-worker': 'src/overlay/extract-worker.ts', shim: 'src/runtime/shim.ts' },
  outdir: 'dist/cli-bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@oclif/core'],
  // The fast path must not load oclif: the modules it imports take no oclif (checked in test/cli).
  sourcemap: true,
  logLevel: 'warning',
  banner: { js: "import { createRequire as __tsociCreateRequire } from 'node:module'; const require = __tsociCreateRequire(import.meta.url);" },
});
