/**
 * One error type for everything the user can be told about. `code` is stable (scripts match on it,
 * `--json` prints it), `subject` names the archive member, store key or argument concerned, and
 * `reason` says what is wrong in words. The CLI maps codes to exit codes in exactly one place
 * (`exitCodeFor`); the table is documented in the README.
 */
export type ErrorCode =
  | 'usage' // bad command line: unknown machine name syntax, missing argument
  | 'archive-invalid' // the archive is malformed, hostile, truncated or inconsistent
  | 'archive-too-large' // over the configured size limit
  | 'conflict' // a build id that exists with different content; a lost compare-and-swap
  | 'not-found' // a machine, build or tag that does not exist
  | 'store' // the store cannot be read or written
  | 'input' // the archive source cannot be opened or read (file, stdin, URL)
  | 'corrupt' // fsck found damage it could not repair
  | 'untrusted' // a store's record is not signed by a trusted site key
  | 'internal';

export class GbpError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly subject: string,
    readonly reason: string,
    /** The command already printed its result: only the exit code is left to give. */
    readonly reported = false,
  ) {
    super(subject ? `${subject}: ${reason}` : reason);
    this.name = 'GbpError';
  }
}

export const archiveError = (member: string, reason: string) =>
  new GbpError('archive-invalid', member, reason);

/** Exit codes: 0 ok, 1 internal, 2 usage, 3 invalid archive, 4 conflict, 5 not found, 6 store, 7 input, 8 corrupt store, 9 a record no trusted site key signed. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  internal: 1,
  usage: 2,
  'archive-invalid': 3,
  'archive-too-large': 3,
  conflict: 4,
  'not-found': 5,
  store: 6,
  input: 7,
  corrupt: 8,
  untrusted: 9,
};

export function exitCodeFor(err: unknown): number {
  return err instanceof GbpError ? EXIT_CODES[err.code] : EXIT_CODES.internal;
}
