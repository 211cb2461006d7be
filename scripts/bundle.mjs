// Bundles the CLI for start-up speed.
// - dist/cli-bundle/*.js: src/cli.ts (the oclif commands) and the worker entry points as ESM chunks (code
//   splitting keeps the lazy imports lazy). @oclif/core stays external: bin/run.cjs loads it.
// - dist/cli-bundle/fast.cjs: the fast path (`pull`, `run`, `bundle`) as one CommonJS file, with a V8 code cache
//   beside it (fast-<build>.v8cache). Node's ESM loader spends ~1 ms resolving and linking each chunk, and compiling
//   them costs more: one file whose compiled code comes from the cache starts ~25-35 ms sooner (see bin/run.cjs).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { Script } from 'node:vm';
import { build } from 'esbuild';

await build({
  entryPoints: { cli: 'src/cli.ts', 'extract-worker': 'src/overlay/extract-worker.ts', shim: 'src/runtime/shim.ts' },
  outdir: 'dist/cli-bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@oclif/core'],
  sourcemap: true,
  logLevel: 'warning',
  banner: { js: "import { createRequire as __tsociCreateRequire } from 'node:module'; const require = __tsociCreateRequire(import.meta.url);" },
});

// Large libraries only some runs need stay out of the fast path's file (its size is start-up time for every run):
// each becomes a file of its own beside it, required when first used.
const VENDORED = ['undici', 'listr2'];
for (const name of VENDORED) {
  await build({ entryPoints: { [`vendor-${name}`]: name }, outdir: 'dist/cli-bundle', outExtension: { '.js': '.cjs' }, bundle: true, format: 'cjs', platform: 'node', target: 'node20', logLevel: 'warning' });
}
const vendored = {
  name: 'vendored',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${VENDORED.join('|')})$`) }, (args) => ({ path: `./vendor-${args.path}.cjs`, external: true }));
  },
};

// The build ID names the code cache, so that a cache never meets a bundle it was not made from.
const buildId = randomBytes(8).toString('hex');
const fast = 'dist/cli-bundle/fast.cjs';
await build({
  entryPoints: [{ in: 'src/fast.ts', out: 'fast' }],
  outdir: 'dist/cli-bundle',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // The fast path must not load oclif: anything it does not handle goes back to bin/run.cjs, which loads it.
  external: ['@oclif/core'],
  plugins: [vendored],
  // vm.Script (bin/run.cjs loads the file with one) has no loader for import(): dynamic imports become require().
  supported: { 'dynamic-import': false },
  // The modules find their workers next to themselves: in CommonJS that is __filename.
  define: { 'import.meta.url': '__tsociModuleUrl', 'import.meta.resolve': '__tsociNoResolve' },
  banner: {
    js: `// tsoci-build ${buildId}\nconst __tsociModuleUrl = require('node:url').pathToFileURL(__filename).href; const __tsociNoResolve = undefined;`,
  },
  sourcemap: true,
  logLevel: 'warning',
});
// Compiled as bin/run.cjs compiles it: wrapped like a CommonJS module, same file name.
const script = new Script(Module.wrap(readFileSync(fast, 'utf8')), { filename: new URL(`../${fast}`, import.meta.url).pathname });
writeFileSync(`dist/cli-bundle/fast-${buildId}.v8cache`, script.createCachedData());
