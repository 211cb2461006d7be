// The error vocabulary of tsoci: every failure a user can cause or meet carries a stable `code`.
// Only src/ui/errors.ts turns these into one-line messages and exit codes.

export type ErrorCode =
  | 'INVALID_REFERENCE'
  | 'INVALID_PLATFORM'
  | 'INVALID_ARGUMENT'
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'NAME_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'TOO_MANY_REQUESTS'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_ERROR'
  | 'TLS_ERROR'
  | 'TIMEOUT'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PLATFORM_NOT_FOUND'
  | 'REF_NOT_FOUND'
  | 'DISK_FULL'
  | 'CREDENTIALS'
  | 'UNSAFE_LAYER_ENTRY'
  | 'IMAGE_IN_USE'
  | 'STORE_DAMAGED'
  | 'ARCHIVE_INVALID'
  | 'INTERNAL';

export class TsociError extends Error {
  readonly code: ErrorCode;
  /** What the user can do about it, shown after the message. */
  readonly hint: string | undefined;
  /** True when retrying the same operation may succeed (network blips, 5xx, 429). */
  readonly retryable: boolean;
  /** For a retryable error, how long the other side asked us to wait (Retry-After). */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; hint?: string; retryable?: boolean; retryAfterMs?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TsociError';
    this.code = code;
    this.hint = opts.hint;
    this.retryable = opts.retryable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** True for a TsociError (by shape, so that copies of this module in two bundles agree). */
export function isTsociError(e: unknown, code?: ErrorCode): e is TsociError {
  const x = e as { name?: unknown; code?: unknown } | null;
  return !!x && x.name === 'TsociError' && typeof x.code === 'string' && (code === undefined || x.code === code);
}

/** Node's errno code of an error, if any (ENOENT, ENOSPC, ECONNRESET, ...). */
export function errnoCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

const TRANSIENT = new Set([
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** True for failures that another attempt may get past: marked retryable, or a dropped or stalled connection. */
export function isRetryable(e: unknown): boolean {
  if (isTsociError(e)) return e.retryable;
  const code = errnoCode(e);
  if (code && TRANSIENT.has(code)) return true;
  const cause = (e as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== e && isRetryable(cause);
}
