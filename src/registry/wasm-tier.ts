// undici parses HTTP with llhttp compiled to WebAssembly. V8 re-compiles it in the background with its optimizing
// tier, and a process that is done then waits ~70 ms at exit for that to finish; the baseline tier parses headers
// as fast for what tsoci does (a 500 MB pull takes the same time either way). The CLI sets it when it starts
// (bin/run.cjs: the code caches are made under it); this module, imported before undici, sets it for library use.

import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
