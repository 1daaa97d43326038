/** A command was given arguments it cannot use: one line for the user, exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
}
