// Platforms: parsing `os/arch[/variant]`, containerd's normalization, and choosing a manifest from an index.

import { TsociError } from '../errors.js';
import type { Descriptor, Platform } from './types.js';

const ARCH: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', i386: '386', i686: '386', armhf: 'arm', armel: 'arm' };

/** containerd's normalization: `arm64/v8` is `arm64`, `arm` means `arm/v7`, `amd64/v1` is `amd64`, aliases mapped. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const rawArch = p.architecture.toLowerCase();
  let arch = ARCH[rawArch] ?? rawArch;
  let variant = p.variant?.toLowerCase() ?? '';
  if (rawArch === 'armhf' && !variant) variant = 'v7';
  if (rawArch === 'armel' && !variant) variant = 'v6';
  if (arch === 'arm64') {
    if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
    else if (/^\d/.test(variant)) variant = `v${variant}`;
  } else if (arch === 'arm') {
    if (!variant) variant = 'v7';
    else if (/^\d/.test(variant)) variant = `v${variant}`;
  } else if (arch === 'amd64') {
    if (variant === 'v1') variant = '';
  }
  if (arch !== rawArch) arch = arch.toLowerCase();
  const out: Platform = { os, architecture: arch };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  return out;
}

/** Parses `os/arch[/variant]` (or `arch` alone on linux). */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.some((x) => !x) || parts.length < 1 || parts.length > 3) {
    throw new TsociError('INVALID_PLATFORM', `invalid platform "${s}": expected os/arch[/variant], e.g. linux/arm64`);
  }
  if (parts.length === 1) return normalizePlatform({ os: 'linux', architecture: parts[0]! });
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return normalizePlatform(p);
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch };
  if (arch === 'arm') p.variant = `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`;
  return normalizePlatform(p);
}

/** True when an image built for `have` runs on `want` (exact, or an older variant of the same arch). */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  if ((w.variant ?? '') === (h.variant ?? '')) return true;
  return variantRank(h) < variantRank(w) && variantRank(h) >= 0;
}

function variantRank(p: Platform): number {
  const v = p.variant ?? '';
  if (p.architecture === 'arm') return ({ v5: 5, v6: 6, v7: 7, v8: 8 } as Record<string, number>)[v] ?? -1;
  if (p.architecture === 'amd64') return v === '' ? 1 : Number(v.replace(/^v/, '')) || -1;
  if (p.architecture === 'arm64') return v === '' ? 8 : Number(v.replace(/^v/, '')) || -1;
  return v === '' ? 0 : -1;
}

function isAttestation(d: Descriptor): boolean {
  return (
    d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown')
  );
}

/**
 * The index entry to use for `want`: an exact match first, else the best compatible variant; the first of equals
 * (image-index.md). Attestation entries are skipped. Throws PLATFORM_NOT_FOUND listing what the index offers.
 */
export function selectManifest(manifests: Descriptor[], want: Platform, what: string): Descriptor {
  const candidates = manifests.filter((d) => d.platform && !isAttestation(d));
  const w = normalizePlatform(want);
  const exact = candidates.find((d) => {
    const h = normalizePlatform(d.platform!);
    return h.os === w.os && h.architecture === w.architecture && (h.variant ?? '') === (w.variant ?? '');
  });
  if (exact) return exact;
  const compatible = candidates
    .filter((d) => platformMatches(w, d.platform!))
    .sort((a, b) => variantRank(normalizePlatform(b.platform!)) - variantRank(normalizePlatform(a.platform!)));
  if (compatible[0]) return compatible[0];
  // An index without platforms (e.g. a single-entry layout index) serves its only entry.
  if (candidates.length === 0 && manifests.length === 1 && !manifests[0]!.platform) return manifests[0]!;
  const all = [...new Set(candidates.map((d) => formatPlatform(normalizePlatform(d.platform!))))];
  // A hostile index may offer thousands: the message names a few.
  const offered = all.length > 8 ? `${all.slice(0, 8).join(', ')} and ${all.length - 8} more` : all.join(', ');
  throw new TsociError('PLATFORM_NOT_FOUND', `${what} has no image for platform ${formatPlatform(w)}`, {
    hint: offered ? `it offers ${offered}; choose one with --platform` : 'it lists no platforms',
  });
}
