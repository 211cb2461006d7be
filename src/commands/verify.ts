import { Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Verify extends BaseCommand {
  static override summary = 'Check the store: rehash every blob, check every image and snapshot';
  static override description =
    'Every blob must hash to its name, every name in index.json must reach a complete image, and every snapshot must be committed and carry the chain ID it is named after. Partial downloads and uncommitted extractions left by interrupted work are not errors (gc removes them). Exits 0 when the store is sound and 1 when something is wrong; --repair removes what is wrong (pull the images again afterwards).';
  static override examples = ['<%= config.bin %> verify', '<%= config.bin %> verify --repair', '<%= config.bin %> verify --json | jq .problems'];
  static override flags = { repair: Flags.boolean({ description: 'remove corrupt blobs, broken image names and damaged snapshots' }) };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Verify);
    const settings = await this.loadSettings(flags);
    const { verify } = await import('../index.js');
    const { humanSize } = await import('../ui/format.js');
    const r = await verify(settings, { repair: flags.repair });
    const unrepaired = r.problems.filter((p) => !p.repaired).length;
    if (!this.jsonEnabled()) {
      for (const p of r.problems) this.log(`${p.kind} ${p.subject}: ${p.message}${p.repaired ? ' (removed)' : ''}`);
      this.log(
        `Checked ${r.blobs} blobs (${humanSize(r.bytes)}), ${r.images} images, ${r.snapshots} snapshots: ${r.problems.length ? `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}${flags.repair ? ', removed' : ''}` : 'no problems'}${r.leftovers ? `; ${r.leftovers} leftovers of interrupted work (tsoci gc removes them)` : ''}`,
      );
    }
    if (unrepaired) {
      // Problems found is a result, not a failure of tsoci: exit 1, as fsck-like tools do.
      if (!this.jsonEnabled()) process.stderr.write(`tsoci: the store has ${unrepaired} problem${unrepaired === 1 ? '' : 's'} (tsoci verify --repair removes them) [STORE_DAMAGED]\n`);
      process.exitCode = 1;
    }
    return r;
  }
}
