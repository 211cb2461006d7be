// The benchmark images, after ../shared/peers/setup.sh: tiny (busybox), medium (~100 MB, 2 layers) and
// big (~500 MB raw, 5 layers of 60 MB incompressible + 40 MB compressible data).

import { randomBytes } from 'node:crypto';
import { type BuiltImage, buildImage, busyboxEntries, type Entry } from '../test/helpers/images.js';

function textBytes(n: number): Buffer {
  const words = ['container', 'layer', 'digest', 'overlay', 'registry', 'manifest', 'snapshot', 'bundle', 'runtime', 'index'];
  const parts: string[] = [];
  let len = 0;
  let i = 0;
  while (len < n) {
    const line = `${i++} ${words[i % 10]} ${words[(i * 7) % 10]} ${Math.sin(i).toFixed(6)}\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

function dataLayer(i: number, randMB: number, textMB: number, files = 8): Entry[] {
  const out: Entry[] = [{ name: `data${i}/`, type: 'directory' }];
  for (let f = 0; f < files; f++) {
    out.push({ name: `data${i}/rand-${f}.bin`, content: randomBytes(Math.round((randMB * 1024 * 1024) / files)) });
    out.push({ name: `data${i}/text-${f}.txt`, content: textBytes(Math.round((textMB * 1024 * 1024) / files)) });
  }
  return out;
}

export type BenchImage = 'tiny' | 'medium' | 'big';

export async function benchImages(names: readonly BenchImage[] = ['tiny', 'medium', 'big']): Promise<Partial<Record<BenchImage, BuiltImage>>> {
  const out: Partial<Record<BenchImage, BuiltImage>> = {};
  if (names.includes('tiny')) out.tiny = await buildImage({ layers: [busyboxEntries()] });
  if (names.includes('medium')) out.medium = await buildImage({ layers: [busyboxEntries(), dataLayer(1, 60, 40)] });
  if (names.includes('big')) out.big = await buildImage({ layers: [1, 2, 3, 4, 5].map((i) => dataLayer(i, 60, 40)) });
  return out;
}
