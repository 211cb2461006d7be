import { Args, Flags } from '@oclif/core';
import { TsociError } from '../errors.js';
import { BaseCommand } from '../ui/base-command.js';

export default class Load extends BaseCommand {
  static override summary = 'Load images from a docker-archive, an oci-archive or an OCI layout directory';
  static override description =
    'Reads `docker save` output (both layouts), a tar of an OCI layout, or an OCI layout directory; the format is told by content, gzip-compressed archives too. Every blob is verified (digests, sizes, layer diff IDs against the config) before any name is set; on bad input nothing is added to the store. Names come from RepoTags or org.opencontainers.image.ref.name (a bare tag T becomes localhost/<file name>:T); --tag sets the name of a single image. Reads stdin when neither -i nor DIR is given.';
  static override examples = [
    '<%= config.bin %> load -i alpine.tar',
    'docker save alpine | <%= config.bin %> load',
    '<%= config.bin %> load ./oci-layout-dir',
    '<%= config.bin %> load -i app.oci.tar --tag localhost/app:1',
  ];
  static override args = { dir: Args.string({ description: 'an OCI layout directory or archive file (instead of -i)', ignoreStdin: true }) };
  static override flags = {
    input: Flags.string({ char: 'i', description: 'the archive to read (default: stdin)' }),
    tag: Flags.string({ description: 'name the image this (the archive must hold one image)' }),
    platform: Flags.string({ description: 'the platform to take from a multi-platform layout, e.g. linux/arm64' }),
    quiet: Flags.boolean({ char: 'q', description: 'print only the loaded names' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Load);
    const settings = await this.loadSettings(flags);
    const { load, parsePlatform } = await import('../index.js');
    const { plainProgress } = await import('../ui/progress.js');
    const file = flags.input ?? args.dir;
    if (!file && process.stdin.isTTY) throw new TsociError('INVALID_ARGUMENT', 'no archive given and stdin is a terminal', { hint: 'tsoci load -i FILE, or pipe one in' });
    const progress = plainProgress(flags.quiet || this.jsonEnabled(), undefined, 'loaded');
    const out = await load(file ? { file } : { stream: process.stdin }, settings, {
      ...(flags.tag ? { tag: flags.tag } : {}),
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
      onEvent: progress.onEvent,
    });
    if (!this.jsonEnabled()) for (const i of out.images) for (const n of i.names.length ? i.names : [i.digest]) this.log(flags.quiet ? n : `Loaded image: ${n}`);
    return out;
  }
}
