import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Stop extends BaseCommand {
  static override summary = "Stop a container: its image's stop signal, then SIGKILL after a grace period";
  static override examples = ['<%= config.bin %> stop web', '<%= config.bin %> stop -t 2 web'];
  static override args = { container: Args.string({ description: 'container name or ID', required: true, ignoreStdin: true }) };
  static override flags = { time: Flags.integer({ char: 't', description: 'seconds to wait before SIGKILL', default: 10, min: 0 }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Stop);
    const settings = await this.loadSettings(flags);
    const { stop } = await import('../index.js');
    this.log(await stop(args.container, settings, flags.time));
  }
}
