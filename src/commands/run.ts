import { Args } from '@oclif/core';
import { BaseCommand, stopFlagsAfter } from '../ui/base-command.js';
import { runSpecs } from '../ui/flag-spec.js';
import { runAction } from '../ui/run-action.js';
import { oclifFlags } from '../ui/oclif-flags.js';

export default class Run extends BaseCommand {
  static override summary = 'Run a command in a new container';
  static override description =
    "Pulls the image if missing (--pull), bundles it under ROOT/containers/<id> (overlay of the layer snapshots) and runs the bundle with runc. In the foreground, stdout and stderr pass through, stdin with -i, a terminal with -t, signals are forwarded and the exit code is the container's (125: tsoci failed, 126: the command cannot be run, 127: it was not found). With -d it runs in the background, its output going to tsoci logs. Flags go before the image; what follows it is the command.";
  static override examples = [
    '<%= config.bin %> run --rm alpine echo hello',
    '<%= config.bin %> run -it --rm debian bash',
    '<%= config.bin %> run -d --name web nginx',
    '<%= config.bin %> run --rm -e A=1 -u nobody -w /tmp --network none -v /srv:/srv:ro busybox sh -c "id; pwd"',
  ];
  static override strict = false;
  static override args = { ref: Args.string({ description: 'image reference', required: true, ignoreStdin: true }) };
  static override flags = oclifFlags(runSpecs);

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Run, stopFlagsAfter(this.argv, Run.flags, 1));
    const settings = await this.loadSettings(flags);
    this.exit(await runAction(settings, flags, argv as string[]));
  }
}
