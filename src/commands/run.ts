import { Args, Flags } from '@oclif/core';
import { BaseCommand, registryFlags, stopFlagsAfter } from '../ui/base-command.js';
import { containerFlags, overridesFrom } from '../ui/run-flags.js';

export default class Run extends BaseCommand {
  static override summary = 'Run a command in a new container';
  static override description =
    'Pulls the image if missing (--pull), bundles it under ROOT/containers/<id> (overlay of the layer snapshots) and runs the bundle with runc. In the foreground, stdout and stderr pass through, stdin with -i, a terminal with -t, signals are forwarded and the exit code is the container\'s (125: tsoci failed, 126: the command cannot be run, 127: it was not found). With -d it runs in the background, its output going to tsoci logs.';
  static override examples = [
    '<%= config.bin %> run --rm alpine echo hello',
    '<%= config.bin %> run -it --rm debian bash',
    '<%= config.bin %> run -d --name web nginx',
    '<%= config.bin %> run --rm -e A=1 -u nobody -w /tmp --network none -v /srv:/srv:ro busybox sh -c "id; pwd"',
  ];
  static override strict = false;
  static override args = { ref: Args.string({ description: 'image reference', required: true }) };
  static override flags = {
    ...registryFlags,
    ...containerFlags,
    name: Flags.string({ description: 'container name (unique)' }),
    rm: Flags.boolean({ description: 'remove the container (state, mounts, upper dir) when it exits' }),
    detach: Flags.boolean({ char: 'd', description: 'run in the background and print the container ID' }),
    interactive: Flags.boolean({ char: 'i', description: 'keep stdin open' }),
    network: Flags.string({ description: 'none: own network namespace with loopback; host: the host network', options: ['none', 'host'], default: 'none' }),
    pull: Flags.string({ description: 'pull the image: missing, always or never', options: ['missing', 'always', 'never'], default: 'missing' }),
    runtime: Flags.string({ description: 'OCI runtime binary', default: 'runc' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Run, stopFlagsAfter(this.argv, Run.flags, 1));
    const settings = await this.loadSettings(flags);
    const { run, parsePlatform } = await import('../index.js');
    const [ref, ...cmd] = argv as string[];
    const res = await run(ref!, settings, {
      pull: flags.pull as 'missing',
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
      ...(flags.name ? { name: flags.name } : {}),
      rm: flags.rm,
      detach: flags.detach,
      interactive: flags.interactive,
      runtime: flags.runtime,
      overrides: await overridesFrom(flags, cmd, { network: flags.network as 'none' | 'host' }),
    });
    if (flags.detach) this.log(res.id);
    else this.exit(res.exitCode ?? 0);
  }
}
