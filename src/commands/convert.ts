import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';
import { registrySpecs } from '../ui/flag-spec.js';
import { oclifFlags } from '../ui/oclif-flags.js';

export default class Convert extends BaseCommand {
  static override summary = 'Copy an image between archives, layouts and registries, without the store';
  static override description =
    "Transports as skopeo names them: docker-archive:PATH[:REF], oci-archive:PATH[:REF], oci:DIR[:REF] as source or destination, and docker://REF as a source (registry straight to a file). Docker and OCI media types are converted both ways, manifests re-digested; every blob is verified on the way. Work files go next to the destination and are removed.";
  static override examples = [
    '<%= config.bin %> convert docker-archive:alpine.tar oci:./layout:alpine',
    '<%= config.bin %> convert docker://localhost:5000/app:1 oci-archive:app.oci.tar',
    '<%= config.bin %> convert --compress zstd oci:./layout:alpine oci-archive:alpine-zstd.tar',
    '<%= config.bin %> convert oci-archive:app.oci.tar docker-archive:app.tar:localhost/app:1',
  ];
  static override args = {
    source: Args.string({ description: 'where the image is', required: true, ignoreStdin: true }),
    destination: Args.string({ description: 'where to write it', required: true, ignoreStdin: true }),
  };
  static override flags = {
    compress: Flags.string({ description: 'layer compression in OCI outputs (default: as the source has them)', options: ['gzip', 'zstd', 'none'] }),
    platform: Flags.string({ description: 'the platform to take from a multi-platform image' }),
    ...oclifFlags(registrySpecs),
    quiet: Flags.boolean({ char: 'q', description: 'no progress lines' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Convert);
    const settings = await this.loadSettings(flags);
    const { convert, parsePlatform } = await import('../index.js');
    const { plainProgress } = await import('../ui/progress.js');
    const progress = plainProgress(flags.quiet || this.jsonEnabled(), undefined, 'copied');
    const out = await convert(args.source, args.destination, settings, {
      ...(flags.compress ? { compress: flags.compress as 'gzip' } : {}),
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
      onEvent: progress.onEvent,
    });
    if (!this.jsonEnabled()) this.log(`${args.destination} ${out.digest}`);
    return out;
  }
}
