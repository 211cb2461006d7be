import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Rm extends BaseCommand {
  static override summary = 'Remove containers (their runc state, mounts, upper dirs and records)';
  static override examples = ['<%= config.bin %> rm web', '<%= config.bin %> rm -f web worker'];
  static override strict = false;
  static override args = { container: Args.string({ description: 'container names or IDs', required: true, ignoreStdin: true }) };
  static override flags = { force: Flags.boolean({ char: 'f', description: 'kill running containers first' }) };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Rm);
    const settings = await this.loadSettings(flags);
    const { removeContainers } = await import('../index.js');
    for (const n of await removeContainers(argv as string[], settings, flags.force)) this.log(n);
  }
}
