import { Args } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';

export default class Logout extends BaseCommand {
  static override summary = 'Remove stored credentials of a registry';
  static override examples = ['<%= config.bin %> logout ghcr.io', '<%= config.bin %> logout'];
  static override args = { server: Args.string({ description: 'registry host (default: docker.io)', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logout);
    await this.loadSettings(flags);
    const { logout } = await import('../index.js');
    const out = await logout(args.server);
    this.log(out.removed ? `Removing login credentials for ${out.registry}` : `Not logged in to ${out.registry}`);
  }
}
