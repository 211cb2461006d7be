import { BaseCommand } from '../../ui/base-command.js';

export default class SystemDf extends BaseCommand {
  static override summary = 'Show the disk space images, snapshots, containers and partial downloads take';
  static override description = 'RECLAIMABLE is what tsoci gc (after removing stopped containers and unused images) would free.';
  static override examples = ['<%= config.bin %> system df', '<%= config.bin %> system df --json'];
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { flags } = await this.parse(SystemDf);
    const settings = await this.loadSettings(flags);
    const { systemDf } = await import('../../index.js');
    const { humanSize, table } = await import('../../ui/format.js');
    const lines = await systemDf(settings);
    if (!this.jsonEnabled()) {
      const pct = (a: number, b: number) => (b ? ` (${Math.round((100 * a) / b)}%)` : '');
      this.log(table(['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], lines.map((l) => [l.type, String(l.total), String(l.active), humanSize(l.bytes), `${humanSize(l.reclaimable)}${pct(l.reclaimable, l.bytes)}`])));
    }
    return lines;
  }
}
