import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Logs extends BaseCommand {
  static override summary = 'Print the output of a detached container';
  static override examples = ['<%= config.bin %> logs web', '<%= config.bin %> logs -f web'];
  static override args = { container: Args.string({ description: 'container name or ID', required: true, ignoreStdin: true }) };
  static override flags = { follow: Flags.boolean({ char: 'f', description: 'keep printing until the container stops' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs);
    const settings = await this.loadSettings(flags);
    const { logs } = await import('../index.js');
    await logs(args.container, settings, process.stdout, flags.follow);
  }
}
