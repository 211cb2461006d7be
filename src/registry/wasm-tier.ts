// undici parses HTTP with llhttp compiled to WebAssembly. V8 re-compiles it in the background with its optimizing
// tier, and a process that is done then waits ~70 ms at exit for that to finish; the baseline tier parses headers
// as fast for what tsoci does (a 500 MB pull takes the same time either way). Imported before undici, and only by
// the modules that talk to registries, so that other commands do not pay for the flag.

import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
