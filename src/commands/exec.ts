import { Args, Flags } from '@oclif/core';
import { BaseCommand, stopFlagsAfter } from '../ui/base-command.js';

export default class Exec extends BaseCommand {
  static override summary = 'Run a command in a running container';
  static override examples = ['<%= config.bin %> exec web cat /etc/hostname', '<%= config.bin %> exec -it -u nobody -w /tmp web sh'];
  static override strict = false;
  static override args = { container: Args.string({ description: 'container name or ID', required: true, ignoreStdin: true }) };
  static override flags = {
    interactive: Flags.boolean({ char: 'i', description: 'keep stdin open' }),
    tty: Flags.boolean({ char: 't', description: 'allocate a terminal' }),
    env: Flags.string({ char: 'e', description: 'set NAME=VALUE', multiple: true, multipleNonGreedy: true }),
    user: Flags.string({ char: 'u', description: 'user[:group]' }),
    workdir: Flags.string({ char: 'w', description: 'working directory' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Exec, stopFlagsAfter(this.argv, Exec.flags, 1));
    const settings = await this.loadSettings(flags);
    const { exec } = await import('../index.js');
    const [container, ...cmd] = argv as string[];
    if (!cmd.length) this.error('no command given', { exit: 125 });
    const code = await exec(container!, settings, {
      cmd,
      ...(flags.env ? { env: flags.env } : {}),
      ...(flags.user ? { user: flags.user } : {}),
      ...(flags.workdir ? { workdir: flags.workdir } : {}),
      tty: flags.tty,
      interactive: flags.interactive,
    });
    this.exit(code);
  }
}
