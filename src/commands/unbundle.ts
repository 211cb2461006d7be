import { Args } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Unbundle extends BaseCommand {
  static override summary = 'Unmount and remove a bundle made by tsoci bundle';
  static override examples = ['<%= config.bin %> unbundle ./out'];
  static override args = { dir: Args.string({ description: 'bundle directory', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Unbundle);
    const settings = await this.loadSettings(flags);
    const { unbundle } = await import('../index.js');
    await unbundle(args.dir, settings);
  }
}
