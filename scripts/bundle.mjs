// Bundles the CLI for start-up speed.
// - dist/cli-bundle/*.js: src/cli.ts (the oclif commands) and the container supervisor as ESM chunks (code
//   splitting keeps the lazy imports lazy). @oclif/core stays external: bin/run.cjs loads it.
// - dist/cli-bundle/*.cjs: the fast path (`pull`, `run`, `bundle`) as one CommonJS file, the extraction worker,
//   and the large libraries they load on demand, each with a V8 code cache beside it (<name>-<build>.v8cache).
//   Node's ESM loader spends ~1 ms resolving and linking each chunk, and compiling them costs more: one file whose
//   compiled code comes from the cache starts ~25-35 ms sooner (bin/load-cached.cjs loads them).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import { build } from 'esbuild';

// `undici` itself (not its subpaths) is scripts/vendor/undici.cjs: the part tsoci uses, without what the package's
// index loads besides (fetch, WebSocket, caches, mocks: ~30 ms at start-up).
const slimUndici = {
  name: 'slim-undici',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: path.resolve('scripts/vendor/undici.cjs') }));
  },
};

await build({
  entryPoints: { cli: 'src/cli.ts', shim: 'src/runtime/shim.ts' },
  outdir: 'dist/cli-bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@oclif/core'],
  plugins: [slimUndici],
  sourcemap: true,
  logLevel: 'warning',
  banner: { js: "import { createRequire as __tsociCreateRequire } from 'node:module'; const require = __tsociCreateRequire(import.meta.url);" },
});

// The CommonJS files, each with the build ID in its first line: it names the code cache, so that a cache never
// meets a file it was not made from.
const buildId = randomBytes(8).toString('hex');
const cjs = {
  outdir: 'dist/cli-bundle',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // vm.Script (bin/load-cached.cjs loads the files with one) has no loader for import(): they become require().
  supported: { 'dynamic-import': false },
  banner: { js: `// tsoci-build ${buildId}` },
  logLevel: 'warning',
};

// Large libraries only some runs need stay out of the fast path's file (its size is start-up time for every run):
// each becomes a file of its own beside it, required when first used.
const VENDORED = ['undici', 'listr2'];
const ENTRY = { undici: 'scripts/vendor/undici.cjs', listr2: 'listr2' };
for (const name of VENDORED) await build({ ...cjs, entryPoints: { [`vendor-${name}`]: ENTRY[name] } });
const vendored = {
  name: 'vendored',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${VENDORED.join('|')})$`) }, (args) => ({ path: `./vendor-${args.path}.cjs`, external: true }));
  },
};

await build({
  ...cjs,
  // The fast path, and the extraction workers it starts.
  entryPoints: { fast: 'src/fast.ts', 'extract-worker': 'src/overlay/extract-worker.ts' },
  // The fast path must not load oclif: anything it does not handle goes back to bin/run.cjs, which loads it.
  external: ['@oclif/core'],
  plugins: [vendored],
  // The modules find their workers next to themselves: in CommonJS that is __filename.
  define: { 'import.meta.url': '__tsociModuleUrl', 'import.meta.resolve': '__tsociNoResolve' },
  banner: { js: `${cjs.banner.js}\nconst __tsociModuleUrl = require('node:url').pathToFileURL(__filename).href; const __tsociNoResolve = undefined;` },
  sourcemap: true,
});

// Compiled as bin/load-cached.cjs compiles them: wrapped like a CommonJS module, with the V8 flags bin/run.cjs sets
// (V8 rejects a cache made under other flags).
setFlagsFromString('--liftoff-only');
for (const name of ['fast', 'extract-worker', ...VENDORED.map((v) => `vendor-${v}`)]) {
  const file = `dist/cli-bundle/${name}.cjs`;
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: new URL(`../${file}`, import.meta.url).pathname });
  writeFileSync(`dist/cli-bundle/${name}-${buildId}.v8cache`, script.createCachedData());
}
