import { Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Ps extends BaseCommand {
  static override summary = 'List containers';
  static override examples = ['<%= config.bin %> ps', '<%= config.bin %> ps -a --json'];
  static override flags = { all: Flags.boolean({ char: 'a', description: 'show stopped containers too' }) };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Ps);
    const settings = await this.loadSettings(flags);
    const { listContainers } = await import('../index.js');
    const { humanAge, table } = await import('../ui/format.js');
    const list = await listContainers(settings, flags.all);
    if (!this.jsonEnabled()) {
      const status = (c: (typeof list)[number]) =>
        c.status === 'running' ? 'Up' : c.status === 'exited' ? `Exited${c.exitCode !== undefined ? ` (${c.exitCode})` : ''} ${humanAge(c.finished)}`.trim() : c.status[0]!.toUpperCase() + c.status.slice(1);
      this.log(
        table(
          ['CONTAINER ID', 'NAME', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS'],
          list.map((c) => [c.id.slice(0, 12), c.name, c.image, JSON.stringify(c.command.join(' ').slice(0, 30)), humanAge(c.created), status(c)]),
        ),
      );
    }
    return list;
  }
}
