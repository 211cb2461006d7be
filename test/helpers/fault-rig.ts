// The setup the wire tests share: a real registry holding a two-layer image (a 3 MiB random layer and a tiny
// one) behind our fault proxy, started before the file's tests, its fault cleared after each, all stopped after.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before } from 'node:test';
import { type Blob, type BuiltImage, buildImage, randomFileEntry } from './images.js';
import { type FaultProxy, startProxy } from './proxy.js';
import { type Registry, pushImage, startRegistry } from './registry.js';

export interface FaultRig {
  /** A temporary directory for the file's stores, removed after. */
  tmp: string;
  reg: Registry;
  proxy: FaultProxy;
  img: BuiltImage;
  /** The 3 MiB layer. */
  big: Blob;
}

/**
 * Registers the hooks; `ready` gets the rig once it runs. (Node 20 does not wait for one root `before` hook
 * before starting the next, so a file must not read the rig from a hook of its own.)
 */
export function useFaultRig(prefix: string, repo: string, ready: (rig: FaultRig) => void): FaultRig {
  const rig = { tmp: mkdtempSync(path.join(os.tmpdir(), prefix)) } as FaultRig;
  before(async () => {
    rig.reg = await startRegistry();
    rig.img = await buildImage({ layers: [[randomFileEntry('big.bin', 3 * 1024 * 1024)], [{ name: 'small.txt', content: 'small' }]] });
    rig.big = rig.img.blobs[1]!;
    await pushImage(rig.reg, repo, 'v1', rig.img);
    rig.proxy = await startProxy(rig.reg.url);
    ready(rig);
  });
  afterEach(() => {
    rig.proxy.fault = () => undefined;
  });
  after(async () => {
    await rig.proxy.close();
    await rig.reg.stop();
    rmSync(rig.tmp, { recursive: true, force: true });
  });
  return rig;
}
