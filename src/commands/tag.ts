import { Args } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Tag extends BaseCommand {
  static override summary = 'Give a stored image another name';
  static override examples = ['<%= config.bin %> tag alpine localhost:5000/base:3'];
  static override args = {
    source: Args.string({ description: 'existing image reference', required: true, ignoreStdin: true }),
    target: Args.string({ description: 'new reference', required: true, ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Tag);
    const settings = await this.loadSettings(flags);
    const { tagImage } = await import('../index.js');
    await tagImage(args.source, args.target, settings);
  }
}
