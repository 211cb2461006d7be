import { BaseCommand } from '../ui/base-command.js';

export default class Gc extends BaseCommand {
  static override summary = 'Remove what no image, bundle or container uses';
  static override description =
    'Removes blobs that no name in index.json reaches, snapshots that no image and no bundle uses, partial downloads, and what interrupted pulls and bundles left behind. Waits for running pulls and bundles to finish first; they wait for it.';
  static override examples = ['<%= config.bin %> rmi alpine && <%= config.bin %> gc', '<%= config.bin %> gc --json | jq .bytesFreed'];
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Gc);
    const settings = await this.loadSettings(flags);
    const { gc } = await import('../index.js');
    const { humanSize } = await import('../ui/format.js');
    const r = await gc(settings);
    if (!this.jsonEnabled()) {
      const part = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
      this.log(
        `Removed ${part(r.blobs.removed, 'blob')}, ${part(r.snapshots.removed, 'snapshot')}, ${part(r.ingest.removed, 'partial download')}, ${part(r.bundles.removed, 'stale bundle')}`,
      );
      this.log(`Total reclaimed space: ${humanSize(r.bytesFreed)}`);
    }
    return r;
  }
}
