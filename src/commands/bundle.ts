import { Args } from '@oclif/core';
import { BaseCommand, stopFlagsAfter } from '../ui/base-command.js';
import { bundleSpecs } from '../ui/flag-spec.js';
import { bundleAction } from '../ui/run-action.js';
import { oclifFlags } from '../ui/oclif-flags.js';

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
    ref: Args.string({ description: 'image reference', required: true, ignoreStdin: true }),
    dir: Args.string({ description: 'bundle directory (created)', required: true, ignoreStdin: true }),
  };
  static override flags = oclifFlags(bundleSpecs);
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { argv, flags } = await this.parse(BundleCmd, stopFlagsAfter(this.argv, BundleCmd.flags, 2));
    const settings = await this.loadSettings(flags);
    return bundleAction(settings, flags, argv as string[], this.jsonEnabled());
  }
}
