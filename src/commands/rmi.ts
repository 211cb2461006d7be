import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Rmi extends BaseCommand {
  static override summary = 'Remove images from the local store';
  static override description = 'Removes the names; blobs that no remaining image uses are deleted. The last name of an image a container was made from stays unless -f (the container keeps its snapshots either way; tsoci gc removes them once the container is gone).';
  static override examples = ['<%= config.bin %> rmi alpine', '<%= config.bin %> rmi localhost:5000/a:1 localhost:5000/b:2'];
  static override strict = false;
  static override args = { ref: Args.string({ description: 'image references', required: true, ignoreStdin: true }) };
  static override flags = { force: Flags.boolean({ char: 'f', description: 'remove the last name of an image even when a container was made from it' }) };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { argv, flags } = await this.parse(Rmi);
    const settings = await this.loadSettings(flags);
    const { removeImages } = await import('../index.js');
    const { humanSize } = await import('../ui/format.js');
    const out = await removeImages(argv as string[], settings, { force: flags.force });
    if (!this.jsonEnabled()) {
      for (const r of out.untagged) this.log(`Untagged: ${r}`);
      if (out.gc.blobsRemoved) this.log(`Deleted ${out.gc.blobsRemoved} blobs, ${humanSize(out.gc.bytesFreed)}`);
    }
    return out;
  }
}
