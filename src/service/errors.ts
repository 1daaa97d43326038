/**
 * The service layer's operating errors (page service, HTTP API, auth): each says what could not be
 * done and why. The page service turns one into an in-band pagestream error or a wire-protocol
 * ErrorResponse; the HTTP API into a 4xx/5xx with a JSON body. Nothing else stops.
 */
export type ServiceErrorCode =
  | 'BAD_REQUEST' // a request the service cannot take (a bad id, LSN, body, parameter)
  | 'NOT_FOUND' // no such route, tenant, timeline or relation
  | 'UNAUTHORIZED' // no credentials, or credentials that do not check out
  | 'FORBIDDEN' // valid credentials that do not cover this tenant or API
  | 'CONFLICT' // it exists already, or it has children
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PROTOCOL_VIOLATION' // wire-protocol framing the page service cannot follow
  | 'TIMEOUT' // WAL up to an LSN did not arrive in time
  | 'GONE' // below the GC horizon
  | 'INTERNAL'; // a bug or a failure that is not the request's fault

export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
