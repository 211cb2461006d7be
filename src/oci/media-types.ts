// Media types of the OCI image spec and Docker's schema2, with the predicates the stages need.

export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayout: 'application/vnd.oci.layout.header.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerManifestSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerLayerUncompressed: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** What the manifest GET asks for, most preferred first. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];

export function isIndex(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

export function isManifest(mt: string | undefined): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
}

export function isSchema1(mt: string | undefined): boolean {
  return mt === MediaType.DockerManifestSchema1 || mt === MediaType.DockerManifestSchema1Signed;
}

export type Compression = 'none' | 'gzip' | 'zstd';

/** How a layer blob is compressed, from its media type; undefined for a type that is not a known layer. */
export function layerCompression(mt: string): Compression | undefined {
  switch (mt) {
    case MediaType.OciLayer:
    case MediaType.OciLayerNondist:
    case MediaType.DockerLayerUncompressed:
      return 'none';
    case MediaType.OciLayerGzip:
    case MediaType.OciLayerNondistGzip:
    case MediaType.DockerLayer:
    case MediaType.DockerForeignLayer:
      return 'gzip';
    case MediaType.OciLayerZstd:
    case MediaType.OciLayerNondistZstd:
      return 'zstd';
    default:
      return undefined;
  }
}

/** Strips parameters (`; charset=...`) and case from a Content-Type header value. */
export function bareContentType(ct: string | undefined): string | undefined {
  if (!ct) return undefined;
  const t = ct.split(';')[0]!.trim().toLowerCase();
  return t || undefined;
}
