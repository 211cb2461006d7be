import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';
import { registrySpecs } from '../ui/flag-spec.js';
import { oclifFlags } from '../ui/oclif-flags.js';

export default class Login extends BaseCommand {
  static override summary = 'Log in to a registry';
  static override description =
    'Checks the credentials against the registry, then stores them like docker login: through the credsStore/credHelpers of $DOCKER_CONFIG/config.json (~/.docker/config.json) when configured, else base64 in its "auths".';
  static override examples = [
    'echo "$TOKEN" | <%= config.bin %> login ghcr.io -u me --password-stdin',
    '<%= config.bin %> login localhost:5000 -u admin --password-stdin < pass.txt',
  ];
  static override args = { server: Args.string({ description: 'registry host (default: docker.io)', ignoreStdin: true }) };
  static override flags = {
    ...oclifFlags(registrySpecs),
    username: Flags.string({ char: 'u', description: 'user name', required: true }),
    'password-stdin': Flags.boolean({ description: 'read the password from standard input (the only way: never on the command line)', required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Login);
    const settings = await this.loadSettings(flags);
    const { login } = await import('../index.js');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    if (!password) this.error('no password on standard input', { exit: 125 });
    const out = await login(args.server, { username: flags.username, password }, settings);
    this.log(`Login Succeeded (${out.registry}; credentials in ${out.file})`);
  }
}
