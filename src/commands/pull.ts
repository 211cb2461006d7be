import { Args, Flags } from '@oclif/core';
import { BaseCommand, registryFlags } from '../ui/base-command.js';

export default class Pull extends BaseCommand {
  static override summary = 'Pull an image from a registry into the local store';
  static override description =
    'Resolves REF like docker (alpine is docker.io/library/alpine:latest), authenticates with the credentials of docker login / tsoci login, picks the platform from a multi-platform index, downloads config and layers in parallel, verifies every size and digest while streaming, and records the image in the OCI image layout ROOT/image. Prints "<ref> <digest>" last.';
  static override examples = [
    '<%= config.bin %> pull alpine',
    '<%= config.bin %> pull --platform linux/arm64 debian:bookworm',
    '<%= config.bin %> pull localhost:5000/team/app@sha256:4f2c...',
    '<%= config.bin %> pull --quiet ghcr.io/org/tool:1.2',
  ];
  static override args = { ref: Args.string({ description: 'image reference', required: true }) };
  static override flags = {
    ...registryFlags,
    platform: Flags.string({ description: 'os/arch[/variant] to pick from a multi-platform image [default: this host]' }),
    concurrency: Flags.integer({ description: 'blobs downloaded at once', default: 4, min: 1, max: 64 }),
    quiet: Flags.boolean({ char: 'q', description: 'print only the final "<ref> <digest>" line' }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<{ ref: string; digest: string; manifest: string }> {
    const { args, flags } = await this.parse(Pull);
    const settings = await this.loadSettings(flags);
    const { pull, parsePlatform } = await import('../index.js');
    const { plainProgress, terminalProgress } = await import('../ui/progress.js');
    const quiet = flags.quiet || this.jsonEnabled();
    const progress = !quiet && process.stderr.isTTY ? await terminalProgress(`pull ${args.ref}`) : plainProgress(quiet);
    const result = await progress.run(
      pull(args.ref, settings, {
        jobs: flags.concurrency,
        onEvent: progress.onEvent,
        ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
      }),
    );
    if (!this.jsonEnabled()) this.log(`${result.ref} ${result.digest}`);
    return { ref: result.ref, digest: result.digest, manifest: result.image.manifestDesc.digest };
  }
}
