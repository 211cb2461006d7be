import { Args, Flags } from '@oclif/core';
import { BaseCommand, registryFlags, stopFlagsAfter } from '../ui/base-command.js';
import { overridesFrom } from '../ui/overrides.js';
import { containerFlags } from '../ui/run-flags.js';

export default class BundleCmd extends BaseCommand {
  static override summary = 'Write an OCI runtime bundle (config.json + rootfs) for an image';
  static override description =
    'Extracts each layer once into ROOT/snapshots (in parallel, verified against the diff IDs, confined to the snapshot) and mounts DIR/rootfs as an overlay of them; upper and work dirs live under ROOT, so DIR holds only the bundle. With --copy (or where overlay cannot be mounted) DIR/rootfs is a flattened copy. DIR/config.json is translated from the image config per the OCI conversion rules on top of the runc defaults. Pulls the image when it is missing. Remove with tsoci unbundle DIR.';
  static override examples = [
    '<%= config.bin %> bundle alpine ./out && runc run --bundle ./out demo',
    '<%= config.bin %> bundle -e DEBUG=1 -u nobody -w /tmp alpine ./out -- sh -c "id; pwd"',
    '<%= config.bin %> bundle --copy -v /srv/data:/data:ro debian ./out',
  ];
  static override strict = false;
  static override args = {
    ref: Args.string({ description: 'image reference', required: true }),
    dir: Args.string({ description: 'bundle directory (created)', required: true }),
  };
  static override flags = {
    ...registryFlags,
    ...containerFlags,
    copy: Flags.boolean({ description: 'flattened copy of the layers instead of an overlay mount' }),
    rootless: Flags.boolean({ description: 'config for rootless runc (like runc spec --rootless)' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { args, argv, flags } = await this.parse(BundleCmd, stopFlagsAfter(this.argv, BundleCmd.flags, 2));
    const settings = await this.loadSettings(flags);
    const { bundle, parsePlatform } = await import('../index.js');
    const cmd = (argv as string[]).slice(2);
    const b = await bundle(args.ref, args.dir, settings, {
      copy: flags.copy,
      onWarn: (m) => process.stderr.write(`tsoci: warning: ${m}\n`),
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
      overrides: await overridesFrom(flags, cmd, { rootless: flags.rootless }),
    });
    if (!this.jsonEnabled()) this.log(`${b.dir} (${b.mode})`);
    return { dir: b.dir, rootfs: b.rootfs, mode: b.mode };
  }
}
