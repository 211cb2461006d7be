import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Kill extends BaseCommand {
  static override summary = 'Send a signal to a running container';
  static override examples = ['<%= config.bin %> kill web', '<%= config.bin %> kill -s HUP web'];
  static override args = { container: Args.string({ description: 'container name or ID', required: true, ignoreStdin: true }) };
  static override flags = { signal: Flags.string({ char: 's', description: 'signal name or number', default: 'KILL' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Kill);
    const settings = await this.loadSettings(flags);
    const { kill } = await import('../index.js');
    this.log(await kill(args.container, settings, flags.signal));
  }
}
