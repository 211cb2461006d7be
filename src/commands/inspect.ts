import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Inspect extends BaseCommand {
  static override summary = 'Show the manifest and config of a stored image as JSON';
  static override examples = ['<%= config.bin %> inspect alpine', '<%= config.bin %> inspect alpine | jq .config.config.Env'];
  static override args = { ref: Args.string({ description: 'image reference', required: true, ignoreStdin: true }) };
  static override flags = { platform: Flags.string({ description: 'os/arch[/variant] of a multi-platform image [default: this host]' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Inspect);
    const settings = await this.loadSettings(flags);
    const { inspectImage, parsePlatform } = await import('../index.js');
    const img = await inspectImage(args.ref, settings, flags.platform ? parsePlatform(flags.platform) : undefined);
    this.log(JSON.stringify({ ref: img.ref, digest: img.top.digest, descriptor: img.manifestDesc, manifest: img.manifest, config: img.config }, null, 2));
  }
}
