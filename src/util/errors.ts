/**
 * Stable error codes. Each failure Switchboard reports has one code here with
 * the SIP status and reason it maps to (one place per fact; tests assert codes,
 * never message text).
 */
export const ERROR_CODES = {
  SB_ERR_PARSE_START_LINE: { status: 400, reason: 'Bad Request Line' },
  SB_ERR_PARSE_VERSION: { status: 505, reason: 'Version Not Supported' },
  SB_ERR_PARSE_HEADER: { status: 400, reason: 'Malformed Header' },
  SB_ERR_PARSE_HEADER_VALUE: { status: 400, reason: 'Malformed Header Value' },
  SB_ERR_PARSE_NO_HEADER_END: { status: 400, reason: 'Incomplete Message' },
  SB_ERR_PARSE_TOO_LARGE: { status: 513, reason: 'Message Too Large' },
  SB_ERR_PARSE_TOO_MANY_HEADERS: { status: 400, reason: 'Too Many Headers' },
  SB_ERR_PARSE_LINE_TOO_LONG: { status: 400, reason: 'Header Line Too Long' },
  SB_ERR_PARSE_CONTENT_LENGTH: { status: 400, reason: 'Bad Content-Length' },
  SB_ERR_PARSE_BODY_TRUNCATED: { status: 400, reason: 'Body Shorter Than Content-Length' },
  SB_ERR_PARSE_URI: { status: 400, reason: 'Malformed Request-URI' },
  SB_ERR_VALIDATE_MISSING_HEADER: { status: 400, reason: 'Missing Mandatory Header' },
  SB_ERR_VALIDATE_CSEQ: { status: 400, reason: 'Bad CSeq' },
  SB_ERR_VALIDATE_CSEQ_METHOD: { status: 400, reason: 'CSeq Method Does Not Match' },
  SB_ERR_VALIDATE_MAX_FORWARDS: { status: 400, reason: 'Bad Max-Forwards' },
  SB_ERR_VALIDATE_VIA: { status: 400, reason: 'Bad Via' },
  SB_ERR_VALIDATE_FROM_TO: { status: 400, reason: 'Bad From or To' },
  SB_ERR_VALIDATE_URI_SCHEME: { status: 416, reason: 'Unsupported URI Scheme' },
  SB_ERR_VALIDATE_CALL_ID: { status: 400, reason: 'Bad Call-ID' },
  SB_ERR_VALIDATE_HEADER: { status: 400, reason: 'Malformed Header Value' },
  SB_ERR_FRAME_TOO_LARGE: { status: 513, reason: 'Message Too Large' },
  SB_ERR_FRAME_BAD_HEADERS: { status: 400, reason: 'Bad Request' },
  SB_ERR_FRAME_NO_CONTENT_LENGTH: { status: 400, reason: 'Missing Content-Length' },
  SB_ERR_STORE_SCHEMA_TOO_NEW: { status: 500, reason: 'Database Schema Newer Than This Server' },
  SB_ERR_STORE_MIGRATION: { status: 500, reason: 'Database Migration Failed' },
  SB_ERR_AUTH_MALFORMED: { status: 400, reason: 'Malformed Authorization' },
  SB_ERR_AUTH_FAILED: { status: 403, reason: 'Forbidden' },
  SB_ERR_AUTH_RATE_LIMITED: { status: 403, reason: 'Too Many Failed Attempts' },
  SB_ERR_AUTH_UNKNOWN_USER: { status: 403, reason: 'Forbidden' },
  SB_ERR_REG_METHOD: { status: 405, reason: 'Method Not Allowed' },
  SB_ERR_REG_NOT_OUR_DOMAIN: { status: 404, reason: 'Not Found' },
  SB_ERR_REG_BAD_EXTENSION: { status: 420, reason: 'Bad Extension' },
  SB_ERR_REG_AUTH_REQUIRED: { status: 401, reason: 'Unauthorized' },
  SB_ERR_REG_AUTH_INVALID: { status: 401, reason: 'Unauthorized' },
  SB_ERR_REG_AUTH_STALE: { status: 401, reason: 'Unauthorized' },
  SB_ERR_REG_AUTH_FAILED: { status: 403, reason: 'Forbidden' },
  SB_ERR_REG_AUTH_RATE_LIMITED: { status: 403, reason: 'Too Many Failed Attempts' },
  SB_ERR_REG_THIRD_PARTY: { status: 403, reason: 'Third-Party Registration Not Permitted' },
  SB_ERR_REG_BAD_TO: { status: 400, reason: 'Malformed To' },
  SB_ERR_REG_UNKNOWN_AOR: { status: 404, reason: 'Not Found' },
  SB_ERR_REG_BAD_CONTACT: { status: 400, reason: 'Malformed Contact' },
  SB_ERR_REG_BAD_EXPIRES: { status: 400, reason: 'Malformed Expires' },
  SB_ERR_REG_BAD_WILDCARD: { status: 400, reason: 'Invalid Wildcard Contact' },
  SB_ERR_REG_BAD_PATH: { status: 400, reason: 'Malformed Path' },
  SB_ERR_REG_INTERVAL_TOO_BRIEF: { status: 423, reason: 'Interval Too Brief' },
  SB_ERR_REG_TOO_MANY_CONTACTS: { status: 403, reason: 'Too Many Contacts' },
  SB_ERR_REG_CSEQ_OUT_OF_ORDER: { status: 400, reason: 'CSeq Out Of Order' },
  SB_ERR_REG_FIRST_HOP_LACKS_OUTBOUND: { status: 439, reason: 'First Hop Lacks Outbound Support' },
  SB_ERR_REG_LOCATION_FULL: { status: 503, reason: 'Location Service Full' },
  SB_ERR_REG_STORE_FAILED: { status: 500, reason: 'Server Internal Error' },
  SB_ERR_PROXY_URI_SCHEME: { status: 416, reason: 'Unsupported URI Scheme' },
  SB_ERR_PROXY_NO_ROUTE: { status: 404, reason: 'No Route To Destination' },
  SB_ERR_PROXY_TOO_MANY_HOPS: { status: 483, reason: 'Too Many Hops' },
  SB_ERR_PROXY_LOOP: { status: 482, reason: 'Loop Detected' },
  SB_ERR_PROXY_BAD_EXTENSION: { status: 420, reason: 'Bad Extension' },
  SB_ERR_PROXY_AUTH_REQUIRED: { status: 407, reason: 'Proxy Authentication Required' },
  SB_ERR_PROXY_AUTH_FAILED: { status: 403, reason: 'Forbidden' },
  SB_ERR_PROXY_AUTH_RATE_LIMITED: { status: 403, reason: 'Too Many Failed Attempts' },
  SB_ERR_PROXY_FROM_MISMATCH: { status: 403, reason: 'From Does Not Match Authenticated User' },
  SB_ERR_PROXY_RELAY_DENIED: { status: 403, reason: 'Relaying Denied' },
  SB_ERR_PROXY_UNKNOWN_USER: { status: 404, reason: 'Not Found' },
  SB_ERR_PROXY_NOT_REGISTERED: { status: 480, reason: 'Temporarily Unavailable' },
  SB_ERR_PROXY_NOT_IMPLEMENTED: { status: 501, reason: 'Not Implemented' },
  SB_ERR_PROXY_DOMAIN_NOT_SERVED: { status: 404, reason: 'Domain Not Served' },
  SB_ERR_PROXY_NO_TRANSACTION: { status: 481, reason: 'Call/Transaction Does Not Exist' },
} as const satisfies Record<string, { status: number; reason: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every Switchboard error: a stable code plus the SIP status it maps to. */
export class SbError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly reason: string;

  constructor(code: ErrorCode, detail?: string) {
    const entry = ERROR_CODES[code];
    super(detail ? `${entry.reason}: ${detail}` : entry.reason);
    this.name = 'SbError';
    this.code = code;
    this.status = entry.status;
    this.reason = detail ? `${entry.reason} (${detail})` : entry.reason;
  }
}
