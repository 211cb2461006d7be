import { Args, Flags } from '@oclif/core';
import { TsociError } from '../errors.js';
import { BaseCommand } from '../ui/base-command.js';

export default class Save extends BaseCommand {
  static override summary = 'Write stored images to a docker-archive, an oci-archive or an OCI layout directory';
  static override description =
    'docker-archive (the default) is what `docker load` reads: manifest.json, repositories, and layers as uncompressed tars named by their diff IDs. oci-archive and oci-dir are OCI image layouts (Docker media types become OCI ones) that skopeo and umoci read; --compress recompresses their layers. Archives are written to a temporary file and renamed; without -o a docker-archive or oci-archive goes to stdout.';
  static override examples = [
    '<%= config.bin %> save alpine -o alpine.tar',
    '<%= config.bin %> save --format oci-archive alpine debian:bookworm -o images.oci.tar',
    '<%= config.bin %> save --format oci-dir --compress zstd alpine -o ./layout',
    '<%= config.bin %> save alpine | gzip > alpine.tar.gz',
  ];
  static override strict = false;
  static override args = { ref: Args.string({ description: 'image references', required: true, ignoreStdin: true }) };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'the file (or directory for oci-dir) to write' }),
    format: Flags.string({ description: 'docker-archive, oci-archive or oci-dir', options: ['docker-archive', 'oci-archive', 'oci-dir'], default: 'docker-archive' }),
    compress: Flags.string({ description: 'layer compression in OCI outputs (default: as stored)', options: ['gzip', 'zstd', 'none'] }),
    platform: Flags.string({ description: 'the platform to take from a multi-platform image' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { argv, flags } = await this.parse(Save);
    const settings = await this.loadSettings(flags);
    const { save, parsePlatform } = await import('../index.js');
    if (!flags.output && process.stdout.isTTY) throw new TsociError('INVALID_ARGUMENT', 'refusing to write an archive to a terminal', { hint: 'give -o FILE or redirect stdout' });
    const out = await save(argv as string[], flags.output ? { path: flags.output } : { stream: process.stdout }, flags.format as 'docker-archive', settings, {
      ...(flags.compress ? { compress: flags.compress as 'gzip' } : {}),
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
    });
    if (flags.output && !this.jsonEnabled()) process.stderr.write(`Saved ${out.names.join(', ')} to ${flags.output} (${flags.format})\n`);
    return { ...out, output: flags.output ?? '-', format: flags.format };
  }
}
