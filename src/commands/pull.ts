import { Args } from '@oclif/core';
import { BaseCommand } from '../ui/base-command.js';
import { pullSpecs } from '../ui/flag-spec.js';
import { pullAction } from '../ui/run-action.js';
import { oclifFlags } from '../ui/oclif-flags.js';

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
  static override args = { ref: Args.string({ description: 'image reference', required: true, ignoreStdin: true }) };
  static override flags = oclifFlags(pullSpecs);
  static override enableJsonFlag = true;

  async run(): Promise<{ ref: string; digest: string; manifest: string }> {
    const { args, flags } = await this.parse(Pull);
    const settings = await this.loadSettings(flags);
    return pullAction(settings, flags, args.ref, this.jsonEnabled());
  }
}
