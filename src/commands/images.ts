import { BaseCommand } from '../ui/base-command.js';

export default class Images extends BaseCommand {
  static override summary = 'List the images in the local store';
  static override examples = ['<%= config.bin %> images', '<%= config.bin %> images --json | jq -r ".[].ref"'];
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Images);
    const settings = await this.loadSettings(flags);
    const { listImages } = await import('../index.js');
    const { humanAge, humanSize, shortDigest, table } = await import('../ui/format.js');
    const images = await listImages(settings);
    if (!this.jsonEnabled()) {
      this.log(
        table(
          ['REPOSITORY', 'TAG', 'DIGEST', 'SIZE', 'CREATED'],
          images.map((i) => [i.repository, i.tag ?? '<none>', shortDigest(i.digest), humanSize(i.size), humanAge(i.created)]),
        ),
      );
    }
    return images;
  }
}
